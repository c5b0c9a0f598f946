package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/migrations"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// applyScript is a real migration step: it applies the IDs listed in
// $MIGDIR/to-apply to the SQLite database given as $1 (a custom migration
// table), or fails when $MIGDIR/fail-$BAKERY_ENVIRONMENT exists.
const applyScript = `#!/bin/sh
set -e
if [ -f "$MIGDIR/fail-$BAKERY_ENVIRONMENT" ]; then echo "syntax error in migration" >&2; exit 1; fi
sqlite3 "$1" "CREATE TABLE IF NOT EXISTS schema_versions (id TEXT PRIMARY KEY)"
for m in $(cat "$MIGDIR/to-apply" 2>/dev/null); do sqlite3 "$1" "INSERT OR IGNORE INTO schema_versions VALUES ('$m')"; done
`

// migVarSeq makes each test's variable names unique: tests run in
// parallel in one process, which has one environment.
var migVarSeq atomic.Int64

type migWorld struct {
	dir                 string
	stagingDB, prodDB   string
	stagingEnv, prodEnv string
}

func newMigWorld(t *testing.T) (*migWorld, *config.Config) {
	t.Helper()
	if _, err := exec.LookPath("sqlite3"); err != nil {
		testutil.SkipOrFail(t, "the sqlite3 command is missing: apt-get install -y sqlite3")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "apply.sh"), []byte(applyScript), 0o755))
	w := &migWorld{dir: dir, stagingDB: filepath.Join(dir, "staging.db"), prodDB: filepath.Join(dir, "prod.db"),
		stagingEnv: fmt.Sprintf("BAKERY_TEST_STAGING_DB_%d", migVarSeq.Add(1)), prodEnv: fmt.Sprintf("BAKERY_TEST_PROD_DB_%d", migVarSeq.Add(1))}
	// Distinct variable names per test: tests run in parallel in one process.
	for _, kv := range [][2]string{{w.stagingEnv, w.stagingDB}, {w.prodEnv, w.prodDB}} {
		require.NoError(t, os.Setenv(kv[0], kv[1]))
		name := kv[0]
		t.Cleanup(func() { os.Unsetenv(name) })
	}
	cfg := testConfig()
	for i, env := range []struct{ db, urlEnv string }{{w.stagingDB, w.stagingEnv}, {w.prodDB, w.prodEnv}} {
		e := &cfg.Services[0].Environments[i]
		e.Deploy.Env = map[string]string{"MIGDIR": dir}
		e.Migrations = &config.Migrations{Apply: []string{filepath.Join(dir, "apply.sh"), env.db},
			Database: &config.MigrationDatabase{Driver: "sqlite", URLEnv: env.urlEnv, Tool: "table", Table: "schema_versions", Column: "id"}}
	}
	return w, cfg
}

func (w *migWorld) toApply(t *testing.T, ids ...string) {
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "to-apply"), []byte(strings.Join(ids, "\n")), 0o644))
}

func (b *testBundle) lastDeployment(t *testing.T, env, version string) pipeline.Deployment {
	t.Helper()
	deps := b.deploymentsOf(t, "web", env, version)
	require.NotEmpty(t, deps, "no deployment of %s into %s", version, env)
	return deps[0]
}

