package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// bakery runs the CLI against the world's server and returns its stdout,
// stderr and error.
func (w *world) bakery(env []string, args ...string) (string, string, error) {
	w.t.Helper()
	cmd := exec.Command(bakeryBin, args...)
	cmd.Env = append(os.Environ(), append([]string{"BAKERY_SERVER=http://" + w.addr, "BAKERY_TOKEN=" + adminToken}, env...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

// TestCLI drives a release through the pipeline with the CLI only.
func TestCLI(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: 2 * time.Second})
	w.start()

	out, _, err := w.bakery(nil, "status", "web", "--json")
	require.NoError(t, err)
	var st struct {
		Service      string `json:"service"`
		Environments []struct {
			Name    string  `json:"name"`
			Version *string `json:"version"`
			Locked  bool    `json:"locked"`
			Waiting struct {
				Kind    string `json:"kind"`
				Message string `json:"message"`
			} `json:"waiting"`
		} `json:"environments"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, "web", st.Service)
	require.Len(t, st.Environments, 2)
	require.Equal(t, "staging", st.Environments[0].Name)
	require.Nil(t, st.Environments[0].Version)
	require.False(t, st.Environments[1].Locked)

	out, _, err = w.bakery(nil, "release", "create", "web", "abc123", "--artifact", "img:abc123", "--message", "Fix login", "--author", "ana")
	require.NoError(t, err)
	require.Contains(t, out, "bakery watch web abc123")

	// watch follows the release to production and exits 0; without a
	// terminal it prints a line per change, including the bake.
	out, stderr, err := w.bakery(nil, "watch", "web", "abc123", "--interval", "100ms", "--timeout", "60s")
	require.NoError(t, err, stderr)
	require.Contains(t, out, `web abc123  "Fix login" by ana`)
	require.Regexp(t, `production\s+baking [█░]+\s+\d+% \S+ left`, out)
	require.Contains(t, out, "✓ deployed")
	require.Contains(t, out, "abc123 runs in production")

	out, _, err = w.bakery(nil, "status")
	require.NoError(t, err)
	require.Regexp(t, `production\s+abc123`, out)

	out, _, err = w.bakery(nil, "history", "web")
	require.NoError(t, err)
	for _, want := range []string{"release.created", "bootstrap", "promotion.decided", "deployment.succeeded", "baked in staging"} {
		require.Contains(t, out, want)
	}
	out, _, err = w.bakery(nil, "history", "web", "--json")
	require.NoError(t, err)
	var hist struct {
		Events []map[string]any `json:"events"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &hist))
	for _, e := range hist.Events {
		for _, k := range []string{"type", "at", "actor"} {
			require.Contains(t, e, k)
		}
	}

	// A new token, then errors that say what to do.
	out, _, err = w.bakery(nil, "token", "create", "--name", "reader", "--role", "viewer")
	require.NoError(t, err)
	reader := strings.TrimSpace(out)
	_, stderr, err = w.bakery([]string{"BAKERY_TOKEN=" + reader}, "release", "create", "web", "def456")
	require.Error(t, err)
	require.Contains(t, stderr, "needs deployer")
	_, stderr, err = w.bakery(nil, "release", "create", "web", "abc123")
	require.Error(t, err)
	require.Contains(t, stderr, "HTTP 409")
	_, stderr, err = w.bakery([]string{"BAKERY_TOKEN="}, "status")
	require.Error(t, err)
	require.Contains(t, stderr, "BAKERY_TOKEN is not set")

	// watch exits non-zero for a release that fails.
	_, _, err = w.bakery(nil, "release", "create", "web", "bad1")
	require.NoError(t, err)
	_, stderr, err = w.bakery(nil, "watch", "web", "bad1", "--interval", "100ms", "--timeout", "60s")
	require.Error(t, err)
	require.Contains(t, stderr, "failed in staging")
}

// TestValidateAndBadConfig: config errors name file, line and field, and
// the server refuses to start on them.
func TestValidateAndBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte(`services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: "./deploy.sh staging"
      - name: production
        bake: 1x
        deploy:
          comand: ["./deploy.sh"]
`), 0o644))
	cmd := exec.Command(bakeryBin, "validate", "--config", bad)
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	text := string(out)
	require.Contains(t, text, "bad.yaml:6:")
	require.Contains(t, text, "services[0].environments[0].deploy.command")
	require.Contains(t, text, "bad.yaml:8:")
	require.Contains(t, text, "services[0].environments[1].bake")
	require.Contains(t, text, "bad.yaml:10:")
	require.Contains(t, text, "comand")

	malformed := filepath.Join(dir, "malformed.yaml")
	require.NoError(t, os.WriteFile(malformed, []byte("services:\n  - name: web\n   environments: [\n"), 0o644))
	out, err = exec.Command(bakeryBin, "validate", "--config", malformed).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "malformed.yaml:")

	out, err = exec.Command(bakeryBin, "serve", "--config", bad, "--db", "sqlite://"+filepath.Join(dir, "x.db")).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "bad.yaml:8:")
	_, statErr := os.Stat(filepath.Join(dir, "x.db"))
	require.True(t, os.IsNotExist(statErr), "a refused config must not create a database")
}

// TestReloadKeepsState: SIGHUP with a broken file keeps the old config;
// a restart on the same database keeps every release and event.
func TestReloadKeepsState(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Hour})
	w.start()
	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	good, err := os.ReadFile(w.config)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(w.config, []byte("services: [\n"), 0o644))
	require.NoError(t, w.server.cmd.Process.Signal(syscall.SIGHUP))
	w.eventually(10*time.Second, "reload refused", func() bool { return strings.Contains(w.server.Logs(), "configuration not reloaded") })
	require.Equal(t, "v1", w.version("web", "staging"), "the server keeps serving with the old config")

	require.NoError(t, os.WriteFile(w.config, good, 0o644))
	eventsBefore := len(w.events("web"))
	require.NoError(t, w.server.cmd.Process.Signal(syscall.SIGTERM))
	<-w.server.done
	w.start()
	require.Equal(t, "v1", w.version("web", "staging"))
	require.Len(t, w.events("web"), eventsBefore)
}
