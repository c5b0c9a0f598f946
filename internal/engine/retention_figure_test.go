package engine

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// TestFigureRetentionYear simulates a year of one busy service on SQLite —
// 100 releases a day over a 10-hour working day, each deployed to staging,
// the newest baked one promoted to production every hour (10 a day, the
// other 9 superseded), every deploy printing 4 KiB of output — and reports
// the database's size at the end, without retention and with it (the
// leader's retention pass run at the end of every simulated day, with the
// engine's own batches). The rows are those the engine writes for such a
// day: releases, deployments with their output, superseded marks and the
// events (created, decided, started, succeeded, superseded).
//
//	BAKERY_FIGURES=1 go test -run TestFigureRetentionYear -v ./internal/engine/
//
// BAKERY_SIM_DAYS (default 365) and BAKERY_SIM_OUTPUT (bytes per deploy,
// default 4096) change the simulation.
func TestFigureRetentionYear(t *testing.T) {
	if os.Getenv("BAKERY_FIGURES") == "" {
		t.Skip("a figure for docs/PERFORMANCE.md: set BAKERY_FIGURES=1 to run it")
	}
	days := envInt(t, "BAKERY_SIM_DAYS", 365)
	outputSize := envInt(t, "BAKERY_SIM_OUTPUT", 4096)
	for _, tc := range []struct {
		name string
		r    config.Retention
	}{
		{"none", config.Retention{}},
		{"events=400d,deployment_output=30d", config.Retention{Events: 400 * day, DeploymentOutput: 30 * day}},
		{"events=90d,deployment_output=30d", config.Retention{Events: 90 * day, DeploymentOutput: 30 * day}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bakery.db")
			began := time.Now()
			pruneTime := simulateYear(t, path, days, outputSize, tc.r)
			size, live, events, outputs := dbFigures(t, path)
			fmt.Printf("FIGURE retention=%s days=%d releases=%d output_bytes=%d file_mib=%.1f live_mib=%.1f events=%d outputs_kept=%d prune_total=%s run=%s\n",
				tc.name, days, days*100, outputSize, float64(size)/(1<<20), float64(live)/(1<<20), events, outputs,
				pruneTime.Round(time.Millisecond), time.Since(began).Round(time.Second))
		})
	}
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return n
}

// simulateYear writes days of history into a new SQLite database at path,
// running retention r at the end of every day, and returns the time the
// retention passes took in all.
func simulateYear(t *testing.T, path string, days, outputSize int, r config.Retention) time.Duration {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlstore.Open(ctx, "sqlite://"+path, sqlstore.Options{Logger: log})
	require.NoError(t, err)
	defer st.Close(ctx)
	cfg := &config.Config{Server: config.Server{Retention: r}}
	e := New(Options{Config: cfg, Logger: log})
	e.store = st
	e.leader.Store(true)
	e.retention.pause = 0

	line := "step ok: pushed layer sha256:0123456789abcdef, service updated\n"
	output := strings.Repeat(line, outputSize/len(line)+1)[:outputSize]
	day0 := time.Date(2026, 1, 1, 8, 0, 0, 0, time.UTC)
	var pruning time.Duration
	var prodCurrent int64
	for d := 0; d < days; d++ {
		morning := day0.Add(time.Duration(d) * day)
		require.NoError(t, st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			if err := tx.ServiceLock(ctx, "web", morning); err != nil {
				return err
			}
			var waiting []pipeline.Release
			for i := 0; i < 100; i++ {
				at := morning.Add(time.Duration(i) * 6 * time.Minute)
				rel, err := tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: fmt.Sprintf("%07x", d*100+i),
					Artifact: fmt.Sprintf("registry.example.com/web:%07x", d*100+i), Message: "Fix the checkout button's spacing on narrow screens",
					Author: "ana", CreatedAt: at})
				if err != nil {
					return err
				}
				if err := simEvent(ctx, tx, pipeline.EventReleaseCreated, "", rel, at, nil); err != nil {
					return err
				}
				if err := simDeploy(ctx, tx, "staging", rel, at, output, nil); err != nil {
					return err
				}
				waiting = append(waiting, rel)
				if i%10 == 9 { // the hourly promotion: the newest baked one
					promoted := waiting[len(waiting)-1]
					for _, old := range waiting[:len(waiting)-1] {
						if err := tx.MarkInsert(ctx, &store.MarkInsertParams{ReleaseID: old.ID, Environment: "production",
							Kind: pipeline.MarkSuperseded, Actor: "bakery", Reason: "superseded by " + promoted.Version, CreatedAt: at}); err != nil {
							return err
						}
						if err := simEvent(ctx, tx, pipeline.EventReleaseSuperseded, "production", old, at, map[string]any{"by": promoted.Version}); err != nil {
							return err
						}
					}
					if err := simDeploy(ctx, tx, "production", promoted, at.Add(time.Minute), output, map[string]any{"bake_deadline": at.Format(time.RFC3339Nano)}); err != nil {
						return err
					}
					prodCurrent = promoted.ID
					waiting = nil
				}
			}
			return nil
		}))
		began := time.Now()
		_, err := e.retention.prune(ctx, morning.Add(16*time.Hour))
		require.NoError(t, err)
		pruning += time.Since(began)
	}
	_ = prodCurrent
	return pruning
}

func simEvent(ctx context.Context, tx store.Tx, typ, env string, rel pipeline.Release, at time.Time, data map[string]any) error {
	_, err := tx.EventInsert(ctx, &pipeline.Event{At: at, Type: typ, Service: "web", Environment: env, Version: rel.Version,
		Actor: "bakery", Reason: "automatic", Data: data})
	return err
}

// simDeploy writes one successful deployment the way the engine does: the
// decision, the start and the end, with their events.
func simDeploy(ctx context.Context, tx store.Tx, env string, rel pipeline.Release, at time.Time, output string, data map[string]any) error {
	if err := simEvent(ctx, tx, pipeline.EventPromotionDecided, env, rel, at, data); err != nil {
		return err
	}
	dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: "web", Environment: env, ReleaseID: rel.ID,
		Kind: "promotion", Actor: "bakery", CreatedAt: at})
	if err != nil {
		return err
	}
	if err := simEvent(ctx, tx, pipeline.EventDeploymentStarted, env, rel, at, map[string]any{"attempt": 1}); err != nil {
		return err
	}
	end := at.Add(40 * time.Second)
	if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: 1,
		FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending}, State: pipeline.DeploymentSucceeded,
		StartedAt: at, FinishedAt: end, Heartbeat: end, Output: &output}); err != nil {
		return err
	}
	return simEvent(ctx, tx, pipeline.EventDeploymentSucceeded, env, rel, end, map[string]any{"duration_ms": 40000})
}

// dbFigures reads the database file's size, the size of its pages in use,
// and how many events and kept outputs it holds.
func dbFigures(t *testing.T, path string) (size, live int64, events, outputs int) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var pageSize, pages, free int64
	require.NoError(t, db.QueryRow(`PRAGMA page_size`).Scan(&pageSize))
	require.NoError(t, db.QueryRow(`PRAGMA page_count`).Scan(&pages))
	require.NoError(t, db.QueryRow(`PRAGMA freelist_count`).Scan(&free))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM events`).Scan(&events))
	require.NoError(t, db.QueryRow(`SELECT count(*) FROM deployments WHERE output <> ''`).Scan(&outputs))
	st, err := os.Stat(path)
	require.NoError(t, err)
	wal, _ := os.Stat(path + "-wal")
	size = st.Size()
	if wal != nil {
		size += wal.Size()
	}
	return size, (pages - free) * pageSize, events, outputs
}
