package deploy

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/bakery-deploy/bakery/internal/secret"
)

// script writes an executable /bin/sh script into a fresh temporary
// directory and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deploy.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	return path
}

// deployResult is the outcome of one Deploy call run in the background.
type deployResult struct {
	err     error
	elapsed time.Duration
}

// deployAsync runs Deploy in the background, so that a broken kill cannot
// hang the test: callers wait with a generous bound.
func deployAsync(ctx context.Context, x Exec, req Request, out *Tail) <-chan deployResult {
	ch := make(chan deployResult, 1)
	go func() {
		start := time.Now()
		err := x.Deploy(ctx, req, out)
		ch <- deployResult{err, time.Since(start)}
	}()
	return ch
}

func await(t *testing.T, ch <-chan deployResult, limit time.Duration) deployResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(limit):
		t.Fatalf("Deploy did not return within %s", limit)
		return deployResult{}
	}
}

// readPid waits for a script to write a pid into file.
func readPid(t *testing.T, file string) int {
	t.Helper()
	var pid int
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(file)
		if err != nil || !bytes.HasSuffix(b, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the script never wrote %s", file)
	return pid
}

// liveMembers lists the processes of group pgid that are still running,
// read from /proc. Zombies are left out: they have exited and only wait for
// init to reap them, which some containers' init does lazily.
func liveMembers(t *testing.T, pgid int) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var live []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) >= 3 && f[2] == strconv.Itoa(pgid) && f[0] != "Z" && f[0] != "X" {
			live = append(live, string(b[:i+1])+" "+f[0])
		}
	}
	return live
}

// requireGroupGone checks that nothing of group pgid runs any more, and
// that the group disappears altogether once its zombies are reaped.
func requireGroupGone(t *testing.T, pgid int) {
	t.Helper()
	require.Empty(t, liveMembers(t, pgid), "processes of the deploy command's group still running after Deploy returned")
	require.Eventually(t, func() bool {
		return errors.Is(syscall.Kill(-pgid, 0), syscall.ESRCH)
	}, 10*time.Second, 20*time.Millisecond, "process group %d still exists", pgid)
}

// killGroupAtEnd makes sure a test leaves no process behind, even if it fails.
func killGroupAtEnd(t *testing.T, pidFile string) {
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			}
		}
	})
}

func TestExecSuccessWithEnvironment(t *testing.T) {
	t.Setenv("BAKERY_TEST_FROM_PARENT", "inherited")
	path := script(t, `
echo "service=$BAKERY_SERVICE env=$BAKERY_ENVIRONMENT version=$BAKERY_VERSION"
echo "artifact=$BAKERY_ARTIFACT id=$BAKERY_DEPLOYMENT_ID attempt=$BAKERY_ATTEMPT"
echo "parent=$BAKERY_TEST_FROM_PARENT extra=$EXTRA overridden=$BAKERY_TEST_OVERRIDE"
echo "args=$*"
echo "dir=$(pwd)"
echo "to stderr" >&2
`)
	t.Setenv("BAKERY_TEST_OVERRIDE", "from parent")
	dir := t.TempDir()
	out := NewTail(64 << 10)
	err := Exec{}.Deploy(context.Background(), Request{
		Service: "web", Environment: "staging", Version: "v1.2.3", Artifact: "/srv/web-v1.2.3",
		DeploymentID: 42, Attempt: 2,
		Command:    []string{path, "staging", "with space"},
		Dir:        dir,
		Env:        map[string]string{"EXTRA": "x y", "BAKERY_TEST_OVERRIDE": "from request"},
		InheritEnv: []string{"BAKERY_TEST_FROM_PARENT", "BAKERY_TEST_OVERRIDE", "BAKERY_TEST_UNSET_VARIABLE"},
	}, out)
	require.NoError(t, err, out.String())
	wantDir, err := filepath.EvalSymlinks(dir)
	require.NoError(t, err)
	assert.Equal(t, "service=web env=staging version=v1.2.3\n"+
		"artifact=/srv/web-v1.2.3 id=42 attempt=2\n"+
		"parent=inherited extra=x y overridden=from request\n"+
		"args=staging with space\n"+
		"dir="+wantDir+"\n"+
		"to stderr\n", out.String())
}

