// Package systemdhost holds the test of the systemd-host example's
// deploy.sh: a real app binary (the quickstart's), a real health check
// with curl, and a systemctl stand-in (no systemd runs here) that accepts
// only "restart UNIT.service" and starts APP_DIR/current/app as the unit
// would.
package systemdhost

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
)

// systemctl is the stand-in: restart stops the unit's process and starts
// APP_DIR/current/app detached, as systemd would with ExecStart.
const systemctl = `#!/bin/sh
set -eu
if [ "$#" -ne 2 ] || [ "$1" != restart ]; then
  echo "systemctl stand-in: only 'systemctl restart UNIT' is expected, got: $*" >&2; exit 1
fi
case "$2" in *.service) ;; *) echo "Failed to restart $2: Unit $2 not found." >&2; exit 5 ;; esac
pidfile="$APP_DIR/.unit.pid"
if [ -f "$pidfile" ]; then
  kill "$(cat "$pidfile")" 2>/dev/null || true
  while kill -0 "$(cat "$pidfile")" 2>/dev/null; do sleep 0.05; done
fi
echo "restart $2 $(readlink "$APP_DIR/current")" >> "$APP_DIR/systemctl.log"
PORT=$FAKE_APP_PORT APP_VERSION=$(basename "$(readlink "$APP_DIR/current")") setsid nohup "$APP_DIR/current/app" </dev/null >>"$APP_DIR/app.log" 2>&1 &
echo $! > "$pidfile"
`

type host struct {
	dir, bin, appDir string
	port             int
}

func newHost(t *testing.T) *host {
	t.Helper()
	h := &host{dir: t.TempDir()}
	h.bin = filepath.Join(h.dir, "bin")
	h.appDir = filepath.Join(h.dir, "srv", "web")
	require.NoError(t, os.MkdirAll(h.bin, 0o755))
	require.NoError(t, os.MkdirAll(h.appDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(h.bin, "systemctl"), []byte(systemctl), 0o755))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h.port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(h.appDir, ".unit.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	return h
}

func buildApp(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "app")
	out, err := exec.Command("go", "build", "-o", bin, "../quickstart/app").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

func (h *host) deploy(t *testing.T, version, artifact string) (string, error) {
	t.Helper()
	script, err := filepath.Abs("deploy.sh")
	require.NoError(t, err)
	out := deploy.NewTail(64 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = deploy.Exec{}.Deploy(ctx, deploy.Request{Service: "web", Environment: "production", Version: version, Artifact: artifact,
		DeploymentID: 1, Attempt: 1, Command: []string{script}, Timeout: 45 * time.Second,
		Env: map[string]string{
			"PATH": h.bin + ":" + os.Getenv("PATH"), "APP_DIR": h.appDir, "APP_UNIT": "web.service", "FAKE_APP_PORT": strconv.Itoa(h.port),
			"HEALTH_URL": "http://127.0.0.1:" + strconv.Itoa(h.port) + "/healthz", "HEALTH_TIMEOUT": "5", "KEEP": "2",
		}}, out)
	t.Logf("deploy.sh %s:\n%s", version, out.String())
	return out.String(), err
}

func (h *host) version(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(h.port) + "/version")
	require.NoError(t, err)
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	return string(b[:n])
}

// TestDeployRestartHealthCheckAndRollBack: v1 and v2 deploy and answer;
// a broken v3 (it exits at once) fails its health check, the host goes
// back to v2, and the deploy fails; old releases beyond KEEP are removed.
func TestDeployRestartHealthCheckAndRollBack(t *testing.T) {
	h := newHost(t)
	app := buildApp(t, h.dir)

	out, err := h.deploy(t, "v1", app)
	require.NoError(t, err)
	require.Contains(t, out, "web.service runs v1 and is healthy")
	require.Contains(t, h.version(t), `"v1"`)

	_, err = h.deploy(t, "v2", app)
	require.NoError(t, err)
	require.Contains(t, h.version(t), `"v2"`)

	broken := filepath.Join(h.dir, "broken")
	require.NoError(t, os.WriteFile(broken, []byte("#!/bin/sh\necho 'cannot open config' >&2\nexit 3\n"), 0o755))
	out, err = h.deploy(t, "v3", broken)
	require.Error(t, err)
	require.Contains(t, out, "did not answer 200 within 5s after v3 started")
	require.Contains(t, out, "rolled the host back to releases/v2")
	require.Contains(t, h.version(t), `"v2"`, "the host runs the previous release again")
	cur, err := os.Readlink(filepath.Join(h.appDir, "current"))
	require.NoError(t, err)
	require.Equal(t, "releases/v2", cur)

	log, err := os.ReadFile(filepath.Join(h.appDir, "systemctl.log"))
	require.NoError(t, err)
	require.Equal(t, "restart web.service releases/v1\nrestart web.service releases/v2\nrestart web.service releases/v3\nrestart web.service releases/v2\n", string(log))

	_, err = h.deploy(t, "v4", app)
	require.NoError(t, err)
	kept, err := os.ReadDir(filepath.Join(h.appDir, "releases"))
	require.NoError(t, err)
	require.Len(t, kept, 2, "KEEP=2 releases stay")

	// Bad input: a version that is no directory name, a plain-http URL.
	out, err = h.deploy(t, "../etc", app)
	require.Error(t, err)
	require.Contains(t, out, "cannot be a directory name")
	out, err = h.deploy(t, "v5", "http://artifacts.example.com/web/app")
	require.Error(t, err)
	require.Contains(t, out, "refusing to download a binary over plain http")
	require.Contains(t, h.version(t), `"v4"`)
}

func TestConfigIsValid(t *testing.T) {
	t.Parallel()
	_, err := config.Load("bakery.yaml")
	require.NoError(t, err)
}
