package deploy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exec runs req.Command as a child process, in a process group of its own.
//
// On a timeout the whole group is killed with SIGKILL at once. When ctx is
// cancelled the group gets SIGTERM and, if anything of it is still running
// KillGrace later, SIGKILL. Either way Deploy returns only once the command
// has been reaped and nothing of its group is left running.
//
// When the command exits by itself, processes it left behind in its group
// (e.g. an app started with "nohup app &") are not touched.
type Exec struct {
	// KillGrace is the time between SIGTERM and SIGKILL when ctx is
	// cancelled (default 2s).
	KillGrace time.Duration
}

const (
	defaultKillGrace = 2 * time.Second
	// pipeGrace bounds how long output is still read after the command
	// exited (or was killed) while something it started keeps the output
	// pipe open.
	pipeGrace = 2 * time.Second
	// goneWait bounds the wait, after a kill, for the group's last
	// processes to finish exiting.
	goneWait = 5 * time.Second
)

// Deploy runs req.Command and waits for it. See Deployer.
func (x Exec) Deploy(ctx context.Context, req Request, out *Tail) error {
	if len(req.Command) == 0 || req.Command[0] == "" {
		return errors.New(`no deploy command to run: set deploy.command, e.g. ["./deploy.sh", "staging"]`)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("deploy command %q not started: %w", req.Command[0], err)
	}
	if req.Dir != "" {
		if fi, err := os.Stat(req.Dir); err != nil {
			return fmt.Errorf("cannot run deploy command %q: its working directory %s is not usable (%w): fix deploy.dir",
				req.Command[0], req.Dir, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("cannot run deploy command %q: its working directory %s is not a directory: fix deploy.dir",
				req.Command[0], req.Dir)
		}
	}
	var w io.Writer = io.Discard
	if out != nil {
		w = out
	}
	// flush passes on output the mask held back; called once the command's
	// output has all been read (cmd.Wait has returned).
	flush := func() {}
	if req.Mask != nil {
		mw := req.Mask.NewWriter(w)
		flush = func() { _ = mw.Close() }
		w = mw
	}

	cmd := exec.Command(req.Command[0], req.Command[1:]...)
	cmd.Dir = req.Dir
	cmd.Env = environ(req)
	cmd.Stdin = nil // /dev/null
	// One writer for both: os/exec then shares a single pipe, so stdout and
	// stderr interleave in the order they were written.
	cmd.Stdout, cmd.Stderr = w, w
	cmd.WaitDelay = pipeGrace
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid: true,
		// If bakery dies, even by SIGKILL, the kernel kills the command.
		Pdeathsig: syscall.SIGKILL,
	}

	// Pdeathsig fires when the *thread* that started the child exits, and
	// the Go runtime ends a thread when a goroutine locked to it returns
	// without unlocking. Keeping this goroutine locked to its thread until
	// the child is reaped means no other goroutine can run on that thread,
	// so it cannot end while the child lives.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	if err := cmd.Start(); err != nil {
		return startError(req, cmd, err)
	}
	pgid := cmd.Process.Pid // Setpgid with Pgid 0: the group is named after the child
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()

	var timeout <-chan time.Time
	if req.Timeout > 0 {
		timer := time.NewTimer(req.Timeout)
		defer timer.Stop()
		timeout = timer.C
	}

	select {
	case err := <-waited:
		flush()
		return exitResult(err, out)

	case <-timeout:
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-waited
		flush()
		waitGroupGone(pgid, goneWait)
		return fmt.Errorf("%w after %s; its process group was killed", ErrTimeout, req.Timeout)

	case <-ctx.Done():
		how := x.terminate(pgid, waited)
		flush()
		err := ctx.Err()
		if cause := context.Cause(ctx); cause != nil && cause != err {
			return fmt.Errorf("deploy command stopped: %w (%w); its process group was %s", cause, err, how)
		}
		return fmt.Errorf("deploy command stopped: %w; its process group was %s", err, how)
	}
}

// terminate sends SIGTERM to the group and, if anything of it is still
// running KillGrace later, SIGKILL. It returns once the command has been
// reaped and the group is gone, saying how it ended.
func (x Exec) terminate(pgid int, waited <-chan error) string {
	grace := x.KillGrace
	if grace <= 0 {
		grace = defaultKillGrace
	}
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.NewTimer(grace)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	reaped := false
	for {
		select {
		case <-waited:
			// The command itself has exited; children of it may remain.
			reaped, waited = true, nil
			if !groupAlive(pgid) {
				return "sent SIGTERM"
			}
		case <-poll.C:
			if reaped && !groupAlive(pgid) {
				return "sent SIGTERM"
			}
		case <-deadline.C:
			// Only signal a group known to still have members: a group
			// that emptied could in principle have had its id reused.
			if !reaped || groupAlive(pgid) {
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
			}
			if !reaped {
				<-waited
			}
			waitGroupGone(pgid, goneWait)
			return fmt.Sprintf("sent SIGTERM, then SIGKILL after %s", grace)
		}
	}
}