// TestExecEnvironmentIsAnAllowlist: a command that prints its whole
// environment shows none of bakery's own variables but the allowlisted
// ones (rule 13), and a secret it prints is masked in its output.
func TestExecEnvironmentIsAnAllowlist(t *testing.T) {
	t.Setenv("BAKERY_BOOTSTRAP_TOKEN", "bootstrap-secret-value-0123456789")
	t.Setenv("DD_API_KEY", "dd-api-key-value-abcdef")
	t.Setenv("STAGING_DATABASE_URL", "postgres://app:db-pass-1234@db.internal/app")
	t.Setenv("KUBECONFIG", "/etc/kube/config")
	t.Setenv("LANG", "C.UTF-8")
	path := script(t, "env\necho \"echoed $SECRET_FOR_SCRIPT\"\n")
	out := NewTail(64 << 10)
	err := Exec{}.Deploy(context.Background(), Request{
		Service: "web", Environment: "staging", Version: "v1", Command: []string{path},
		Env:        map[string]string{"SECRET_FOR_SCRIPT": "script-secret-9876"},
		InheritEnv: []string{"KUBECONFIG"},
		Mask:       secret.NewMasker("script-secret-9876"),
	}, out)
	require.NoError(t, err, out.String())
	text := out.String()
	for _, leaked := range []string{"BAKERY_BOOTSTRAP_TOKEN", "bootstrap-secret-value", "DD_API_KEY", "dd-api-key-value",
		"STAGING_DATABASE_URL", "db-pass-1234", "script-secret-9876"} {
		require.NotContains(t, text, leaked)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			vars[k] = v
		}
	}
	require.Equal(t, "/etc/kube/config", vars["KUBECONFIG"], "a name in InheritEnv is passed on")
	require.Equal(t, "C.UTF-8", vars["LANG"])
	require.Equal(t, os.Getenv("PATH"), vars["PATH"])
	require.Equal(t, "***", vars["SECRET_FOR_SCRIPT"], "env prints it, masked")
	require.Contains(t, text, "echoed ***")
	allowed := map[string]bool{"KUBECONFIG": true, "SECRET_FOR_SCRIPT": true, "PWD": true, "SHLVL": true, "_": true, "OLDPWD": true}
	for _, k := range BaseEnv {
		allowed[k] = true
	}
	for k := range vars {
		if strings.HasPrefix(k, "BAKERY_") {
			continue
		}
		require.True(t, allowed[k], "variable %s reached the command though nothing allows it", k)
	}
	for _, k := range []string{"BAKERY_SERVICE", "BAKERY_ENVIRONMENT", "BAKERY_VERSION", "BAKERY_ARTIFACT", "BAKERY_DEPLOYMENT_ID", "BAKERY_ATTEMPT"} {
		require.Contains(t, vars, k)
	}
}

func TestExecRelativeCommandRunsInDir(t *testing.T) {
	path := script(t, "echo relative ok\n")
	out := NewTail(1024)
	err := Exec{}.Deploy(context.Background(), Request{Command: []string{"./deploy.sh"}, Dir: filepath.Dir(path)}, out)
	require.NoError(t, err)
	assert.Equal(t, "relative ok\n", out.String())
}

func TestExecNonZeroExit(t *testing.T) {
	path := script(t, "echo 'migration failed' >&2\nexit 3\n")
	out := NewTail(1024)
	err := Exec{}.Deploy(context.Background(), Request{Command: []string{path}}, out)
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 3, ee.Code)
	assert.EqualError(t, err, "deploy command exited with status 3")
	assert.Equal(t, "migration failed\n", out.String())
	assert.NotErrorIs(t, err, ErrTimeout)
}

func TestExecKilledBySignal(t *testing.T) {
	path := script(t, "kill -KILL $$\n")
	err := Exec{}.Deploy(context.Background(), Request{Command: []string{path}}, NewTail(1024))
	var ee *ExitError
	require.ErrorAs(t, err, &ee)
	assert.Equal(t, 128+9, ee.Code)
	assert.Contains(t, err.Error(), "killed by signal 9")
}

func TestExecTimeoutKillsTheWholeGroup(t *testing.T) {
	path := script(t, `
trap '' TERM   # a SIGTERM would not stop it: only SIGKILL does
sleep 60 &
echo $! >"$2"
echo $$ >"$1"
echo started
sleep 60
`)
	// On a very busy machine the script may not even reach its first lines
	// within the timeout; then there is nothing to check, and the test
	// tries again with a longer one.
	for _, timeout := range []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second} {
		dir := t.TempDir()
		pidFile, childFile := filepath.Join(dir, "pid"), filepath.Join(dir, "child")
		killGroupAtEnd(t, pidFile)
		out := NewTail(1024)
		res := deployAsync(context.Background(), Exec{KillGrace: time.Minute},
			Request{Command: []string{path, pidFile, childFile}, Timeout: timeout}, out)
		r := await(t, res, timeout+10*time.Second)

		require.ErrorIs(t, r.err, ErrTimeout)
		assert.EqualError(t, r.err, "deploy command timed out after "+timeout.String()+"; its process group was killed")
		assert.GreaterOrEqual(t, r.elapsed, timeout)
		if out.String() != "started\n" {
			t.Logf("the script did not get going within %s; trying again", timeout)
			continue
		}

		pgid := readPid(t, pidFile)
		child := readPid(t, childFile)
		requireGroupGone(t, pgid)
		assert.ErrorIs(t, syscall.Kill(child, 0), syscall.ESRCH, "the background grandchild survived")
		return
	}
	t.Fatal("the script never got going before its timeout")
}

