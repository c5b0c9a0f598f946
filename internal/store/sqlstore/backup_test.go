package sqlstore_test

import (
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// writeBackup copies b into path and closes it.
func writeBackup(t *testing.T, b store.Backup, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o600)
	require.NoError(t, err)
	n, err := io.Copy(f, b)
	require.NoError(t, err)
	require.Equal(t, b.Size(), n)
	require.NoError(t, f.Close())
	require.NoError(t, b.Close())
}

func insertRelease(t *testing.T, s store.Store, version string) {
	t.Helper()
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, "web", time.Unix(1700000000, 0)); err != nil {
			return err
		}
		_, err := tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: version, CreatedAt: time.Unix(1700000000, 0)})
		return err
	}))
}

// TestSQLiteBackupRestore takes a backup while the store is open and in
// use, restores it elsewhere, and opens it: what was committed before the
// backup is there, what came after is not, and the temporary copy next to
// the database is gone.
func TestSQLiteBackupRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	url := "sqlite://" + filepath.Join(dir, "bakery.db")
	s, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	require.NoError(t, err)
	defer s.Close(ctx)
	insertRelease(t, s, "v1")

	b, err := s.(store.Backuper).Backup(ctx)
	require.NoError(t, err)
	insertRelease(t, s, "v2") // after the snapshot: not in it
	backup := filepath.Join(t.TempDir(), "backup.db")
	writeBackup(t, b, backup)
	left, err := filepath.Glob(filepath.Join(dir, ".bakery-backup-*"))
	require.NoError(t, err)
	require.Empty(t, left, "the temporary copy is removed")

	// Reading the database directly works while the server holds it.
	direct, err := sqlstore.BackupURL(ctx, url)
	require.NoError(t, err)
	writeBackup(t, direct, filepath.Join(t.TempDir(), "direct.db"))

	// Restoring over the live database is refused by its lock.
	err = sqlstore.Restore(ctx, sqlstore.RestoreParams{From: backup, To: url, Force: true})
	require.ErrorContains(t, err, "in use by a running bakery server")

	restored := filepath.Join(t.TempDir(), "sub", "restored.db")
	require.NoError(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: backup, To: "sqlite://" + restored}))
	st, err := os.Stat(restored)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// An existing database is replaced only with Force.
	err = sqlstore.Restore(ctx, sqlstore.RestoreParams{From: backup, To: "sqlite://" + restored})
	require.ErrorContains(t, err, "exists already: pass --force")
	require.NoError(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: backup, To: "sqlite://" + restored, Force: true}))

	r, err := sqlstore.Open(ctx, "sqlite://"+restored, sqlstore.Options{})
	require.NoError(t, err)
	defer r.Close(ctx)
	rels, err := r.ReleaseList(ctx, &store.ReleaseListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, rels, 1)
	require.Equal(t, "v1", rels[0].Version)
}

// TestRestoreRefusesWhatIsNotABakeryBackup: a file that is not SQLite, a
// SQLite database that is not bakery's, a damaged one and one from a newer
// bakery are each refused with what is wrong, and nothing is written.
func TestRestoreRefusesWhatIsNotABakeryBackup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	to := "sqlite://" + filepath.Join(dir, "out", "bakery.db")

	text := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(text, []byte("hello"), 0o600))
	require.ErrorContains(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: text, To: to}), "is not a SQLite database")

	other := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite", other)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE t (x INTEGER)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.ErrorContains(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: other, To: to}), "not bakery's: it has no bakery_migrations table")

	// A backup from a newer bakery (a migration this one does not know).
	src := "sqlite://" + filepath.Join(dir, "src.db")
	s, err := sqlstore.Open(ctx, src, sqlstore.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx))
	b, err := sqlstore.BackupURL(ctx, src)
	require.NoError(t, err)
	newer := filepath.Join(dir, "newer.db")
	writeBackup(t, b, newer)
	db, err = sql.Open("sqlite", newer)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO bakery_migrations (version, applied_at) VALUES ('999_future.sql', 0)`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.ErrorContains(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: newer, To: to}), "999_future.sql, which this bakery does not know")

	// A damaged one: a page in the middle overwritten.
	damaged := filepath.Join(dir, "damaged.db")
	b, err = sqlstore.BackupURL(ctx, src)
	require.NoError(t, err)
	writeBackup(t, b, damaged)
	f, err := os.OpenFile(damaged, os.O_RDWR, 0)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = 0xA5
	}
	_, err = f.WriteAt(junk, st.Size()/2/4096*4096)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	err = sqlstore.Restore(ctx, sqlstore.RestoreParams{From: damaged, To: to})
	require.Error(t, err)
	require.Regexp(t, "damaged|malformed|cannot be checked", err.Error())

	_, err = os.Stat(filepath.Join(dir, "out", "bakery.db"))
	require.True(t, os.IsNotExist(err), "nothing restored after a refusal")
}

// TestPostgresBackupSaysPgDump: PostgreSQL is backed up with pg_dump, and
// the error names the command, without the password.
func TestPostgresBackupSaysPgDump(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, err := sqlstore.BackupURL(ctx, "postgres://bakery:s3cret@db.internal/bakery")
	require.ErrorIs(t, err, store.ErrBackupUnsupported)
	require.ErrorContains(t, err, "pg_dump --format=custom")
	require.NotContains(t, err.Error(), "s3cret")

	url := testutil.NewPostgresDB(t)
	s, err := sqlstore.Open(ctx, url, sqlstore.Options{})
	require.NoError(t, err)
	defer s.Close(ctx)
	_, err = s.(store.Backuper).Backup(ctx)
	require.ErrorIs(t, err, store.ErrBackupUnsupported)
	require.ErrorContains(t, err, "pg_dump")
}