// environ is the child's environment, built from an allowlist and never
// from bakery's whole environment (which holds the bootstrap token, API
// keys and database URLs): the BaseEnv variables and those req.InheritEnv
// names, when set; the BAKERY_ variables describing the deployment; then
// req.Env (a later entry wins).
func environ(req Request) []string {
	env := make([]string, 0, len(BaseEnv)+len(req.InheritEnv)+6+len(req.Env))
	for _, names := range [][]string{BaseEnv, req.InheritEnv} {
		for _, k := range names {
			if v, ok := os.LookupEnv(k); ok {
				env = append(env, k+"="+v)
			}
		}
	}
	env = append(env,
		"BAKERY_SERVICE="+req.Service,
		"BAKERY_ENVIRONMENT="+req.Environment,
		"BAKERY_VERSION="+req.Version,
		"BAKERY_ARTIFACT="+req.Artifact,
		"BAKERY_DEPLOYMENT_ID="+strconv.FormatInt(req.DeploymentID, 10),
		"BAKERY_ATTEMPT="+strconv.Itoa(req.Attempt),
	)
	keys := make([]string, 0, len(req.Env))
	for k := range req.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		env = append(env, k+"="+req.Env[k])
	}
	return env
}

// exitResult turns the result of cmd.Wait for a command that ended by
// itself into Deploy's error.
func exitResult(err error, out *Tail) error {
	if errors.Is(err, exec.ErrWaitDelay) {
		// Exited 0, but something it started in the background kept the
		// output open. The deploy succeeded; say why output stopped.
		if out != nil {
			fmt.Fprintf(out, "\n[bakery] the deploy command exited, but a process it started kept its output open; "+
				"stopped reading it after %s. Redirect background processes' output, e.g. `nohup app >app.log 2>&1 </dev/null &`.\n", pipeGrace)
		}
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			sig := ws.Signal()
			return fmt.Errorf("deploy command was killed by signal %d (%s): %w", int(sig), sig, &ExitError{Code: 128 + int(sig)})
		}
		return &ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("error waiting for the deploy command: %w", err)
	}
	return nil
}

// startError explains why the command could not be started, and how to fix
// it.
func startError(req Request, cmd *exec.Cmd, err error) error {
	name := req.Command[0]
	switch {
	case errors.Is(err, exec.ErrDot):
		return fmt.Errorf("deploy command %q was found only in the current directory, which bakery does not search: write it as %q (%w)",
			name, "./"+name, err)
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("deploy command %q was not found in PATH: install it, or give its path in deploy.command (%w)", name, err)
	}
	// The path the kernel was asked to run: relative paths are relative to Dir.
	path := cmd.Path
	if !filepath.IsAbs(path) && req.Dir != "" {
		path = filepath.Join(req.Dir, path)
	}
	fi, statErr := os.Stat(path)
	switch {
	case errors.Is(err, syscall.ENOENT) && statErr != nil:
		return fmt.Errorf("deploy command %s does not exist: fix the path in deploy.command (%w)", path, err)
	case errors.Is(err, syscall.ENOENT):
		if interp := interpreter(path); interp != "" {
			return fmt.Errorf("deploy command %s cannot run: its interpreter %s (from its #! line) does not exist: install it or fix the #! line (%w)",
				path, interp, err)
		}
		return fmt.Errorf("deploy command %s cannot run: something it needs (its #! interpreter or dynamic loader) does not exist (%w)", path, err)
	case errors.Is(err, syscall.EACCES) && statErr == nil && fi.IsDir():
		return fmt.Errorf("deploy command %s is a directory, not a program: fix deploy.command (%w)", path, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("deploy command %s is not executable: run `chmod +x %s` (or, if it is already, move it off a noexec filesystem) (%w)",
			path, path, err)
	case errors.Is(err, syscall.ENOEXEC):
		return fmt.Errorf("deploy command %s is not a program this machine can run: a script needs a #! line such as #!/bin/sh, "+
			"a binary must be built for %s/%s (%w)", path, runtime.GOOS, runtime.GOARCH, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("deploy command %s may not be run by bakery's user: fix its permissions (%w)", path, err)
	}
	return fmt.Errorf("cannot start deploy command %s: %w", path, err)
}

// interpreter returns the program named by the #! line of the file at path,
// or "" if it has none.
func interpreter(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	line, _ := bufio.NewReader(io.LimitReader(f, 256)).ReadBytes('\n')
	rest, ok := bytes.CutPrefix(line, []byte("#!"))
	if !ok {
		return ""
	}
	fields := strings.Fields(string(rest))
	if len(fields) == 0 {
		return ""
	}
	return fields[0]
}

// groupAlive reports whether any process of group pgid is still running.
// Zombies do not count: they have exited and only wait to be reaped (by
// init, for orphans).
func groupAlive(pgid int) bool {
	if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return true // cannot tell; kill(2) says it exists
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		state, pg, ok := procState(e.Name())
		if ok && pg == pgid && state != 'Z' && state != 'X' {
			return true
		}
	}
	return false
}

// procState reads the state and process group of a process from
// /proc/PID/stat.
func procState(pid string) (state byte, pgid int, ok bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return 0, 0, false
	}
	pg, err := strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, false
	}
	return f[0][0], pg, true
}

// waitGroupGone waits, up to limit, until nothing of group pgid is running
// (processes sent SIGKILL take a moment to finish exiting).
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}
