package engine

import (
	"context"
	"fmt"
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

// fakeClock is the engine's clock in tests: time moves only when the test
// says so.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type testBundle struct {
	reg   *prometheus.Registry
	e     *Engine
	st    store.Store
	clock *fakeClock
	cfg   *config.Config
}

const testBake = time.Hour

var start = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func testConfig() *config.Config {
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	return &config.Config{Services: []config.Service{
		{Name: "web", Environments: []config.Environment{env("staging", 0), env("production", testBake)}},
		{Name: "api", Environments: []config.Environment{env("staging", 0), env("production", testBake)}},
	}}
}

func setup(t *testing.T, db string, cfg *config.Config) *testBundle {
	t.Helper()
	var url string
	if db == "postgres" {
		url = testutil.NewPostgresDB(t)
	} else {
		url = "sqlite://" + filepath.Join(t.TempDir(), "bakery.db")
	}
	clock := &fakeClock{t: start}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	e := New(Options{Config: cfg, Clock: clock, Deployer: deploy.Exec{}, Logger: log, Registerer: reg})
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, url, sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	return &testBundle{e: e, st: st, clock: clock, cfg: cfg, reg: reg}
}

// settle waits until no deployment of service is pending or running.
func (b *testBundle) settle(t *testing.T, service string) {
	t.Helper()
	require.Eventually(t, func() bool {
		active, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: service,
			States: []pipeline.DeploymentState{pipeline.DeploymentPending, pipeline.DeploymentRunning}})
		require.NoError(t, err)
		return len(active) == 0
	}, 20*time.Second, 5*time.Millisecond)
}

func (b *testBundle) version(t *testing.T, service, env string) string {
	t.Helper()
	_, d, err := b.e.Status(context.Background(), service)
	require.NoError(t, err)
	for _, e := range d.Environments {
		if e.Name == env && e.Current != nil {
			return e.Current.Version
		}
	}
	return ""
}

func (b *testBundle) deploymentsOf(t *testing.T, service, env, version string) []pipeline.Deployment {
	t.Helper()
	deps, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: service, Environment: env, Limit: 1000})
	require.NoError(t, err)
	var out []pipeline.Deployment
	for _, d := range deps {
		if d.Version == version {
			out = append(out, d)
		}
	}
	return out
}

func forBoth(t *testing.T, fn func(t *testing.T, db string)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			fn(t, db)
		})
	}
}

// raceRounds bounds the rounds of a race test: it runs until it has seen
// both interleavings at least minEachWay times, and fails if it has not by
// then.
const (
	raceRounds = 200
	minEachWay = 3
)

// TestLockRacesDeadline is rule 3: a lock and a bake deadline fire
// together, many times. Whatever the interleaving, once Lock has returned
// no promotion into production starts; a promotion decided before the lock
// may finish, and is on the record before it. The test fails unless it saw
// both interleavings (promotion first, lock first).
func TestLockRacesDeadline(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, testConfig())
		ctx := context.Background()
		promotedFirst, lockedFirst := 0, 0
		for i := 0; i < raceRounds && (promotedFirst < minEachWay || lockedFirst < minEachWay); i++ {
			version := fmt.Sprintf("v%d", i)
			_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: version})
			require.NoError(t, err)
			b.settle(t, "web")
			require.Equal(t, version, b.version(t, "web", "staging"))
			b.clock.Set(b.clock.Now().Add(testBake)) // the deadline is now

			// Both goroutines wait at the gate, so that they start as
			// close together as the scheduler allows; their errors are
			// checked here, in the test's goroutine.
			var wg sync.WaitGroup
			gate := make(chan struct{})
			var reconcileErr, lockErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				reconcileErr = b.e.Reconcile(ctx, "web") // the deadline's timer
			}()
			go func() {
				defer wg.Done()
				<-gate
				_, lockErr = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "race"})
			}()
			close(gate)
			wg.Wait()
			require.NoError(t, reconcileErr)
			require.NoError(t, lockErr)
			// After the lock returned, more deadlines fire: none may start
			// a promotion.
			for k := 0; k < 3; k++ {
				require.NoError(t, b.e.Reconcile(ctx, "web"))
			}
			events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web", Limit: 100000})
			require.NoError(t, err)
			var lockID, decidedID int64
			for _, e := range events {
				if e.Type == pipeline.EventLockPlaced && lockID == 0 && e.ID > decidedIDBefore(events, version) {
					lockID = e.ID
				}
				if e.Type == pipeline.EventPromotionDecided && e.Environment == "production" && e.Version == version {
					decidedID = e.ID
				}
			}
			require.NotZero(t, lockID)
			deps := b.deploymentsOf(t, "web", "production", version)
			if len(deps) == 0 {
				lockedFirst++
				require.Zero(t, decidedID)
				// Not only did nothing start: the decision says the lock
				// holds the ready release.
				_, d, err := b.e.Status(ctx, "web")
				require.NoError(t, err)
				require.Equal(t, pipeline.WaitLock, d.Environments[1].Wait.Kind)
				require.Equal(t, version, d.Environments[1].Wait.Version)
				require.Contains(t, d.Environments[1].Wait.Message, "race")
			} else {
				promotedFirst++
				require.Len(t, deps, 1)
				require.Less(t, decidedID, lockID, "a promotion started after the lock was acknowledged")
			}
			b.settle(t, "web")
			_, err = b.e.Unlock(ctx, "ana", "web", "production", "race over")
			require.NoError(t, err)
			b.settle(t, "web")
			require.Equal(t, version, b.version(t, "web", "production"), "unlocking promotes what the lock held")
			require.Len(t, b.deploymentsOf(t, "web", "production", version), 1, "and only once")
		}
		t.Logf("%s: promotion first %d times, lock first %d times", db, promotedFirst, lockedFirst)
		require.GreaterOrEqual(t, promotedFirst, minEachWay, "the promotion never won the race: the test proves nothing about a promotion decided just before a lock")
		require.GreaterOrEqual(t, lockedFirst, minEachWay, "the lock never won the race: the test proves nothing about a lock that lands first")
	})
}

