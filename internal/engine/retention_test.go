package engine

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

const day = 24 * time.Hour

// retentionBundle is an engine on a fake clock (testutil.Clock) whose
// deploy command prints a line, with server.retention set, and whose
// retention service is stopped: the test runs its passes itself.
type retentionBundle struct {
	e     *Engine
	st    store.Store
	clock *testutil.Clock
}

func setupRetention(t *testing.T, db string) *retentionBundle {
	t.Helper()
	url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	if db == "postgres" {
		url = testutil.NewPostgresDB(t)
	}
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{
			Command: []string{"/bin/sh", "-c", `echo "deployed $BAKERY_VERSION to $BAKERY_ENVIRONMENT"`}, Timeout: time.Minute}}
	}
	cfg := &config.Config{
		Server: config.Server{Retention: config.Retention{Events: 400 * day, DeploymentOutput: 30 * day}},
		Services: []config.Service{
			{Name: "web", Environments: []config.Environment{env("staging", 0), env("production", testBake)}},
		},
	}
	clock := testutil.NewClock(start)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := New(Options{Config: cfg, Clock: clock, Deployer: deploy.Exec{}, Logger: log, Registerer: prometheus.NewRegistry()})
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	e.retention.Stop()
	e.retention.pause = 0
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	require.Eventually(t, e.IsLeader, 30*time.Second, 10*time.Millisecond, "the only replica leads")
	return &retentionBundle{e: e, st: st, clock: clock}
}

func (b *retentionBundle) settle(t *testing.T) {
	t.Helper()
	require.Eventually(t, func() bool {
		active, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web",
			States: []pipeline.DeploymentState{pipeline.DeploymentPending, pipeline.DeploymentRunning}})
		require.NoError(t, err)
		return len(active) == 0
	}, 20*time.Second, 5*time.Millisecond)
}

func (b *retentionBundle) release(t *testing.T, version string) {
	t.Helper()
	_, err := b.e.CreateRelease(context.Background(), "ci", ReleaseParams{Service: "web", Version: version})
	require.NoError(t, err)
	b.settle(t)
}

func (b *retentionBundle) events(t *testing.T) []pipeline.Event {
	t.Helper()
	evs, err := b.st.EventList(context.Background(), &store.EventListParams{Limit: 100000})
	require.NoError(t, err)
	return evs
}

// outputs maps environment/version to the output its deployment kept.
func (b *retentionBundle) outputs(t *testing.T) map[string]string {
	t.Helper()
	deps, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web", Limit: 1000})
	require.NoError(t, err)
	out := map[string]string{}
	for _, d := range deps {
		out[d.Environment+"/"+d.Version] = d.Output
	}
	return out
}

