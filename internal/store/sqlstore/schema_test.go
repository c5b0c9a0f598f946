package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// TestSchemaDownTakesTheNewestMigrationBack: on both databases the newest
// migration, whichever it is (every newest migration must ship a down
// file), is taken back while no server holds the database — events kept —
// and a second step is refused; opening the store applies it again.
func TestSchemaDownTakesTheNewestMigrationBack(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
			if db == "postgres" {
				url = testutil.NewPostgresDB(t)
			}
			s, err := sqlstore.Open(ctx, url, sqlstore.Options{})
			require.NoError(t, err)
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				_, err := tx.EventInsert(ctx, &pipeline.Event{At: time.Unix(1, 0), Type: "test.old", Actor: "test"})
				return err
			}))
			if db == "sqlite" {
				_, err := sqlstore.SchemaDown(ctx, url)
				require.ErrorContains(t, err, "in use by a running bakery server")
			}
			require.NoError(t, s.Close(ctx))

			version, err := sqlstore.SchemaDown(ctx, url)
			require.NoError(t, err)
			require.Equal(t, sqlstore.NewestMigration(db), version)
			_, err = sqlstore.SchemaDown(ctx, url)
			require.ErrorContains(t, err, "only the newest version can be taken back")

			// Reopened (by this bakery): the newest is applied again,
			// the event is still there and retention (013) works.
			s, err = sqlstore.Open(ctx, url, sqlstore.Options{})
			require.NoError(t, err)
			defer s.Close(ctx)
			n, err := s.(store.Pruner).EventPrune(ctx, &store.EventPruneParams{Before: time.Unix(2, 0)})
			require.NoError(t, err)
			require.Equal(t, 1, n)
		})
	}
}

// TestRetentionDownRestoresTheOldTrigger: with retention's migration taken
// back (its down file, as SchemaDown runs it when it is the newest), the
// log refuses every delete with the old trigger, and a backup of the
// database restores with this binary (its schema is older, not newer).
func TestRetentionDownRestoresTheOldTrigger(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bakery.db")
	s, err := sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close(ctx))
	raw, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = raw.Exec(sqlstore.MigrationSQL("sqlite", "013_retention.down.sql"))
	require.NoError(t, err)
	_, err = raw.Exec(`INSERT INTO events (at, type, actor) VALUES (1, 'test.old', 'test')`)
	require.NoError(t, err)
	_, err = raw.Exec(`DELETE FROM events`)
	require.ErrorContains(t, err, "the event log is append-only")
	require.NotContains(t, err.Error(), "only retention")
	var tables int
	require.NoError(t, raw.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'retention_horizon'`).Scan(&tables))
	require.Zero(t, tables)
	require.NoError(t, raw.Close())

	b, err := sqlstore.BackupURL(ctx, "sqlite://"+path)
	require.NoError(t, err)
	out := filepath.Join(t.TempDir(), "b.db")
	writeBackup(t, b, out)
	require.NoError(t, sqlstore.Restore(ctx, sqlstore.RestoreParams{From: out, To: "sqlite://" + filepath.Join(t.TempDir(), "r.db")}))
}