// decidedIDBefore is the id of the last event about version before its
// race (its staging success), so that the race's lock event is told apart
// from earlier rounds' locks.
func decidedIDBefore(events []pipeline.Event, version string) int64 {
	var id int64
	for _, e := range events {
		if e.Type == pipeline.EventDeploymentSucceeded && e.Environment == "staging" && e.Version == version {
			id = e.ID
		}
	}
	return id
}

// TestLockHoldsProductionNotStaging: lock production, release twice;
// staging gets both, production none; unlock: production gets the newest.
func TestLockHoldsProductionNotStaging(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, testConfig())
		ctx := context.Background()
		_, err := b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "incident 7"})
		require.NoError(t, err)
		for _, v := range []string{"a", "b"} {
			_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: v})
			require.NoError(t, err)
			b.settle(t, "web")
			require.Equal(t, v, b.version(t, "web", "staging"))
			b.clock.Set(b.clock.Now().Add(time.Minute))
		}
		b.clock.Set(b.clock.Now().Add(2 * testBake))
		require.NoError(t, b.e.Reconcile(ctx, "web"))
		b.settle(t, "web")
		require.Equal(t, "", b.version(t, "web", "production"))
		_, d, err := b.e.Status(ctx, "web")
		require.NoError(t, err)
		require.Equal(t, pipeline.WaitLock, d.Environments[1].Wait.Kind)
		require.Contains(t, d.Environments[1].Wait.Message, "incident 7")
		require.Len(t, d.Environments[1].Queue, 2)

		// The other service is not locked.
		_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "api", Version: "x"})
		require.NoError(t, err)
		b.settle(t, "api")
		b.clock.Set(b.clock.Now().Add(testBake))
		require.NoError(t, b.e.Reconcile(ctx, "api"))
		b.settle(t, "api")
		require.Equal(t, "x", b.version(t, "api", "production"))

		_, err = b.e.Unlock(ctx, "ben", "web", "production", "fixed")
		require.NoError(t, err)
		b.settle(t, "web")
		require.Equal(t, "b", b.version(t, "web", "production"), "the newest baked release goes at unlock")
		require.Empty(t, b.deploymentsOf(t, "web", "production", "a"), "a is superseded, never deployed")

		// Errors that say what to do, and nothing half-applied.
		_, err = b.e.Unlock(ctx, "ben", "web", "production", "")
		require.ErrorIs(t, err, ErrNotFound)
		_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production"})
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, "needs a reason")
		_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "prod", Reason: "x"})
		require.ErrorIs(t, err, ErrUnknownEnvironment)
		require.ErrorContains(t, err, "staging, production")
		_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "again"})
		require.NoError(t, err)
		_, err = b.e.Lock(ctx, "bo", LockParams{Service: "web", Environment: "production", Reason: "twice"})
		require.ErrorIs(t, err, ErrConflict)
		require.ErrorContains(t, err, "locked already by ana")
	})
}

