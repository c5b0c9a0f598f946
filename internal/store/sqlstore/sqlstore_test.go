package sqlstore_test

import (
	"context"
	"path/filepath"
	"testing"

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
