package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// stop stops the world's server as systemd would (SIGTERM) and waits.
func (w *world) stop() {
	w.t.Helper()
	require.NoError(w.t, w.server.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-w.server.done:
	case <-time.After(40 * time.Second):
		w.t.Fatalf("server did not stop on SIGTERM:\n%s", w.server.Logs())
	}
}

// TestBackupRestoreMidPipeline takes a backup through the running server
// while a lock holds api's production and web's v1 bakes in staging, stops
// the server, restores the backup into a new path and starts a server on
// it. The pipeline carries on from the backup: the lock still holds, and
// web's bake ends at its original deadline and promotes v1 once.
func TestBackupRestoreMidPipeline(t *testing.T) {
	t.Parallel()
	const bake = 12 * time.Second
	w := newWorld(t, worldOpts{bake: bake})
	w.start()
	run := func(args ...string) string {
		t.Helper()
		out, stderr, err := w.bakery(nil, args...)
		require.NoError(t, err, "bakery %v: %s", args, stderr)
		return out
	}

	run("lock", "api", "production", "--reason", "payments freeze")
	run("release", "create", "api", "a1")
	run("release", "create", "web", "v1")
	w.eventually(30*time.Second, "v1 and a1 in staging", func() bool {
		return w.version("web", "staging") == "v1" && w.version("api", "staging") == "a1"
	})
	stagingDone := findEvent(w.events("web"), "deployment.succeeded", "staging", "v1").At

	// The backup, through the server (admin token).
	backup := filepath.Join(t.TempDir(), "bakery-backup.db")
	out := run("backup", backup)
	require.Contains(t, out, "wrote "+backup)
	st, err := os.Stat(backup)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "the backup is private")
	tmps, _ := filepath.Glob(filepath.Join(w.dir, ".bakery-backup-*"))
	require.Empty(t, tmps, "the server's temporary copy is removed")

	// Only an admin may take one: not a viewer, nor a deployer, nor a bad token.
	for _, role := range []string{"viewer", "deployer"} {
		out := run("token", "create", "--name", "backup-"+role, "--role", role)
		tok := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
		_, stderr, err := w.bakery([]string{"BAKERY_TOKEN=" + tok}, "backup", filepath.Join(t.TempDir(), "x.db"))
		require.Error(t, err, role)
		require.Contains(t, stderr, "HTTP 403", role)
	}
	_, stderr, err := w.bakery([]string{"BAKERY_TOKEN=not-a-token-" + strings.Repeat("x", 30)}, "backup", filepath.Join(t.TempDir(), "x.db"))
	require.Error(t, err)
	require.Contains(t, stderr, "HTTP 401")

	// Restoring over the database the server holds is refused.
	live := strings.TrimPrefix(w.db, "sqlite://")
	_, stderr, err = w.bakery(nil, "restore", backup, "--db", w.db, "--force")
	require.Error(t, err)
	require.Contains(t, stderr, "in use by a running bakery server")
	// So is reading a file that is no backup.
	_, stderr, err = w.bakery(nil, "restore", w.config, "--db", "sqlite://"+filepath.Join(t.TempDir(), "x.db"))
	require.Error(t, err)
	require.Contains(t, stderr, "is not a SQLite database")
	// The direct copy works beside a live server.
	direct := filepath.Join(t.TempDir(), "direct.db")
	run("backup", "--db", w.db, direct)
	_, err = os.Stat(live)
	require.NoError(t, err)

	w.stop()
	restored := filepath.Join(t.TempDir(), "restored", "bakery.db")
	out = run("restore", backup, "--db", "sqlite://"+restored)
	require.Contains(t, out, "restored "+backup)
	w.db = "sqlite://" + restored
	w.start()

	w.eventually(40*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	decided := findEvent(w.events("web"), "promotion.decided", "production", "v1")
	require.NotNil(t, decided)
	deadline, err := time.Parse(time.RFC3339Nano, decided.Data["bake_deadline"].(string))
	require.NoError(t, err)
	require.WithinDuration(t, stagingDone.Add(bake), deadline, time.Millisecond, "the bake keeps its original deadline")
	require.False(t, decided.At.Before(deadline), "promoted no earlier than the deadline")
	require.Equal(t, 1, w.count("start", "production", "v1"), "deployed to production once:\n%s", w.deployLog())

	// The lock from before the backup still holds api's production.
	time.Sleep(time.Until(stagingDone.Add(bake + time.Second)))
	require.Equal(t, "", w.version("api", "production"), "the restored lock holds")
	status := w.status("api")
	require.True(t, status.Environments[1].Locked)
	require.Equal(t, "payments freeze", status.Environments[1].Locks[0].Reason)
	run("unlock", "api", "production", "--reason", "freeze over")
	w.eventually(30*time.Second, "a1 in production after the unlock", func() bool { return w.version("api", "production") == "a1" })
}

// TestBackupOnPostgresSaysPgDump: through the server on PostgreSQL, the
// answer is the pg_dump command, and no file is written.
func TestBackupOnPostgresSaysPgDump(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{postgres: true})
	w.start()
	file := filepath.Join(t.TempDir(), "b.db")
	_, stderr, err := w.bakery(nil, "backup", file)
	require.Error(t, err)
	require.Contains(t, stderr, "HTTP 501")
	require.Contains(t, stderr, "pg_dump --format=custom")
	_, err = os.Stat(file)
	require.True(t, os.IsNotExist(err))
}
