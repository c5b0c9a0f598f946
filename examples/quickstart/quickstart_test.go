// Package quickstart holds the end-to-end test of the quickstart demo's
// deploy script (deploy.sh) and sample app (app/).
package quickstart

import (
	"context"
	"encoding/json"
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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/deploy"
)

// buildApp builds the sample app into a temporary directory.
func buildApp(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, statErr := os.Stat(goTool); os.Getenv("GOROOT") == "" || statErr != nil {
			t.Skipf("no go command to build the sample app with: %v", err)
		}
	}
	bin := filepath.Join(t.TempDir(), "app")
	out, err := exec.Command(goTool, "build", "-o", bin, "./app").CombinedOutput()
	require.NoError(t, err, "building the sample app: %s", out)
	return bin
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// alive reports whether pid is a process that has not exited (an exited
// one may linger as a zombie until init reaps it).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

// session returns the session id of pid, from /proc.
func session(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	require.NoError(t, err)
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	sid, err := strconv.Atoi(f[3]) // state ppid pgrp session
	require.NoError(t, err)
	return sid
}

func readPid(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NoError(t, err)
	return pid
}

// stop ends an app process: SIGTERM, then SIGKILL if it lingers.
func stop(pid int) {
	if pid <= 1 || !alive(pid) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); alive(pid) && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

type quickstart struct {
	app, demoDir string
	port         int
	pids         []int // every app process started, for the cleanup
}

// newQuickstart builds the app and makes sure every app process the test
// starts is stopped at its end, pass or fail.
func newQuickstart(t *testing.T) *quickstart {
	q := &quickstart{app: buildApp(t), demoDir: t.TempDir(), port: freePort(t)}
	t.Cleanup(func() {
		for _, pid := range q.pids {
			stop(pid)
		}
	})
	return q
}

// deploy runs deploy.sh the way bakery does: through deploy.Exec.
func (q *quickstart) deploy(t *testing.T, env, version string) (string, error) {
	t.Helper()
	script, err := filepath.Abs("deploy.sh")
	require.NoError(t, err)
	out := deploy.NewTail(64 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = deploy.Exec{}.Deploy(ctx, deploy.Request{
		Service: "web", Environment: env, Version: version, Artifact: q.app, DeploymentID: 1, Attempt: 1,
		Command: []string{script, env, strconv.Itoa(q.port)},
		Env:     map[string]string{"BAKERY_DEMO_DIR": q.demoDir},
		Timeout: 30 * time.Second,
	}, out)
	if b, readErr := os.ReadFile(filepath.Join(q.demoDir, env+".pid")); readErr == nil {
		if pid, convErr := strconv.Atoi(strings.TrimSpace(string(b))); convErr == nil {
			q.pids = append(q.pids, pid)
		}
	}
	t.Logf("deploy.sh %s %s:\n%s", env, version, out.String())
	assert.NotContains(t, out.String(), "kept its output open", "the app must not hold the deploy command's output")
	return out.String(), err
}

func (q *quickstart) version(t *testing.T) map[string]any {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(q.port) + "/version")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var v map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&v))
	return v
}

func TestDeployReplacesTheRunningVersion(t *testing.T) {
	q := newQuickstart(t)
	pidFile := filepath.Join(q.demoDir, "staging.pid")

	out, err := q.deploy(t, "staging", "v1")
	require.NoError(t, err)
	assert.Contains(t, out, "no previous staging process")
	first := readPid(t, pidFile)
	assert.Equal(t, "v1", q.version(t)["version"])
	assert.Equal(t, first, session(t, first), "the app must run in a session of its own, detached from the deploy")

	out, err = q.deploy(t, "staging", "v2")
	require.NoError(t, err)
	assert.Contains(t, out, "stopping the previous staging process (pid "+strconv.Itoa(first)+")")
	assert.Contains(t, out, "healthy: staging serves v2")
	second := readPid(t, pidFile)
	assert.NotEqual(t, first, second)
	assert.False(t, alive(first), "the first version's process is still running")
	v := q.version(t)
	assert.Equal(t, "staging", v["environment"])
	assert.Equal(t, "v2", v["version"])
	assert.NotEmpty(t, v["started_at"])

	// The app shuts down gracefully on SIGTERM.
	require.NoError(t, syscall.Kill(second, syscall.SIGTERM))
	require.Eventually(t, func() bool { return !alive(second) }, 10*time.Second, 20*time.Millisecond)
	log, err := os.ReadFile(filepath.Join(q.demoDir, "staging.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), `msg=stopped environment=staging version=v2`)

	// The next deploy copes with a pid file whose process is gone.
	out, err = q.deploy(t, "staging", "v3")
	require.NoError(t, err)
	assert.Contains(t, out, "is already gone")
	assert.Equal(t, "v3", q.version(t)["version"])
}

func TestDeployFailsWhenThePortIsTaken(t *testing.T) {
	q := newQuickstart(t)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q.port))
	require.NoError(t, err)
	defer ln.Close()

	out, err := q.deploy(t, "production", "v1")
	var ee *deploy.ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 1, ee.Code)
	assert.Contains(t, out, "address already in use")
	assert.Contains(t, out, "v1 did not start in production")
	assert.NoFileExists(t, filepath.Join(q.demoDir, "production.pid"))
}

func TestDeployNeedsItsInputs(t *testing.T) {
	cmd := exec.Command("./deploy.sh", "staging", "8081")
	cmd.Env = append(os.Environ(), "BAKERY_VERSION=", "BAKERY_ARTIFACT=", "BAKERY_DEMO_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "BAKERY_VERSION is not set")

	cmd = exec.Command("./deploy.sh", "staging")
	out, err = cmd.CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "usage: deploy.sh ENVIRONMENT PORT")
}

// TestStopIsTheCanaryCleanup: "deploy.sh --stop ENV" stops the
// environment's process (the quickstart's canary cleanup); it needs no
// artifact, and stopping what is not running is fine.
func TestStopIsTheCanaryCleanup(t *testing.T) {
	q := newQuickstart(t)
	_, err := q.deploy(t, "production-canary", "v2")
	require.NoError(t, err)
	pid := readPid(t, filepath.Join(q.demoDir, "production-canary.pid"))
	script, err := filepath.Abs("deploy.sh")
	require.NoError(t, err)
	stop := func() string {
		out := deploy.NewTail(64 << 10)
		require.NoError(t, deploy.Exec{}.Deploy(context.Background(), deploy.Request{
			Service: "web", Environment: "production", Version: "v2",
			Command: []string{script, "--stop", "production-canary"},
			Env:     map[string]string{"BAKERY_DEMO_DIR": q.demoDir, "BAKERY_CANARY_OUTCOME": "aborted"},
			Timeout: 30 * time.Second,
		}, out))
		return out.String()
	}
	out := stop()
	assert.Contains(t, out, "stopping production-canary (its canary was aborted)")
	assert.Contains(t, out, "previous process stopped")
	assert.False(t, alive(pid))
	assert.NoFileExists(t, filepath.Join(q.demoDir, "production-canary.pid"))
	assert.Contains(t, stop(), "no previous production-canary process to stop")
}
