package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// timingDeployer runs the real exec deployer and reports when bakery
// handed it each deployment and when the command returned.
type timingDeployer struct {
	exec    deploy.Exec
	started chan deployTiming
}

type deployTiming struct {
	env          string
	version      string
	start, end   time.Time
	deploymentID int64
}

func (d *timingDeployer) Deploy(ctx context.Context, req deploy.Request, out *deploy.Tail) error {
	t := deployTiming{env: req.Environment, version: req.Version, start: time.Now(), deploymentID: req.DeploymentID}
	err := d.exec.Deploy(ctx, req, out)
	t.end = time.Now()
	d.started <- t
	return err
}

type benchBundle struct {
	e        *Engine
	st       store.Store
	deployer *timingDeployer
	changed  chan string
}

func setupBench(b *testing.B, url string, bake time.Duration) *benchBundle {
	b.Helper()
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{
		{Name: "staging", Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}},
		{Name: "production", Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}},
	}}}}
	bb := &benchBundle{deployer: &timingDeployer{started: make(chan deployTiming, 16)}, changed: make(chan string, 1024)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bb.e = New(Options{Config: cfg, Deployer: bb.deployer, Logger: log, OnChange: func(s string) {
		select {
		case bb.changed <- s:
		default:
		}
	}})
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{Workers: bb.e.Workers(), Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	bb.st = st
	if err := bb.e.Start(ctx, st); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		bb.e.Stop(ctx)
		_ = st.Close(ctx)
	})
	return bb
}

func benchURL(b *testing.B, db string) string {
	if db == "postgres" {
		return testutil.NewPostgresDB(b)
	}
	return "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
}

func report(b *testing.B, name string, ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	if len(ds) == 0 {
		return
	}
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, name+"-p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, name+"-p99-ms")
}

// BenchmarkPipelineLatency measures, on each database, per release:
//   - create→staging: from CreateRelease returning to the staging deploy
//     command being started;
//   - deadline→production: from the bake deadline to the production deploy
//     command being started;
//   - stage-overhead: the time a stage takes beyond its deploy command
//     (decision, job pick-up, state writes, the next decision), measured
//     from the decision's commit to the commit of the outcome.
//
// Run: go test -run '^$' -bench PipelineLatency -benchtime 200x ./internal/engine/
func BenchmarkPipelineLatency(b *testing.B) {
	for _, db := range []string{"sqlite", "postgres"} {
		b.Run(db, func(b *testing.B) {
			const bake = 50 * time.Millisecond
			bb := setupBench(b, benchURL(b, db), bake)
			ctx := context.Background()
			var createToStaging, deadlineToProd, overhead, pickup, deadlineToDecision []time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				version := fmt.Sprintf("v%d", i)
				rel, err := bb.e.CreateRelease(ctx, "bench", ReleaseParams{Service: "web", Version: version})
				if err != nil {
					b.Fatal(err)
				}
				created := time.Now()
				var staging, prod deployTiming
				for staging.version != version || prod.version != version {
					t := <-bb.deployer.started
					if t.env == "staging" {
						staging = t
					} else {
						prod = t
					}
				}
				createToStaging = append(createToStaging, staging.start.Sub(created))
				// Wait until production's outcome is committed, then read the
				// stored times.
				var sDep, pDep pipeline.Deployment
				for {
					deps, err := bb.st.DeploymentList(ctx, &store.DeploymentListParams{Service: "web", ReleaseID: rel.ID})
					if err != nil {
						b.Fatal(err)
					}
					done := 0
					for _, d := range deps {
						if d.State == pipeline.DeploymentSucceeded {
							done++
							if d.Environment == "staging" {
								sDep = d
							} else {
								pDep = d
							}
						}
					}
					if done == 2 {
						break
					}
					<-bb.changed
				}
				deadlineToProd = append(deadlineToProd, prod.start.Sub(sDep.FinishedAt.Add(bake)))
				// The production stage: decided (row created) → outcome
				// written, minus the command's own run time.
				overhead = append(overhead, pDep.FinishedAt.Sub(pDep.CreatedAt)-prod.end.Sub(prod.start))
				pickup = append(pickup, pDep.StartedAt.Sub(pDep.CreatedAt))
				deadlineToDecision = append(deadlineToDecision, pDep.CreatedAt.Sub(sDep.FinishedAt.Add(bake)))
			}
			b.StopTimer()
			report(b, "create-to-staging", createToStaging)
			report(b, "deadline-to-production", deadlineToProd)
			report(b, "stage-overhead", overhead)
			if testing.Verbose() {
				report(b, "decision-to-worker", pickup)
				report(b, "deadline-to-decision", deadlineToDecision)
			}
		})
	}
}
