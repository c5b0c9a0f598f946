package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// migrationDB makes a SQLite database with a custom migration table of n
// rows, as an application's database would have.
func migrationDB(b *testing.B, path string, n int) {
	b.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE schema_versions (id TEXT PRIMARY KEY)`); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := db.Exec(`INSERT INTO schema_versions VALUES (?)`, fmt.Sprintf("m%04d", i)); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEngine(b *testing.B, cfg *config.Config) *Engine {
	b.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := New(Options{Config: cfg, Logger: log, Deployer: deploy.Exec{}})
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(b.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(ctx, st); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		e.Stop(ctx)
		_ = st.Close(ctx)
	})
	return e
}

// BenchmarkMigrationReport reads the migration state of 100 services × 2
// environments (SQLite application databases of 200 migrations each) and
// computes their drift, one service after another, as a dashboard refresh
// of every service would.
//
// Run: go test -run '^$' -bench MigrationReport -benchtime 5x ./internal/engine/
func BenchmarkMigrationReport(b *testing.B) {
	dir := b.TempDir()
	cfg := &config.Config{}
	for s := 0; s < 100; s++ {
		svc := config.Service{Name: fmt.Sprintf("svc%03d", s)}
		for i, name := range []string{"staging", "production"} {
			path := filepath.Join(dir, fmt.Sprintf("%s-%s.db", svc.Name, name))
			migrationDB(b, path, 200)
			envVar := fmt.Sprintf("BENCH_MIG_%03d_%d", s, i)
			os.Setenv(envVar, path)
			env := config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
				Migrations: &config.Migrations{Database: &config.MigrationDatabase{Driver: "sqlite", URLEnv: envVar, Tool: "table",
					Table: "schema_versions", Column: "id"}}}
			if i == 1 {
				env.Bake = time.Hour
			}
			svc.Environments = append(svc.Environments, env)
		}
		cfg.Services = append(cfg.Services, svc)
	}
	e := benchEngine(b, cfg)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, svc := range cfg.Services {
			rep, err := e.Migrations(ctx, svc.Name)
			if err != nil {
				b.Fatal(err)
			}
			if len(rep.Drift) != 0 {
				b.Fatalf("unexpected drift: %+v", rep.Drift)
			}
		}
	}
}

// BenchmarkMigrationStep is the extra time the migration check adds to a
// deployment (no apply command: reading the environment's table of 200
// migrations, checking the release's 3, recording what was seen).
//
// Run: go test -run '^$' -bench MigrationStep -benchtime 200x ./internal/engine/
func BenchmarkMigrationStep(b *testing.B) {
	path := filepath.Join(b.TempDir(), "app.db")
	migrationDB(b, path, 200)
	os.Setenv("BENCH_MIG_STEP_DB", path)
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{{Name: "staging",
		Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		Migrations: &config.Migrations{Database: &config.MigrationDatabase{Driver: "sqlite", URLEnv: "BENCH_MIG_STEP_DB", Tool: "table",
			Table: "schema_versions", Column: "id"}}}}}}}
	e := benchEngine(b, cfg)
	ctx := context.Background()
	rel, err := e.CreateRelease(ctx, "bench", ReleaseParams{Service: "web", Version: "v1", Migrations: []string{"m0001", "m0100", "m0199"}})
	if err != nil {
		b.Fatal(err)
	}
	dep := pipeline.Deployment{ID: 1, Service: "web", Environment: "staging", ReleaseID: rel.ID, Version: "v1"}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := e.migrate(ctx, dep, rel, deploy.Request{}, deploy.NewTail(4096)); err != nil {
			b.Fatal(err)
		}
	}
}
