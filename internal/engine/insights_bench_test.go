package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/insights/insightstest"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// BenchmarkInsightsRead measures GET /api/v1/insights's work below the
// HTTP layer — reading the log from the database and computing — for one
// service of ten, each with a year of generated history (12,148 events a
// service) in the events table: the last 30 days, the whole year, and 30
// days of all ten services.
func BenchmarkInsightsRead(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			var url string
			if db == "postgres" {
				url = testutil.NewPostgresDB(b)
			} else {
				url = "sqlite://" + filepath.Join(b.TempDir(), "bakery.db")
			}
			start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
			env := func(name string, bake time.Duration) config.Environment {
				return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
			}
			cfg := &config.Config{}
			for i := range 10 {
				cfg.Services = append(cfg.Services, config.Service{Name: fmt.Sprintf("svc-%d", i),
					Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}})
			}
			end := start.AddDate(1, 0, 0)
			clock := &fakeClock{t: end}
			log := slog.New(slog.NewTextHandler(io.Discard, nil))
			e := New(Options{Config: cfg, Clock: clock, Deployer: deploy.Exec{}, Logger: log})
			ctx := context.Background()
			st, err := sqlstore.Open(ctx, url, sqlstore.Options{Workers: e.Workers(), Logger: log})
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
			for _, svc := range cfg.Services {
				evs := insightstest.Generate(svc.Name, start, 365)
				if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
					for i := range evs {
						evs[i].ID = 0
						if _, err := tx.EventInsert(ctx, &evs[i]); err != nil {
							return err
						}
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			for _, c := range []struct {
				name    string
				service string
				since   time.Time
			}{
				{"one-service-30d", "svc-3", end.AddDate(0, 0, -30)},
				{"one-service-365d", "svc-3", start},
				{"ten-services-30d", "", end.AddDate(0, 0, -30)},
			} {
				b.Run(c.name, func(b *testing.B) {
					for b.Loop() {
						rep, err := e.Insights(ctx, InsightsParams{Service: c.service, Since: c.since, Until: end})
						if err != nil {
							b.Fatal(err)
						}
						if rep.LeadTimeSeconds.N == 0 {
							b.Fatal("no lead time in the generated year")
						}
					}
				})
			}
		})
	}
}
