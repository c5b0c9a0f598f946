package engine

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
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

// countingDeployer counts deploy commands per deployment and signals each.
type countingDeployer struct {
	mu    sync.Mutex
	calls map[int64]int
	ran   chan int64
}

func newCountingDeployer() *countingDeployer {
	return &countingDeployer{calls: map[int64]int{}, ran: make(chan int64, 100)}
}

func (d *countingDeployer) Deploy(_ context.Context, req deploy.Request, _ *deploy.Tail) error {
	d.mu.Lock()
	d.calls[req.DeploymentID]++
	d.mu.Unlock()
	d.ran <- req.DeploymentID
	return nil
}

func (d *countingDeployer) count(id int64) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[id]
}

// replica is one bakery process of a test: an engine and its store.
type replica struct {
	e  *Engine
	st store.Store
}

// startReplica starts an engine on url. hook, if set, sees every job this
// replica's workers take (see recovery.beforeJob).
func startReplica(t *testing.T, url string, clock pipeline.Clock, d deploy.Deployer,
	hook func(ctx context.Context, kind string, args any) bool) *replica {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := New(Options{Config: recoveryConfig(), Clock: clock, Deployer: d, Logger: log, Registerer: prometheus.NewRegistry()})
	e.recovery.beforeJob = hook
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	r := &replica{e: e, st: st}
	t.Cleanup(func() {
		if r.e == nil {
			return // killed
		}
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	return r
}

// kill stops the replica the way a crash does: its loops and heartbeats
// end, its job workers stop fetching and its store closes at once, without
// resigning leadership or finishing the jobs it holds.
func (r *replica) kill(t *testing.T) {
	t.Helper()
	r.e.cancel()
	r.e.wg.Wait()
	r.e.stopRouters()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = r.st.Close(ctx)
	r.e = nil
}

func recoveryConfig() *config.Config {
	env := func(name string) config.Environment {
		return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	return &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging")}}}}
}

// holdFirst returns a job hook that holds the first job of kind (chosen by
// pick) open until release is closed, signalling held when it has it, and
// lets every other job through. A held job does nothing once released: it
// stands for a job whose process died with it.
func holdFirst(kind string, pick func(args any) bool, held chan<- struct{}, release <-chan struct{}) func(context.Context, string, any) bool {
	var once sync.Once
	return func(_ context.Context, k string, args any) bool {
		if k != kind || !pick(args) {
			return true
		}
		mine := false
		once.Do(func() { mine = true })
		if !mine {
			return true
		}
		close(held)
		<-release
		return false
	}
}

func anyArgs(any) bool { return true }

func eventsOf(t *testing.T, st store.Store, typ string) []pipeline.Event {
	t.Helper()
	evs, err := st.EventList(context.Background(), &store.EventListParams{Limit: 1000})
	require.NoError(t, err)
	var out []pipeline.Event
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

func waitSignal[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		require.FailNow(t, "timed out waiting for "+what)
	}
	var zero T
	return zero
}

// TestReplicaDiesHoldingFreshDeployJob is the two-replica chaos case of
// issue 11 on PostgreSQL: replica A is handed a deploy job and dies before
// the deployment is marked running. Replica B, once A's heartbeat is older
// than the heartbeat timeout, starts attempt 2 from its leader loop, and
// the deploy command runs once.
func TestReplicaDiesHoldingFreshDeployJob(t *testing.T) {
	t.Parallel()
	url := testutil.NewPostgresDB(t)
	clock := testutil.NewClock(start)
	d := newCountingDeployer()
	held, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	a := startReplica(t, url, clock, d, holdFirst(DeployArgs{}.Kind(), anyArgs, held, release))
	_, err := a.e.CreateRelease(context.Background(), "ci", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	waitSignal(t, held, "replica A to take the deploy job")
	b := startReplica(t, url, clock, d, nil)
	deps, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, deps, 1)
	dep := deps[0]
	require.Equal(t, pipeline.DeploymentPending, dep.State, "A holds the job and has not started it")

	killed := time.Now()
	a.kill(t)
	// Before A's heartbeat is stale, B leaves the deployment alone.
	require.NoError(t, b.e.recovery.runOnce(context.Background()))
	require.Empty(t, eventsOf(t, b.st, pipeline.EventDeploymentRecovered))
	// Then the engine's clock passes A's heartbeat timeout (and A's
	// leadership lease, should A have led): B's leader loop, on its own,
	// takes the lead and recovers the deployment.
	clock.Add(b.e.opts.HeartbeatTimeout + time.Second)
	require.Equal(t, dep.ID, waitSignal(t, d.ran, "the deploy command on B"))
	wall := time.Since(killed)
	require.True(t, b.e.IsLeader())
	require.Eventually(t, func() bool {
		got, err := b.st.DeploymentGet(context.Background(), dep.ID)
		return err == nil && got.State == pipeline.DeploymentSucceeded
	}, 30*time.Second, 5*time.Millisecond)
	got, err := b.st.DeploymentGet(context.Background(), dep.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, 1, d.count(dep.ID), "the deploy command ran once")
	recovered := eventsOf(t, b.st, pipeline.EventDeploymentRecovered)
	require.Len(t, recovered, 1)
	require.Contains(t, recovered[0].Reason, "died before starting it")
	require.Len(t, eventsOf(t, b.st, pipeline.EventDeploymentSucceeded), 1)
	fake := b.e.opts.HeartbeatTimeout + time.Second
	require.Less(t, fake, 15*time.Second, "recovered within 15 s of the engine's clock")
	t.Logf("recovery: %s on the engine's clock (heartbeat timeout + 1 s), %s wall time from kill to the deploy command", fake, wall.Round(time.Millisecond))
}

// TestReplicaDiesHoldingJob: a reconcile job and a canary-cleanup job held
// by a replica that dies run again, once, on the live one, each rescue an
// event.
func TestReplicaDiesHoldingJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		job  store.Job
	}{
		{"reconcile", availableNow(reconcileJob("web", start.Add(time.Minute)))},
		{"canary cleanup", cleanupJob(4242)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := testutil.NewPostgresDB(t)
			clock := testutil.NewClock(start)
			d := newCountingDeployer()
			held, release := make(chan struct{}), make(chan struct{})
			defer close(release)
			a := startReplica(t, url, clock, d, holdFirst(tc.job.Kind, anyArgs, held, release))
			require.NoError(t, a.st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
				return tx.JobInsert(ctx, tc.job)
			}))
			waitSignal(t, held, "replica A to take the job")
			ran := make(chan any, 10)
			b := startReplica(t, url, clock, d, func(_ context.Context, kind string, args any) bool {
				if kind != tc.job.Kind {
					return true
				}
				ran <- args
				// The cleanup's canary does not exist: what is proved is
				// that the job runs again, not the command.
				return kind != CanaryCleanupArgs{}.Kind()
			})
			a.kill(t)
			clock.Add(b.e.opts.HeartbeatTimeout + time.Second)
			require.NoError(t, b.e.recovery.runOnce(context.Background()))
			require.Equal(t, tc.job.Args, waitSignal(t, ran, "the job on B"))
			rescued := eventsOf(t, b.st, pipeline.EventJobRescued)
			require.Len(t, rescued, 1)
			require.Equal(t, tc.job.Kind, rescued[0].Data["kind"])
			// Nothing is left to rescue, and the job ran once.
			require.NoError(t, b.e.recovery.runOnce(context.Background()))
			require.Len(t, eventsOf(t, b.st, pipeline.EventJobRescued), 1)
			require.Eventually(t, func() bool {
				jobs, err := b.st.JobList(context.Background(), &store.JobListParams{Kinds: []string{tc.job.Kind},
					States: []string{store.JobStateCompleted}})
				return err == nil && len(jobs) == 1
			}, 30*time.Second, 5*time.Millisecond)
			require.Empty(t, ran, "the job ran once on B")
		})
	}
}

