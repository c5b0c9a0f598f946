package check

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// script writes an executable /bin/sh script into a fresh temporary
// directory and returns its path.
func script(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "smoke.sh")
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755))
	return path
}

func TestCommand(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	tests := []struct {
		name    string
		spec    CommandSpec
		timeout time.Duration
		outcome Outcome
		exit    *float64
		reason  []string
	}{
		{
			name:    "exit 0",
			spec:    CommandSpec{Command: []string{script(t, "echo all 5 passed\n")}},
			outcome: Healthy, exit: ptr(0),
			reason: []string{"smoke: ", "exited 0"},
		},
		{
			name:    "exit 3 names the code and the last line",
			spec:    CommandSpec{Command: []string{script(t, "echo checking; echo '2 of 5 failed' >&2; echo; exit 3\n")}},
			outcome: Failing, exit: ptr(3),
			reason: []string{"exited with status 3", ": 2 of 5 failed"},
		},
		{
			name:    "argv without a shell, dir and env",
			spec:    CommandSpec{Command: []string{"sh", "-c", `test "$(pwd)" = "$1" && test "$TARGET" = 'https://staging; rm -rf /'`, "sh", dir}, Dir: dir, Env: map[string]string{"TARGET": "https://staging; rm -rf /"}},
			outcome: Healthy, exit: ptr(0),
		},
		{
			name:    "killed by a signal",
			spec:    CommandSpec{Command: []string{script(t, "kill -9 $$\n")}},
			outcome: Failing, exit: ptr(137),
			reason: []string{"killed by signal 9"},
		},
		{
			name:    "timeout kills the group",
			spec:    CommandSpec{Command: []string{script(t, "echo started; sleep 30 & sleep 30\n")}},
			timeout: 300 * time.Millisecond,
			outcome: Failing,
			reason:  []string{"did not finish within 300ms", "process group was killed", ": started"},
		},
		{
			name:    "not found",
			spec:    CommandSpec{Command: []string{"bakery-no-such-smoke-test"}},
			outcome: Failing,
			reason:  []string{`cannot run bakery-no-such-smoke-test: check command "bakery-no-such-smoke-test" was not found in PATH`},
		},
		{
			name:    "not executable",
			spec:    CommandSpec{Command: []string{func() string { p := script(t, "exit 0\n"); require.NoError(t, os.Chmod(p, 0o644)); return p }()}},
			outcome: Failing,
			reason:  []string{"not executable"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := tt.spec
			c, err := New(Spec{Name: "smoke", Timeout: tt.timeout, Command: &spec})
			require.NoError(t, err)
			start := time.Now()
			r := c.Check(context.Background())
			require.Less(t, time.Since(start), 10*time.Second)
			require.Equal(t, tt.outcome, r.Outcome, r.Reason)
			require.Equal(t, "exit 0", r.Bound)
			if tt.exit != nil {
				require.NotNil(t, r.Value, r.Reason)
				require.Equal(t, *tt.exit, *r.Value)
			} else {
				require.Nil(t, r.Value)
			}
			for _, s := range tt.reason {
				require.Contains(t, r.Reason, s)
			}
		})
	}
}

// A command interrupted by the caller (the bake was stopped) has not said
// anything about the release.
func TestCommandCancelledIsInconclusive(t *testing.T) {
	t.Parallel()
	c, err := New(Spec{Name: "smoke", Command: &CommandSpec{Command: []string{"sleep", "30"}}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := c.Check(ctx)
	require.Equal(t, Inconclusive, r.Outcome, r.Reason)
}
