package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gitRepo makes a real git checkout with one commit.
func gitRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	dir := t.TempDir()
	gitRun := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ana Lima", "GIT_AUTHOR_EMAIL=ana@example.com", "GIT_COMMITTER_NAME=Ana Lima",
			"GIT_COMMITTER_EMAIL=ana@example.com", "GIT_AUTHOR_DATE=2026-11-25T12:01:30-05:00", "GIT_COMMITTER_DATE=2026-11-25T12:01:30-05:00")
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	gitRun("init", "-q")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n"), 0o644))
	gitRun("add", ".")
	gitRun("commit", "-q", "-m", "Fix the checkout total (#42)\n\nRounding was off by a cent.")
	return dir
}

func TestGitHead(t *testing.T) {
	t.Parallel()
	dir := gitRepo(t)
	c, err := gitHead(dir)
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{40}$`, c.SHA)
	require.Equal(t, "Ana Lima", c.Author)
	require.Equal(t, "Fix the checkout total (#42)\n\nRounding was off by a cent.", c.Message)
	require.Equal(t, time.Date(2026, 11, 25, 17, 1, 30, 0, time.UTC), c.CommittedAt)

	_, err = gitHead(t.TempDir())
	require.ErrorContains(t, err, "--from-git: git could not read HEAD of")
}

func TestReleaseCreateFromGit(t *testing.T) {
	server := newTestServer(t)
	t.Setenv("BAKERY_TOKEN", "admin-secret")
	dir := gitRepo(t)
	head, err := gitHead(dir)
	require.NoError(t, err)
	out := run(t, server, "release", "create", "web", "--from-git", dir, "--artifact", "img:x")
	require.Contains(t, out, "release "+head.SHA+" of web created", out)
	out = run(t, server, "release", "create", "web", "--from-git="+dir, "--message", "override")
	require.Contains(t, out, "exists already", "the same HEAD is the same release")
	out = run(t, server, "release", "create", "web")
	require.True(t, strings.Contains(out, "needs SERVICE and VERSION"), out)
}
