package sqlstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/store/storetest"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

func factory(url func(t *testing.T) string) storetest.Factory {
	return func(t *testing.T) (store.Store, func(*testing.T, store.Store) store.Store) {
		u := url(t)
		open := func(t *testing.T) store.Store {
			s, err := sqlstore.Open(context.Background(), u, sqlstore.Options{})
			require.NoError(t, err)
			return s
		}
		s := open(t)
		current := s
		t.Cleanup(func() { _ = current.Close(context.Background()) })
		reopen := func(t *testing.T, old store.Store) store.Store {
			require.NoError(t, old.Close(context.Background()))
			current = open(t)
			return current
		}
		return s, reopen
	}
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, factory(func(t *testing.T) string {
		return "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	}))
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, factory(func(t *testing.T) string { return testutil.NewPostgresDB(t) }))
}

func TestSQLiteRefusesASecondProcess(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	s, err := sqlstore.Open(context.Background(), url, sqlstore.Options{})
	require.NoError(t, err)
	defer s.Close(context.Background())
	_, err = sqlstore.Open(context.Background(), url, sqlstore.Options{})
	require.ErrorContains(t, err, "in use by another bakery process")
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(context.Background(), "mysql://root:secret@localhost/x", sqlstore.Options{})
	require.ErrorContains(t, err, "use sqlite://PATH or postgres://")
	require.NotContains(t, err.Error(), "secret")
}

func TestSQLiteFilesArePrivate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A directory bakery creates is 0700; the database, its -wal and -shm
	// and the lock file are 0600, whatever the umask lets through.
	dir := filepath.Join(t.TempDir(), "state", "bakery")
	path := filepath.Join(dir, "bakery.db")
	s, err := sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{})
	require.NoError(t, err)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TokenInsert(ctx, &store.TokenInsertParams{Name: "ci", Role: "admin", Hash: "h", CreatedAt: time.Now()})
		return err
	}))
	for _, d := range []string{dir, filepath.Dir(dir)} {
		st, err := os.Stat(d)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o700), st.Mode().Perm(), d)
	}
	for _, name := range []string{path, path + "-wal", path + "-shm", path + ".lock"} {
		st, err := os.Stat(name)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), name)
	}
	require.NoError(t, s.Close(ctx))

	// An existing directory the operator chose is left alone; an existing
	// database that others may read is tightened.
	shared := t.TempDir()
	require.NoError(t, os.Chmod(shared, 0o755))
	old := filepath.Join(shared, "old.db")
	require.NoError(t, os.WriteFile(old, nil, 0o644))
	require.NoError(t, os.Chmod(old, 0o644))
	s, err = sqlstore.Open(ctx, "sqlite://"+old, sqlstore.Options{})
	require.NoError(t, err)
	defer s.Close(ctx)
	st, err := os.Stat(shared)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o755), st.Mode().Perm(), "the operator's directory is theirs")
	st, err = os.Stat(old)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
}
