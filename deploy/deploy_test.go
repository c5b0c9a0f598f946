// Package deploy holds the tests of the files that run bakery as a
// service: the systemd unit (systemd/bakery.service) and the container
// image (docker/Dockerfile).
package deploy

import (
	"bufio"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// unitFile parses a systemd unit: section → key → values (a key may
// repeat).
func unitFile(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: not KEY=VALUE: %q", path, n, line)
			require.NotEmpty(t, section, "%s:%d: outside a section", path, n)
			out[section][k] = append(out[section][k], v)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestSystemdUnitIsHardened checks the directives the unit must keep, and
// has systemd itself verify the file where systemd-analyze is installed.
func TestSystemdUnitIsHardened(t *testing.T) {
	t.Parallel()
	u := unitFile(t, "systemd/bakery.service")
	svc := u["Service"]
	require.NotNil(t, svc, "a [Service] section")
	for k, want := range map[string]string{
		"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes",
		"PrivateDevices": "yes", "DynamicUser": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX", "ReadWritePaths": "/var/lib/bakery",
		"StateDirectory": "bakery", "UMask": "0077", "KillMode": "mixed", "RestrictSUIDSGID": "yes",
		"ProtectKernelTunables": "yes", "ProtectKernelModules": "yes", "ProtectControlGroups": "yes",
		"LockPersonality": "yes", "SystemCallArchitectures": "native",
	} {
		require.Equal(t, []string{want}, svc[k], "Service.%s", k)
	}
	require.Equal(t, []string{"@system-service", "~@privileged"}, svc["SystemCallFilter"])
	require.Contains(t, svc["ExecStart"][0], "bakery serve --log-format json")
	require.Equal(t, []string{"/bin/kill -HUP $MAINPID"}, svc["ExecReload"], "SIGHUP reloads the configuration")
	// The bootstrap token comes as a credential file, not in the unit.
	require.Contains(t, svc["Environment"], "BAKERY_BOOTSTRAP_TOKEN_FILE=%d/bootstrap-token")
	for _, e := range svc["Environment"] {
		require.False(t, strings.HasPrefix(e, "BAKERY_BOOTSTRAP_TOKEN="), "no secret in the unit file")
	}
	require.Equal(t, []string{"multi-user.target"}, u["Install"]["WantedBy"])

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze is not installed: the unit was checked by the directives above only")
		return
	}
	// verify needs ExecStart's binary to exist: point it at this test's.
	self, err := os.Executable()
	require.NoError(t, err)
	body, err := os.ReadFile("systemd/bakery.service")
	require.NoError(t, err)
	unit := filepath.Join(t.TempDir(), "bakery.service")
	require.NoError(t, os.WriteFile(unit, []byte(strings.ReplaceAll(string(body), "/usr/local/bin/bakery", self)), 0o644))
	out, err := exec.Command(analyze, "verify", unit).CombinedOutput()
	require.NoError(t, err, "systemd-analyze verify: %s", out)
	require.Empty(t, strings.TrimSpace(string(out)), "systemd-analyze verify reports no unknown key or bad value")
}

// TestDockerfile checks the image's recipe — multi-stage, a static
// binary, a non-root user, a HEALTHCHECK through 'bakery healthcheck' —
// and that the build command it uses really makes a static binary.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	body, err := os.ReadFile("docker/Dockerfile")
	require.NoError(t, err)
	var from, users []string
	var healthcheck, build string
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "FROM "):
			from = append(from, line)
		case strings.HasPrefix(line, "USER "):
			users = append(users, strings.TrimPrefix(line, "USER "))
		case strings.HasPrefix(line, "HEALTHCHECK "):
			healthcheck = line
		case strings.HasPrefix(line, "RUN CGO_ENABLED="):
			build = line
		}
	}
	require.Len(t, from, 2, "a build stage and a runtime stage")
	require.Contains(t, from[0], " AS build")
	require.Equal(t, "FROM scratch", from[1], "nothing in the image but the binary, CA certificates and a passwd entry")
	require.Equal(t, []string{"10001:10001"}, users, "runs as an unprivileged user")
	require.Contains(t, healthcheck, `CMD ["/bakery", "healthcheck"`)
	require.Contains(t, build, "CGO_ENABLED=0")
	require.Contains(t, string(body), "ENTRYPOINT [\"/bakery\"]")

	// The same build (without -trimpath and -ldflags, which would make the
	// build cache useless here): no dynamic loader, no shared libraries.
	bin := filepath.Join(t.TempDir(), "bakery")
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goTool, "build", "-o", bin, "../cmd/bakery")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	f, err := elf.Open(bin)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "a static binary has no interpreter")
	}
	libs, err := f.ImportedLibraries()
	require.NoError(t, err)
	require.Empty(t, libs)
}
