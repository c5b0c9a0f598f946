// Package e2e runs the whole bakery binary as a real process, with real
// deploy commands, on SQLite and on PostgreSQL.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

var bakeryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "bakery-e2e-")
	if err != nil {
		panic(err)
	}
	bakeryBin = filepath.Join(dir, "bakery")
	args := []string{"build", "-o", bakeryBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../../cmd/bakery")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "error building bakery:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// adminToken is the server's BAKERY_BOOTSTRAP_TOKEN: random-looking and 44 characters, as
// the server requires (api.CheckBootstrapToken).
const adminToken = "e2e-admin-Qm9vdHN0cmFwIHRva2VuIGZvciB0ZXN0cyBvbmx5"

// deployScript records every start and end of a deploy in a log file,
// sleeps SLEEP_<ENV> seconds (from the environment) and fails with exit 7
// when the version starts with "bad".
const deployScript = `#!/bin/sh
log="$DEPLOY_LOG"
echo "start $BAKERY_ENVIRONMENT $BAKERY_VERSION $BAKERY_ATTEMPT $$ $(date +%s.%N)" >> "$log"
echo "deploying $BAKERY_VERSION ($BAKERY_ARTIFACT) to $BAKERY_ENVIRONMENT"
eval "s=\${SLEEP_$BAKERY_ENVIRONMENT:-0}"
if [ "$s" != 0 ]; then sleep "$s"; fi
case "$BAKERY_VERSION" in bad*) echo "refusing $BAKERY_VERSION" >&2; echo "fail $BAKERY_ENVIRONMENT $BAKERY_VERSION" >> "$log"; exit 7;; esac
echo "end $BAKERY_ENVIRONMENT $BAKERY_VERSION $BAKERY_ATTEMPT $$ $(date +%s.%N)" >> "$log"
`

// world is one bakery installation: a config, a database, a deploy script.
type world struct {
	t       *testing.T
	dir     string
	config  string
	db      string
	log     string
	addr    string
	env     []string
	server  *server
	servers []*server
	// bin is the bakery binary start runs ("": bakeryBin).
	bin string
}

type worldOpts struct {
	postgres bool
	// bake of production; staging has none.
	bake time.Duration
	// extra YAML for the production environment's deploy section.
	productionTimeout string
	// productionWindow is an allow entry for production's promotion
	// window, in UTC; empty: always open.
	productionWindow string
	// productionChecks is YAML for production's checks list (indented for
	// its place), or "".
	productionChecks string
	env              []string
}

func newWorld(t *testing.T, o worldOpts) *world {
	t.Helper()
	dir := t.TempDir()
	w := &world{t: t, dir: dir, log: filepath.Join(dir, "deploys.log"), addr: freeAddr(t)}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "deploy.sh"), []byte(deployScript), 0o755))
	timeout := o.productionTimeout
	if timeout == "" {
		timeout = "1m"
	}
	window := ""
	if o.productionWindow != "" {
		window = fmt.Sprintf("\n        windows:\n          timezone: UTC\n          allow: [%q]", o.productionWindow)
	}
	if o.productionChecks != "" {
		window += "\n        checks:\n" + strings.TrimRight(o.productionChecks, "\n")
	}
	cfg := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [%s]
services:
  - name: web
    repository: https://github.com/acme/web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh"]
          timeout: 1m
      - name: production
        bake: %s%s
        deploy:
          command: ["./deploy.sh"]
          timeout: %s
  - name: api
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh"]
      - name: production
        bake: %s
        deploy:
          command: ["./deploy.sh"]
