package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// gitCommit is what `release create --from-git` reads of a checkout's
// HEAD.
type gitCommit struct {
	SHA         string
	Author      string
	Message     string
	CommittedAt time.Time
}

// gitHead reads HEAD of the checkout in dir with `git log -1`, run as a
// subprocess (bakery links no git library).
func gitHead(dir string) (gitCommit, error) {
	// NUL separates the fields: none of them can hold one.
	cmd := exec.Command("git", "-C", dir, "log", "-1", "--format=%H%x00%an%x00%cI%x00%B")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return gitCommit{}, fmt.Errorf("--from-git: git could not read HEAD of %s: %s (run it in a git checkout with at least one commit, or give the checkout's directory)",
				dir, strings.TrimSpace(stderr.String()))
		}
		return gitCommit{}, fmt.Errorf("--from-git needs git on PATH: %w", err)
	}
	parts := strings.SplitN(stdout.String(), "\x00", 4)
	if len(parts) != 4 {
		return gitCommit{}, fmt.Errorf("--from-git: unexpected output from git log in %s", dir)
	}
	c := gitCommit{SHA: strings.TrimSpace(parts[0]), Author: parts[1], Message: strings.TrimRight(parts[3], "\n")}
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(parts[2])); err == nil {
		c.CommittedAt = t.UTC()
	}
	return c, nil
}