// TestMigrationsGoThroughStagingFirst is rule 12: the migration step runs
// before the code, staging first; a release whose migrations are not
// applied in staging (the step failed or did not apply them) never reaches
// production.
func TestMigrationsGoThroughStagingFirst(t *testing.T) {
	t.Parallel()
	w, cfg := newMigWorld(t)
	b := setup(t, "sqlite", cfg)
	ctx := context.Background()

	w.toApply(t, "m1")
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v1", Migrations: []string{"m1"}})
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "staging"), "%+v", b.lastDeployment(t, "staging", "v1"))
	st, err := migrations.Read(ctx, migrations.Source{Driver: "sqlite", URL: w.stagingDB, Tool: migrations.Table, Table: "schema_versions", Column: "id"})
	require.NoError(t, err)
	require.True(t, st.Has("m1"), "applied in staging")
	_, err = os.Stat(w.prodDB)
	require.True(t, os.IsNotExist(err), "production is not migrated before the release baked in staging")
	b.clock.Set(b.clock.Now().Add(testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "production"))
	require.Contains(t, b.lastDeployment(t, "production", "v1").Output, "migrations verified in production")

	// The step runs but does not apply m2: the deployment fails, naming m2.
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v2", Migrations: []string{"m1", "m2"}})
	require.NoError(t, err)
	b.settle(t, "web")
	d := b.lastDeployment(t, "staging", "v2")
	require.Equal(t, pipeline.DeploymentFailed, d.State)
	require.Contains(t, d.Error, "migrations not applied in staging")
	require.Contains(t, d.Error, "m2")
	require.Equal(t, "v1", b.version(t, "web", "staging"), "the code was not deployed")

	// The migration command itself fails.
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "fail-staging"), nil, 0o644))
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v3", Migrations: []string{"m3"}})
	require.NoError(t, err)
	b.settle(t, "web")
	d = b.lastDeployment(t, "staging", "v3")
	require.Equal(t, pipeline.DeploymentFailed, d.State)
	require.Contains(t, d.Error, "migration command failed in staging")
	require.Contains(t, d.Output, "syntax error in migration")

	b.clock.Set(b.clock.Now().Add(3 * testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "production"), "neither failed release reached production")
	require.Empty(t, b.deploymentsOf(t, "web", "production", "v2"))
	require.Empty(t, b.deploymentsOf(t, "web", "production", "v3"))

	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v4", Migrations: []string{"m 4"}})
	require.ErrorIs(t, err, ErrInvalid)
}

// TestMigrationDrift: skipped rehearsal, missing beyond the bake, and an
// unreachable database said plainly; never a credential in the output.
func TestMigrationDrift(t *testing.T) {
	t.Parallel()
	w, cfg := newMigWorld(t)
	b := setup(t, "sqlite", cfg)
	ctx := context.Background()
	sql := func(db, q string) {
		out, err := exec.Command("sqlite3", db, q).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	for _, db := range []string{w.stagingDB, w.prodDB} {
		sql(db, "CREATE TABLE schema_versions (id TEXT PRIMARY KEY); INSERT INTO schema_versions VALUES ('m1')")
	}
	rep, err := b.e.Migrations(ctx, "web")
	require.NoError(t, err)
	require.Empty(t, rep.Drift, "in step")

	sql(w.prodDB, "INSERT INTO schema_versions VALUES ('hotfix9')") // (a) skipped the rehearsal
	sql(w.stagingDB, "INSERT INTO schema_versions VALUES ('m2')")   // (b) once it has waited longer than the bake
	rep, err = b.e.Migrations(ctx, "web")
	require.NoError(t, err)
	kinds := func(r MigrationReport) map[string]string {
		out := map[string]string{}
		for _, d := range r.Drift {
			out[string(d.Kind)+":"+d.Migration] = d.Environment
		}
		return out
	}
	require.Equal(t, map[string]string{"skipped_rehearsal:hotfix9": "production"}, kinds(rep), "m2 is within the bake")

	b.clock.Set(b.clock.Now().Add(testBake + time.Minute))
	rep, err = b.e.Migrations(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"skipped_rehearsal:hotfix9": "production", "missing:m2": "production"}, kinds(rep))

	// Unreachable is said plainly, and a password never shows.
	require.NoError(t, os.Setenv(w.prodEnv, "postgres://app:s3cret-pw@127.0.0.1:1/app?connect_timeout=2"))
	cfg.Services[0].Environments[1].Migrations.Database.Driver = "postgres"
	rep, err = b.e.Migrations(ctx, "web")
	require.NoError(t, err)
	require.Error(t, rep.Environments[1].Err)
	require.NotContains(t, rep.Environments[1].Err.Error(), "s3cret-pw")
	require.Equal(t, map[string]string{"unreachable:": "production"}, kinds(rep), "nothing else is derived from an unreadable database")

	seen, err := b.st.MigrationsSeen(ctx, "web")
	require.NoError(t, err)
	require.Contains(t, seen["staging"], "m2")
	_ = store.ErrNotFound
}
