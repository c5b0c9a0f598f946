package check

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/secret"
)

// CommandSpec is a command check: argv run without a shell, in Dir, with
// Env and the InheritEnv variables of bakery's environment (and nothing
// else of it but deploy.BaseEnv); output masked by Mask. Exit 0 is Healthy. A non-zero exit, a
// run longer than the check's timeout (its whole process group is then
// killed) or a command that cannot be started is Failing; see the package
// doc for why a command that cannot start is not merely Inconclusive.
//
// The command runs through deploy.Exec, so it gets the same process-group
// handling as deploy commands (and the BAKERY_* variables, empty here).
type CommandSpec struct {
	Command    []string
	Dir        string
	Env        map[string]string
	InheritEnv []string
	// Mask masks known secrets in the output kept for the result's reason;
	// the engine sets it.
	Mask *secret.Masker
}

// commandTail is how much of a command's output is kept for its Reason.
const commandTail = 4096

type commandChecker struct {
	name    string
	spec    CommandSpec
	timeout time.Duration
	exec    deploy.Deployer
	now     func() time.Time
}

func newCommand(spec Spec) (*commandChecker, error) {
	cmd := *spec.Command
	if len(cmd.Command) == 0 || cmd.Command[0] == "" {
		return nil, errors.New(`command is empty: give argv, e.g. ["./smoke.sh", "staging"]`)
	}
	cmd.Command = append([]string(nil), cmd.Command...)
	return &commandChecker{
		name:    spec.Name,
		spec:    cmd,
		timeout: spec.Timeout,
		exec:    deploy.Exec{},
		now:     time.Now,
	}, nil
}

func (c *commandChecker) Name() string { return c.name }

// Check runs the command once and waits for it (at most the timeout, plus
// the moments it takes to kill its process group).
func (c *commandChecker) Check(ctx context.Context) Result {
	at := c.now()
	res := c.check(ctx, at)
	res.Bound = "exit 0"
	return res
}

func (c *commandChecker) check(ctx context.Context, at time.Time) Result {
	out := deploy.NewTail(commandTail)
	err := c.exec.Deploy(ctx, deploy.Request{
		Command:    c.spec.Command,
		Dir:        c.spec.Dir,
		Env:        c.spec.Env,
		InheritEnv: c.spec.InheritEnv,
		Mask:       c.spec.Mask,
		Timeout:    c.timeout,
	}, out)
	prog := c.spec.Command[0]
	var exitErr *deploy.ExitError
	switch {
	case err == nil:
		r := result(c.name, at, Healthy, "%s exited 0", prog)
		r.Value, r.Samples = ptr(0), 1
		return r
	case errors.Is(err, deploy.ErrTimeout):
		return result(c.name, at, Failing, "%s did not finish within %s; its process group was killed%s",
			prog, c.timeout, lastLine(out.String()))
	case errors.As(err, &exitErr):
		how := fmt.Sprintf("exited with status %d", exitErr.Code)
		if err != error(exitErr) {
			// deploy.Exec wraps the ExitError of a command killed by a
			// signal it did not send, with Code 128+signal.
			how = fmt.Sprintf("was killed by signal %d (status %d)", exitErr.Code-128, exitErr.Code)
		}
		r := result(c.name, at, Failing, "%s %s%s", prog, how, lastLine(out.String()))
		r.Value, r.Samples = ptr(float64(exitErr.Code)), 1
		return r
	}
	if why, ok := cancelled(ctx); ok {
		return result(c.name, at, Inconclusive, "%s: %s", prog, why)
	}
	// deploy.Exec explains why the command could not start in terms of a
	// deploy command; say it in terms of this check.
	msg := strings.NewReplacer(
		"deploy command", "check command",
		"deploy.command", "the check's command",
		"deploy.dir", "the check's dir",
	).Replace(err.Error())
	return result(c.name, at, Failing, "cannot run %s: %s", prog, msg)
}

// lastLine is the last non-empty line of a command's output, as a Reason
// fragment.
func lastLine(output string) string {
	lines := strings.Split(strings.TrimRight(output, " \t\r\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" && !strings.HasPrefix(l, "…[truncated ") {
			return ": " + clip(l, 200)
		}
	}
	return " (no output)"
}