// TestSQLiteRestartAfterCrashBeforeRunning: on SQLite, a process dies
// between handing out a deploy job and marking the deployment running; the
// restarted process recovers it at start-up (attempt 2) and deploys once.
func TestSQLiteRestartAfterCrashBeforeRunning(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	clock := testutil.NewClock(start)
	d := newCountingDeployer()
	held, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	a := startReplica(t, url, clock, d, holdFirst(DeployArgs{}.Kind(), anyArgs, held, release))
	_, err := a.e.CreateRelease(context.Background(), "ci", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	waitSignal(t, held, "the first process to take the deploy job")
	a.kill(t)

	b := startReplica(t, url, clock, d, nil)
	deps, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, deps, 1)
	dep := deps[0]
	require.Equal(t, dep.ID, waitSignal(t, d.ran, "the deploy command after the restart"))
	require.Eventually(t, func() bool {
		got, err := b.st.DeploymentGet(context.Background(), dep.ID)
		return err == nil && got.State == pipeline.DeploymentSucceeded
	}, 30*time.Second, 5*time.Millisecond)
	got, err := b.st.DeploymentGet(context.Background(), dep.ID)
	require.NoError(t, err)
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, 1, d.count(dep.ID))
	require.Len(t, eventsOf(t, b.st, pipeline.EventDeploymentRecovered), 1)
	require.Len(t, eventsOf(t, b.st, pipeline.EventJobRescued), 1)
}