`, w.addr, testInheritEnv, o.bake, window, timeout, o.bake)
	w.config = filepath.Join(dir, "bakery.yaml")
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	if o.postgres {
		w.db = testutil.NewPostgresDB(t)
	} else {
		w.db = "sqlite://" + filepath.Join(dir, "bakery.db")
	}
	w.env = append([]string{"DEPLOY_LOG=" + w.log, "BAKERY_BOOTSTRAP_TOKEN=" + adminToken}, o.env...)
	return w
}

// testInheritEnv are the variables of the test's environment the test
// deploy scripts read; bakery passes a command nothing of its environment
// it is not told to (rule 13).
const testInheritEnv = "DEPLOY_LOG, SLEEP_staging, SLEEP_production, BAKERY_DEMO_DIR, APP_ERROR_AFTER"

// handedOut are the addresses freeAddr has given out in this process. The
// port is free when freeAddr returns, but the server that will listen on
// it starts later: without this, the kernel may give the same port to a
// test running in parallel meanwhile, and one test's /healthz check is
// answered by the other's server.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr
		}
	}
}

// server is one running `bakery serve` process.
type server struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

// start starts `bakery serve` and waits until /healthz answers.
func (w *world) start() *server {
	w.t.Helper()
	bin := bakeryBin
	if w.bin != "" {
		bin = w.bin
	}
	cmd := exec.Command(bin, "serve", "--config", w.config, "--db", w.db, "--addr", w.addr)
	cmd.Env = append(os.Environ(), w.env...)
	cmd.Dir = w.dir
	s := &server{cmd: cmd, done: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
		}
	}()
	require.NoError(w.t, cmd.Start())
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.done)
	}()
	w.server = s
	w.servers = append(w.servers, s)
	w.t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
		}
		if w.t.Failed() {
			w.t.Logf("server logs:\n%s", s.Logs())
		}
	})
	w.eventually(30*time.Second, "server answers /healthz", func() bool {
		select {
		case <-s.done:
			w.t.Fatalf("bakery serve exited early:\n%s", s.Logs())
		default:
		}
		resp, err := http.Get("http://" + w.addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return s
}

// kill stops the server with SIGKILL, as a crash would.
func (w *world) kill() {
	w.t.Helper()
	require.NoError(w.t, w.server.cmd.Process.Signal(syscall.SIGKILL))
	<-w.server.done
}

func (w *world) eventually(timeout time.Duration, what string, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			logs := ""
			if w.server != nil {
				logs = w.server.Logs()
			}
			w.t.Fatalf("timed out after %s waiting for: %s\ndeploy log:\n%s\nserver logs:\n%s", timeout, what, w.deployLog(), logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call makes an API call and returns the status code; out receives the body.
func (w *world) call(token, method, path string, body any, out any) int {
	w.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, err := json.Marshal(body)
			require.NoError(w.t, err)
			rd = bytes.NewReader(b)
		}
	}
	req, err := http.NewRequestWithContext(context.Background(), method, "http://"+w.addr+path, rd)
	require.NoError(w.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	require.NoError(w.t, err)
	if out != nil {
		require.NoError(w.t, json.Unmarshal(data, out), "body: %s", data)
	}
	return resp.StatusCode
}

func (w *world) release(service, version string) {
	w.t.Helper()
	var out map[string]any
	code := w.call(adminToken, "POST", "/api/v1/services/"+service+"/releases",
		api.ReleaseRequest{Version: version, Artifact: "registry.example/" + service + ":" + version, Message: "change " + version, Author: "ana"}, &out)
	require.Equal(w.t, http.StatusCreated, code, "%v", out)
}

func (w *world) status(service string) api.ServiceView {
	w.t.Helper()
	var s api.ServiceView
	require.Equal(w.t, 200, w.call(adminToken, "GET", "/api/v1/services/"+service, nil, &s))
	return s
}

func (w *world) version(service, env string) string {
	w.t.Helper()
	for _, e := range w.status(service).Environments {
		if e.Name == env {
			if e.Version == nil {
				return ""
			}
			return *e.Version
		}
	}
	w.t.Fatalf("no environment %s", env)
	return ""
}

func (w *world) events(service string) []api.EventView {
	w.t.Helper()
	var out struct {
		Events []api.EventView `json:"events"`
	}
	require.Equal(w.t, 200, w.call(adminToken, "GET", "/api/v1/services/"+service+"/events", nil, &out))
	return out.Events
}

func (w *world) deployments(service, env string) []api.DeploymentView {
	w.t.Helper()
	var out struct {
		Deployments []api.DeploymentView `json:"deployments"`
	}
	require.Equal(w.t, 200, w.call(adminToken, "GET", "/api/v1/services/"+service+"/deployments?environment="+env, nil, &out))
	return out.Deployments
}

// deployLine is one line of the deploy script's log.
type deployLine struct {
	what, env, version, attempt, pid string
	at                               time.Time
}

func (w *world) deployLog() string {
	b, _ := os.ReadFile(w.log)
	return string(b)
}

func (w *world) deployLines() []deployLine {
	var out []deployLine
	for _, l := range strings.Split(strings.TrimSpace(w.deployLog()), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 {
			continue
		}
		dl := deployLine{what: f[0], env: f[1], version: f[2]}
		if len(f) >= 6 {
			dl.attempt, dl.pid = f[3], f[4]
			var sec, nsec int64
			fmt.Sscanf(f[5], "%d.%d", &sec, &nsec)
			dl.at = time.Unix(sec, nsec)
		}
		out = append(out, dl)
	}
	return out
}

// count counts deploy log lines of a kind for env and version.
func (w *world) count(what, env, version string) int {
	n := 0
	for _, l := range w.deployLines() {
		if l.what == what && l.env == env && (version == "" || l.version == version) {
			n++
		}
	}
	return n
}

func findEvent(events []api.EventView, typ, env, version string) *api.EventView {
	for i := range events {
		e := &events[i]
		if e.Type == typ && (env == "" || e.Environment == env) && (version == "" || e.Version == version) {
			return e
		}
	}
	return nil
}