// TestLockAllServicesAndExpiry: the incident button locks every service;
// an expiring lock lets promotion resume by itself at its expiry.
func TestLockAllServicesAndExpiry(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	l, err := b.e.Lock(ctx, "ana", LockParams{Service: pipeline.AllServices, Environment: "production", Reason: "incident", Expires: 3 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, start.Add(3*time.Hour), l.ExpiresAt)
	for _, svc := range []string{"web", "api"} {
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: svc, Version: "v1"})
		require.NoError(t, err)
		b.settle(t, svc)
	}
	b.clock.Set(start.Add(2 * time.Hour))
	for _, svc := range []string{"web", "api"} {
		require.NoError(t, b.e.Reconcile(ctx, svc))
		b.settle(t, svc)
		require.Equal(t, "", b.version(t, svc, "production"), "%s is held by the lock on every service", svc)
		_, d, err := b.e.Status(ctx, svc)
		require.NoError(t, err)
		require.Equal(t, start.Add(3*time.Hour), d.NextCheck, "the expiry is a wake-up")
	}
	// Unlocking one service does not release the lock on every service.
	_, err = b.e.Unlock(ctx, "ana", "web", "production", "")
	require.ErrorContains(t, err, "unlock --all production")

	b.clock.Set(start.Add(3 * time.Hour))
	for _, svc := range []string{"web", "api"} {
		require.NoError(t, b.e.Reconcile(ctx, svc))
		b.settle(t, svc)
		require.Equal(t, "v1", b.version(t, svc, "production"))
	}
	events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web"})
	require.NoError(t, err)
	var expired int
	for _, e := range events {
		if e.Type == pipeline.EventLockExpired {
			expired++
			require.Equal(t, pipeline.ActorSystem, e.Actor)
		}
	}
	require.Equal(t, 1, expired, "the expiry is on the record once")
}

// TestSkipBake is rule 5: the newest waiting release counts as baked now;
// a lock still holds it.
func TestSkipBake(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	_, err := b.e.SkipBake(ctx, "ana", "web", "production", "sure")
	require.ErrorIs(t, err, ErrConflict, "nothing is waiting")
	for _, v := range []string{"a", "b"} {
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: v})
		require.NoError(t, err)
		b.settle(t, "web")
	}
	_, err = b.e.SkipBake(ctx, "ana", "web", "production", "")
	require.ErrorContains(t, err, "needs a reason")
	_, err = b.e.SkipBake(ctx, "ana", "web", "staging", "x")
	require.ErrorContains(t, err, "has no bake")

	_, err = b.e.Lock(ctx, "ben", LockParams{Service: "web", Environment: "production", Reason: "hold"})
	require.NoError(t, err)
	rel, err := b.e.SkipBake(ctx, "ana", "web", "production", "verified on staging")
	require.NoError(t, err)
	require.Equal(t, "b", rel.Version, "the newest waiting release")
	b.settle(t, "web")
	require.Equal(t, "", b.version(t, "web", "production"), "a lock still holds a skipped bake")
	_, err = b.e.Unlock(ctx, "ben", "web", "production", "")
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "b", b.version(t, "web", "production"), "promoted before its bake ended")
	require.Equal(t, start, b.clock.Now())
	events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web"})
	require.NoError(t, err)
	var skipped *pipeline.Event
	for i := range events {
		if events[i].Type == pipeline.EventBakeSkipped {
			skipped = &events[i]
		}
	}
	require.NotNil(t, skipped)
	require.Equal(t, "ana", skipped.Actor)
	require.Equal(t, "verified on staging", skipped.Reason)
}

// TestEmergencyDuringLock is rule 6: an emergency deploy passes a lock,
// skips staging and the bake, is recorded, and leaves production locked.
func TestEmergencyDuringLock(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, testConfig())
		ctx := context.Background()
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
		require.NoError(t, err)
		b.settle(t, "web")
		_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "regression"})
		require.NoError(t, err)

		_, err = b.e.Emergency(ctx, "ana", EmergencyParams{Service: "web", Version: "fix1"})
		require.ErrorContains(t, err, "needs a reason")
		_, err = b.e.Emergency(ctx, "ana", EmergencyParams{Service: "web", Version: "fix1", Reason: "revert"})
		require.ErrorContains(t, err, "pass --artifact")

		dep, err := b.e.Emergency(ctx, "ana", EmergencyParams{Service: "web", Version: "fix1", Artifact: "img:fix1", Reason: "revert the parser"})
		require.NoError(t, err)
		require.Equal(t, "production", dep.Environment)
		require.Equal(t, pipeline.KindEmergency, dep.Kind)
		b.settle(t, "web")
		require.Equal(t, "fix1", b.version(t, "web", "production"))
		// Production did not wait for staging or a bake; staging then
		// catches up with the fix by itself, like any new release.
		require.Equal(t, "fix1", b.version(t, "web", "staging"))
		_, d, err := b.e.Status(ctx, "web")
		require.NoError(t, err)
		require.Len(t, d.Environments[1].Locks, 1, "the incident lock still holds")

		// Without a prior lock, the emergency deploy places one.
		_, err = b.e.Unlock(ctx, "ana", "web", "production", "")
		require.NoError(t, err)
		b.settle(t, "web")
		require.Equal(t, "fix1", b.version(t, "web", "production"), "a, older, is not promoted over the fix")
		_, err = b.e.Emergency(ctx, "ana", EmergencyParams{Service: "web", Version: "fix2", Artifact: "img:fix2", Reason: "second fix"})
		require.NoError(t, err)
		b.settle(t, "web")
		_, d, err = b.e.Status(ctx, "web")
		require.NoError(t, err)
		require.Len(t, d.Environments[1].Locks, 1)
		require.Equal(t, "emergency deploy of fix2", d.Environments[1].Locks[0].Reason)

		// A newer baked release waits for someone to unlock.
		_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "c"})
		require.NoError(t, err)
		b.settle(t, "web")
		b.clock.Set(b.clock.Now().Add(2 * testBake))
		require.NoError(t, b.e.Reconcile(ctx, "web"))
		b.settle(t, "web")
		require.Equal(t, "fix2", b.version(t, "web", "production"), "the next automatic promotion cannot overwrite the fix")

		events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web"})
		require.NoError(t, err)
		var emergencies int
		for _, e := range events {
			if e.Type == pipeline.EventEmergencyDecided {
				emergencies++
				require.Equal(t, "ana", e.Actor)
				require.NotEmpty(t, e.Reason)
			}
		}
		require.Equal(t, 2, emergencies)
	})
}