// TestSQLiteRestartRerunsHeldJob: on SQLite, a reconcile or canary-cleanup
// job held by a process that crashed runs again after the restart, once.
func TestSQLiteRestartRerunsHeldJob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		job  store.Job
	}{
		{"reconcile", availableNow(reconcileJob("web", start.Add(time.Minute)))},
		{"canary cleanup", cleanupJob(4242)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
			clock := testutil.NewClock(start)
			held, release := make(chan struct{}), make(chan struct{})
			defer close(release)
			a := startReplica(t, url, clock, newCountingDeployer(), holdFirst(tc.job.Kind, anyArgs, held, release))
			require.NoError(t, a.st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
				return tx.JobInsert(ctx, tc.job)
			}))
			waitSignal(t, held, "the first process to take the job")
			a.kill(t)
			ran := make(chan any, 10)
			b := startReplica(t, url, clock, newCountingDeployer(), func(_ context.Context, kind string, args any) bool {
				if kind != tc.job.Kind {
					return true
				}
				ran <- args
				return kind != CanaryCleanupArgs{}.Kind() // its canary does not exist
			})
			require.Equal(t, tc.job.Args, waitSignal(t, ran, "the job after the restart"))
			require.Len(t, eventsOf(t, b.st, pipeline.EventJobRescued), 1)
			require.Eventually(t, func() bool {
				jobs, err := b.st.JobList(context.Background(), &store.JobListParams{Kinds: []string{tc.job.Kind},
					States: []string{store.JobStateCompleted}})
				return err == nil && len(jobs) == 1
			}, 30*time.Second, 5*time.Millisecond)
			require.Empty(t, ran, "the job ran once")
		})
	}
}

// TestRecoveryGivesUpAfterMaxAttempts: a running deployment whose worker
// keeps going silent is retried up to MaxAttempts, then failed, each step
// an event.
func TestRecoveryGivesUpAfterMaxAttempts(t *testing.T) {
	t.Parallel()
	url := "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	clock := testutil.NewClock(start)
	b := startReplica(t, url, clock, newCountingDeployer(), func(context.Context, string, any) bool { return false })
	_, err := b.e.CreateRelease(context.Background(), "ci", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	deps, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, deps, 1)
	id := deps[0].ID
	for attempt := 1; attempt <= pipeline.MaxAttempts; attempt++ {
		// The attempt's worker starts it and dies.
		require.NoError(t, b.st.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
			_, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: id, Attempt: attempt,
				FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending}, State: pipeline.DeploymentRunning,
				StartedAt: clock.Now(), Heartbeat: clock.Now()})
			return err
		}))
		clock.Add(b.e.opts.HeartbeatTimeout + time.Second)
		require.NoError(t, b.e.recovery.runOnce(context.Background()))
	}
	got, err := b.st.DeploymentGet(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentFailed, got.State)
	require.Contains(t, got.Error, "giving up after 3 attempts")
	require.Len(t, eventsOf(t, b.st, pipeline.EventDeploymentInterrupted), pipeline.MaxAttempts-1)
	var gaveUp int
	for _, ev := range eventsOf(t, b.st, pipeline.EventDeploymentFailed) {
		if ev.Data["gave_up"] == true {
			gaveUp++
		}
	}
	require.Equal(t, 1, gaveUp)
}

// now makes a job available at once whatever the test's clock says.
func availableNow(j store.Job) store.Job {
	j.ScheduledAt = time.Time{}
	return j
}

// TestQueuesMatchTheStore keeps the engine's queue names and the ones the
// store's job workers run in step.
func TestQueuesMatchTheStore(t *testing.T) {
	t.Parallel()
	require.Equal(t, QueueDeploy, sqlstore.QueueDeploy)
	require.Equal(t, QueueDefault, sqlstore.QueueDefault)
	require.Equal(t, QueueGitHub, sqlstore.QueueGitHub)
	require.Equal(t, QueueNotify, sqlstore.QueueNotify)
}