// TestRetentionPrunesOnlyWhatIsOld runs retention passes on a fake clock
// over a service's year: events older than server.retention.events are
// deleted oldest first, in batches, and nothing younger is touched; what
// remains is the unchanged tail of the log, still append-only. Old
// deployments lose their output, but never the deployment an environment
// runs now, and the pipeline's state (what runs where, the lock, the
// decision) is the same after as before.
func TestRetentionPrunesOnlyWhatIsOld(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setupRetention(t, db)
		ctx := context.Background()

		// Day 0: v1 to staging and, after its bake, production; then
		// enough old events for several batches.
		b.release(t, "v1")
		b.clock.Add(testBake)
		require.NoError(t, b.e.Reconcile(ctx, "web"))
		b.settle(t)
		require.NoError(t, b.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for i := 0; i < 2*retentionBatch+17; i++ {
				if _, err := tx.EventInsert(ctx, &pipeline.Event{At: b.clock.Now(), Type: "test.filler", Service: "web", Actor: "test"}); err != nil {
					return err
				}
			}
			return nil
		}))
		// Day 40: v2 to staging; production is locked and keeps v1.
		b.clock.Add(40 * day)
		_, err := b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "freeze"})
		require.NoError(t, err)
		b.release(t, "v2")

		// Day 71: output older than 30 days goes, unless it is what an
		// environment runs: v1 in staging goes, v1 in production and v2
		// in staging stay. No event is 400 days old.
		b.clock.Add(31 * day)
		before := b.events(t)
		res, err := b.e.retention.prune(ctx, b.clock.Now())
		require.NoError(t, err)
		require.Equal(t, RetentionResult{Events: 0, Outputs: 1}, res)
		require.Equal(t, before, b.events(t), "no event is older than 400 days: none touched")
		require.Equal(t, map[string]string{
			"staging/v1":    "",
			"production/v1": "deployed v1 to production\n",
			"staging/v2":    "deployed v2 to staging\n",
		}, b.outputs(t))
		b.release(t, "v3")
		_, stateBefore, err := b.e.Status(ctx, "web")
		require.NoError(t, err)

		// Day 401: day 0's events are 400 days old; the rest are younger.
		b.clock.Add(330 * day)
		before = b.events(t)
		cutoff := b.clock.Now().Add(-400 * day)
		var old int
		for _, e := range before {
			if e.At.Before(cutoff) {
				old++
			}
		}
		require.Greater(t, old, 2*retentionBatch, "several batches' worth")
		res, err = b.e.retention.prune(ctx, b.clock.Now())
		require.NoError(t, err)
		require.Equal(t, old, res.Events)
		require.Equal(t, 1, res.Outputs, "v2 in staging, replaced by v3, loses its output")
		after := b.events(t)
		require.Equal(t, before[old:], after, "what remains is the unchanged tail of the log: same IDs, same contents")
		for _, e := range after {
			require.False(t, e.At.Before(cutoff), "event %d of %s survived", e.ID, e.At)
		}
		require.Equal(t, map[string]string{
			"staging/v1":    "",
			"production/v1": "deployed v1 to production\n",
			"staging/v2":    "",
			"staging/v3":    "deployed v3 to staging\n",
		}, b.outputs(t))

		// The pipeline sees the same state: v1 runs in production, the
		// lock holds, v3 waits.
		_, stateAfter, err := b.e.Status(ctx, "web")
		require.NoError(t, err)
		require.Equal(t, "v1", stateAfter.Environments[1].Current.Version)
		require.Equal(t, pipeline.WaitLock, stateAfter.Environments[1].Wait.Kind)
		require.Equal(t, stateBefore.Environments[1].Current, stateAfter.Environments[1].Current)
		require.Equal(t, len(stateBefore.Environments[1].Queue), len(stateAfter.Environments[1].Queue))

		// A second pass finds nothing; the log stays append-only.
		res, err = b.e.retention.prune(ctx, b.clock.Now())
		require.NoError(t, err)
		require.Equal(t, RetentionResult{}, res)
		type rawExec interface {
			RawExec(ctx context.Context, q string) error
		}
		for _, q := range []string{
			"DELETE FROM events WHERE id = (SELECT MIN(id) FROM events)",
			"UPDATE events SET reason = 'rewritten' WHERE id = (SELECT MAX(id) FROM events)",
		} {
			err := b.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.(rawExec).RawExec(ctx, q) })
			require.ErrorContains(t, err, "append-only", q)
		}
		require.Equal(t, after, b.events(t))
	})
}

// TestRetentionOffByDefault: without server.retention nothing is pruned,
// however old.
func TestRetentionOffByDefault(t *testing.T) {
	t.Parallel()
	b := setupRetention(t, "sqlite")
	b.e.cfg.Load().Server.Retention = config.Retention{}
	b.release(t, "v1")
	b.release(t, "v2")
	before := b.events(t)
	res, err := b.e.retention.prune(context.Background(), b.clock.Now().Add(10000*day))
	require.NoError(t, err)
	require.Equal(t, RetentionResult{}, res)
	require.Equal(t, before, b.events(t))
	require.Equal(t, "deployed v1 to staging\n", b.outputs(t)["staging/v1"])
}