// TestRollback is rule 7: roll back to the previous good release; the
// rejected one is never promoted again, a newer one is.
func TestRollback(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, testConfig())
		ctx := context.Background()
		_, _, err := b.e.Rollback(ctx, "ana", RollbackParams{Service: "web", Environment: "production", Reason: "x"})
		require.ErrorContains(t, err, "runs nothing yet")
		for _, v := range []string{"a", "b"} {
			_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: v})
			require.NoError(t, err)
			b.settle(t, "web")
			b.clock.Set(b.clock.Now().Add(testBake))
			require.NoError(t, b.e.Reconcile(ctx, "web"))
			b.settle(t, "web")
			require.Equal(t, v, b.version(t, "web", "production"))
		}
		dep, rejected, err := b.e.Rollback(ctx, "ana", RollbackParams{Service: "web", Environment: "production", Reason: "diffs do not load"})
		require.NoError(t, err)
		require.Equal(t, "a", dep.Version)
		require.Equal(t, "b", rejected.Version)
		b.settle(t, "web")
		require.Equal(t, "a", b.version(t, "web", "production"))
		b.clock.Set(b.clock.Now().Add(3 * testBake))
		require.NoError(t, b.e.Reconcile(ctx, "web"))
		b.settle(t, "web")
		require.Equal(t, "a", b.version(t, "web", "production"), "the rejected release is not promoted again")

		_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "c"})
		require.NoError(t, err)
		b.settle(t, "web")
		b.clock.Set(b.clock.Now().Add(testBake))
		require.NoError(t, b.e.Reconcile(ctx, "web"))
		b.settle(t, "web")
		require.Equal(t, "c", b.version(t, "web", "production"), "a newer release promotes past the rejected one")

		dep, _, err = b.e.Rollback(ctx, "ana", RollbackParams{Service: "web", Environment: "production", To: "a", Reason: "back to a"})
		require.NoError(t, err)
		require.Equal(t, "a", dep.Version)
		b.settle(t, "web")
		_, _, err = b.e.Rollback(ctx, "ana", RollbackParams{Service: "web", Environment: "production", To: "a", Reason: "again"})
		require.ErrorContains(t, err, "runs a already")
		_, _, err = b.e.Rollback(ctx, "ana", RollbackParams{Service: "web", Environment: "production", To: "zzz", Reason: "x"})
		require.ErrorIs(t, err, ErrNotFound)
	})
}

// TestMetrics: deployments are counted by outcome and kind.
func TestMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	families, err := b.reg.Gather()
	require.NoError(t, err)
	counts := map[string]float64{}
	decisions := uint64(0)
	for _, f := range families {
		for _, m := range f.GetMetric() {
			switch f.GetName() {
			case "bakery_deploy_commands_total":
				labels := map[string]string{}
				for _, l := range m.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				counts[labels["environment"]+"/"+labels["kind"]+"/"+labels["state"]] += m.GetCounter().GetValue()
			case "bakery_decision_seconds":
				decisions += m.GetHistogram().GetSampleCount()
			}
		}
	}
	require.Equal(t, map[string]float64{"staging/auto/succeeded": 1, "production/auto/succeeded": 1}, counts)
	require.Positive(t, decisions)
}
