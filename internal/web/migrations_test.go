package web

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// TestMigrationPanel: the service page shows each environment's applied
// migrations and the drift between them, and says plainly when a database
// cannot be read — without its credentials.
func TestMigrationPanel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	dir := t.TempDir()
	staging := filepath.Join(dir, "staging.db")
	db, err := sql.Open("sqlite", "file:"+staging)
	require.NoError(t, err)
	_, err = db.Exec(`CREATE TABLE schema_versions (id TEXT PRIMARY KEY); INSERT INTO schema_versions VALUES ('m1'), ('m2')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	stagingVar, prodVar := "BAKERY_WEB_TEST_STAGING_DB", "BAKERY_WEB_TEST_PROD_DB"
	require.NoError(t, os.Setenv(stagingVar, staging))
	require.NoError(t, os.Setenv(prodVar, "postgres://app:pw-s3cret@127.0.0.1:1/app?connect_timeout=2"))
	t.Cleanup(func() { os.Unsetenv(stagingVar); os.Unsetenv(prodVar) })

	cfg := testConfig()
	for i, v := range []struct{ driver, env string }{{"sqlite", stagingVar}, {"postgres", prodVar}} {
		cfg.Services[0].Environments[i].Migrations = &config.Migrations{Database: &config.MigrationDatabase{
			Driver: v.driver, URLEnv: v.env, Tool: "table", Table: "schema_versions", Column: "id"}}
	}
	f.e.SetConfig(context.Background(), cfg)

	c := f.client()
	f.signIn(c, "eye")
	panelOf := func() string {
		t.Helper()
		_, page := f.do(c, "GET", "/services/web", "", nil)
		require.Contains(t, page, `id="migrations-panel"`)
		require.NotContains(t, page, "pw-s3cret")
		panel := page[strings.Index(page, `id="migrations-panel"`):]
		return panel[:strings.Index(panel, "</section>")]
	}
	// The configuration came after the background reader's first pass:
	// nothing is read yet, and that is not shown as "no drift".
	if panel := panelOf(); strings.Contains(panel, "not read yet") {
		require.Contains(t, panel, `data-kind="unreachable"`)
		require.NotContains(t, panel, "No drift")
	}
	// What the background reader does every 30 s.
	_, err = f.e.RefreshMigrations(context.Background(), "web")
	require.NoError(t, err)
	panel := panelOf()
	require.Contains(t, panel, "<code>m1</code>, <code>m2</code>")
	require.Contains(t, panel, `data-kind="unreachable"`)
	require.Contains(t, panel, "cannot be read")
	require.Contains(t, panel, `class="muted migrations-age">read <time class="ago"`)

	// A page view neither reads the application's database nor writes
	// what it saw: a migration applied since the last background read is
	// not on the page, and migrations_seen does not change.
	seen, err := f.e.Store().MigrationsSeen(context.Background(), "web")
	require.NoError(t, err)
	db, err = sql.Open("sqlite", "file:"+staging)
	require.NoError(t, err)
	_, err = db.Exec(`INSERT INTO schema_versions VALUES ('m3')`)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	require.NotContains(t, panelOf(), "<code>m3</code>")
	after, err := f.e.Store().MigrationsSeen(context.Background(), "web")
	require.NoError(t, err)
	require.Equal(t, seen, after)
	_, err = f.e.RefreshMigrations(context.Background(), "web")
	require.NoError(t, err)
	require.Contains(t, panelOf(), "<code>m3</code>")

	_, page := f.do(c, "GET", "/services/api", "", nil)
	require.NotContains(t, page, `id="migrations-panel"`, "no panel for a service without migrations")
}