func TestExecTimeoutMessageFormat(t *testing.T) {
	err := Exec{}.Deploy(context.Background(), Request{Command: []string{"/bin/sleep", "5"}, Timeout: 10 * time.Millisecond}, nil)
	require.ErrorIs(t, err, ErrTimeout)
	assert.Contains(t, err.Error(), "deploy command timed out after 10ms; its process group was killed")
}

func TestExecCancel(t *testing.T) {
	t.Run("SIGTERM", func(t *testing.T) {
		dir := t.TempDir()
		pidFile := filepath.Join(dir, "pid")
		killGroupAtEnd(t, pidFile)
		path := script(t, `
sleep 60 &
echo $$ >"$1"
wait
`)
		ctx, cancel := context.WithCancel(context.Background())
		res := deployAsync(ctx, Exec{KillGrace: time.Minute}, Request{Command: []string{path, pidFile}}, NewTail(1024))
		pgid := readPid(t, pidFile)
		cancel()
		r := await(t, res, 10*time.Second)

		require.ErrorIs(t, r.err, context.Canceled)
		assert.EqualError(t, r.err, "deploy command stopped: context canceled; its process group was sent SIGTERM")
		assert.Less(t, r.elapsed, time.Minute, "a group that obeys SIGTERM is not waited on for the whole grace")
		requireGroupGone(t, pgid)
	})

	t.Run("SIGKILL after the grace", func(t *testing.T) {
		dir := t.TempDir()
		pidFile, childFile := filepath.Join(dir, "pid"), filepath.Join(dir, "child")
		killGroupAtEnd(t, pidFile)
		// The script exits on SIGTERM, but its child ignores it.
		path := script(t, `
(trap "" TERM; exec sleep 60) &
echo $! >"$2"
echo $$ >"$1"
wait
`)
		cause := errors.New("deployment attempt was taken over")
		ctx, cancel := context.WithCancelCause(context.Background())
		res := deployAsync(ctx, Exec{KillGrace: 200 * time.Millisecond}, Request{Command: []string{path, pidFile, childFile}}, NewTail(1024))
		pgid := readPid(t, pidFile)
		child := readPid(t, childFile)
		cancel(cause)
		r := await(t, res, 10*time.Second)

		require.ErrorIs(t, r.err, context.Canceled)
		require.ErrorIs(t, r.err, cause)
		assert.EqualError(t, r.err, "deploy command stopped: deployment attempt was taken over (context canceled); "+
			"its process group was sent SIGTERM, then SIGKILL after 200ms")
		requireGroupGone(t, pgid)
		assert.ErrorIs(t, syscall.Kill(child, 0), syscall.ESRCH)
	})

	t.Run("already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		marker := filepath.Join(t.TempDir(), "ran")
		err := Exec{}.Deploy(ctx, Request{Command: []string{"/bin/touch", marker}}, nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.NoFileExists(t, marker)
	})
}

func TestExecOutputIsStreamed(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	killGroupAtEnd(t, pidFile)
	path := script(t, "echo step 1 of 2\necho $$ >\"$1\"\nsleep 60\n")
	out := NewTail(1024)
	ctx, cancel := context.WithCancel(context.Background())
	res := deployAsync(ctx, Exec{}, Request{Command: []string{path, pidFile}}, out)
	require.Eventually(t, func() bool { return out.String() == "step 1 of 2\n" }, 10*time.Second, 10*time.Millisecond,
		"output must be readable while the command runs")
	cancel()
	r := await(t, res, 10*time.Second)
	require.ErrorIs(t, r.err, context.Canceled)
}

func TestExecBackgroundProcessHoldingTheOutput(t *testing.T) {
	dir := t.TempDir()
	childFile := filepath.Join(dir, "child")
	// A careless deploy script: its background process inherits the
	// output pipe. Deploy must still return, and leave the process alone.
	path := script(t, "sleep 60 &\necho $! >\"$1\"\necho deployed\n")
	t.Cleanup(func() {
		if b, err := os.ReadFile(childFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 1 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	out := NewTail(4096)
	r := await(t, deployAsync(context.Background(), Exec{}, Request{Command: []string{path, childFile}}, out), 30*time.Second)
	require.NoError(t, r.err)
	assert.True(t, strings.HasPrefix(out.String(), "deployed\n"), out.String())
	assert.Contains(t, out.String(), "kept its output open")
	child := readPid(t, childFile)
	assert.NoError(t, syscall.Kill(child, 0), "a process left behind by a command that exited by itself is not killed")
}

func TestExecCannotStart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), mode))
		return p
	}
	notExec := write("not-executable.sh", "#!/bin/sh\necho hi\n", 0o644)
	noInterp := write("no-interpreter.sh", "#!/no/such/interpreter -e\necho hi\n", 0o755)
	noShebang := write("no-shebang.sh", "echo hi\n", 0o755)

	for _, tc := range []struct {
		name    string
		req     Request
		want    []string
		wantErr error
	}{
		{"empty", Request{}, []string{"no deploy command", "deploy.command"}, nil},
		{"not in PATH", Request{Command: []string{"bakery-no-such-command"}},
			[]string{`"bakery-no-such-command"`, "not found in PATH", "install it"}, exec.ErrNotFound},
		{"missing file", Request{Command: []string{filepath.Join(dir, "missing.sh")}},
			[]string{filepath.Join(dir, "missing.sh"), "does not exist", "fix the path in deploy.command"}, os.ErrNotExist},
		{"missing relative to Dir", Request{Command: []string{"./missing.sh"}, Dir: dir},
			[]string{filepath.Join(dir, "missing.sh"), "does not exist"}, os.ErrNotExist},
		{"not executable", Request{Command: []string{notExec}},
			[]string{notExec, "not executable", "chmod +x " + notExec}, os.ErrPermission},
		{"directory", Request{Command: []string{dir}}, []string{dir, "is a directory"}, nil},
		{"missing interpreter", Request{Command: []string{noInterp}},
			[]string{noInterp, "/no/such/interpreter", "#! line"}, nil},
		{"no #! line", Request{Command: []string{noShebang}},
			[]string{noShebang, "#! line such as #!/bin/sh"}, syscall.ENOEXEC},
		{"missing working directory", Request{Command: []string{"/bin/true"}, Dir: filepath.Join(dir, "gone")},
			[]string{`"/bin/true"`, filepath.Join(dir, "gone"), "fix deploy.dir"}, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := NewTail(1024)
			err := Exec{}.Deploy(context.Background(), tc.req, out)
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			if tc.wantErr != nil {
				assert.ErrorIs(t, err, tc.wantErr)
			}
			var ee *ExitError
			assert.False(t, errors.As(err, &ee), "a command that never started has no exit status")
			assert.Zero(t, out.Len())
		})
	}
}

// TestExecDiesWithBakery checks Pdeathsig: when the process running Deploy
// is killed with SIGKILL, the deploy command is killed too. The test binary
// runs itself as that process (TestHelperDeployProcess).
func TestExecDiesWithBakery(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	killGroupAtEnd(t, pidFile)
	path := script(t, "echo $$ >\"$1\"\nexec sleep 60\n")

	helper := exec.Command(os.Args[0], "-test.run=^TestHelperDeployProcess$")
	helper.Env = append(os.Environ(), "BAKERY_DEPLOY_HELPER="+path, "BAKERY_DEPLOY_HELPER_ARG="+pidFile)
	require.NoError(t, helper.Start())
	t.Cleanup(func() { _ = helper.Process.Kill(); _ = helper.Wait() })

	pid := readPid(t, pidFile)
	require.NoError(t, syscall.Kill(pid, 0))
	require.NoError(t, helper.Process.Signal(syscall.SIGKILL))
	_ = helper.Wait()
	require.Eventually(t, func() bool { return len(liveMembers(t, pid)) == 0 }, 10*time.Second, 20*time.Millisecond,
		"the deploy command outlived the process that started it")
}

func TestHelperDeployProcess(t *testing.T) {
	path := os.Getenv("BAKERY_DEPLOY_HELPER")
	if path == "" {
		t.Skip("helper process for TestExecDiesWithBakery")
	}
	// Give the runtime other threads to move goroutines around on.
	for range 8 {
		go func() {
			for {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	_ = Exec{}.Deploy(context.Background(), Request{Command: []string{path, os.Getenv("BAKERY_DEPLOY_HELPER_ARG")}}, NewTail(1024))
	os.Exit(0)
}
