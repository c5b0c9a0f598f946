package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// labelledConfig is testConfig's two services labelled for the payments
// team (api also tier 1), and docs of the growth team; services adds more.
func labelledConfig(services ...config.Service) *config.Config {
	cfg := testConfig()
	cfg.Services[0].Labels = map[string]string{"team": "payments"}
	cfg.Services[1].Labels = map[string]string{"team": "payments", "tier": "1"}
	docs := cfg.Services[0]
	docs.Name, docs.Labels = "docs", map[string]string{"team": "growth"}
	cfg.Services = append(cfg.Services, docs)
	cfg.Services = append(cfg.Services, services...)
	return cfg
}

// releaseBaked creates version on each service, deploys it to staging and
// moves the clock past its bake; the next decision may promote it.
func (b *testBundle) releaseBaked(t *testing.T, version string, services ...string) {
	t.Helper()
	ctx := context.Background()
	for _, svc := range services {
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: svc, Version: version})
		require.NoError(t, err)
		b.settle(t, svc)
		require.Equal(t, version, b.version(t, svc, "staging"))
	}
	b.clock.Set(b.clock.Now().Add(testBake))
	for _, svc := range services {
		require.NoError(t, b.e.Reconcile(ctx, svc))
		b.settle(t, svc)
	}
}

// TestSelectorLockHoldsMatchingServices: one lock record on team=payments
// holds web and api and not docs; after a reload it holds billing (added,
// matching) and no longer api (relabelled); unlocking web alone names the
// selector lock; unlocking the selector (spelled otherwise) lets them go.
func TestSelectorLockHoldsMatchingServices(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, labelledConfig())
		ctx := context.Background()
		l, err := b.e.Lock(ctx, "ana", LockParams{Selector: "team=payments", Environment: "production", Reason: "card network freeze"})
		require.NoError(t, err)
		require.Equal(t, "team=payments", l.Selector)
		require.Equal(t, "", l.Service, "one lock for the selector, not one per service")
		held, err := b.st.LockList(ctx, &store.LockListParams{})
		require.NoError(t, err)
		require.Len(t, held, 1)

		b.releaseBaked(t, "v1", "web", "api", "docs")
		require.Equal(t, "", b.version(t, "web", "production"), "web matches: held")
		require.Equal(t, "", b.version(t, "api", "production"), "api matches: held")
		require.Equal(t, "v1", b.version(t, "docs", "production"), "docs does not match: not held")
		_, d, err := b.e.Status(ctx, "web")
		require.NoError(t, err)
		require.Equal(t, pipeline.WaitLock, d.Environments[1].Wait.Kind)
		require.Contains(t, d.Environments[1].Wait.Message, "locked: team=payments/production by ana: card network freeze")
		require.Len(t, d.Environments[1].Locks, 1)
		require.Equal(t, "team=payments", d.Environments[1].Locks[0].Selector)

		// A reload adds billing (matching) and moves api to another team.
		billing := b.cfg.Services[0]
		billing.Name, billing.Labels = "billing", map[string]string{"team": "payments", "tier": "2"}
		cfg := labelledConfig(billing)
		cfg.Services[1].Labels = map[string]string{"team": "core"}
		b.e.SetConfig(ctx, cfg)
		b.settle(t, "api")
		require.Equal(t, "v1", b.version(t, "api", "production"), "api stopped matching: the reload let it go")
		b.releaseBaked(t, "v1", "billing")
		require.Equal(t, "", b.version(t, "billing", "production"), "billing, added by the reload, matches: held")

		_, err = b.e.Unlock(ctx, "ben", "web", "production", "")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, "the selector lock team=payments/production by ana holds it (bakery unlock --selector team=payments production)")
		_, err = b.e.UnlockSelector(ctx, "ben", "team=growth", "production", "")
		require.ErrorIs(t, err, ErrNotFound)
		require.ErrorContains(t, err, "team=growth/production is not locked; the selector locks held on production are team=payments")

		released, err := b.e.UnlockSelector(ctx, "ben", " team = payments ", "production", "freeze over")
		require.NoError(t, err)
		require.Equal(t, l.ID, released.ID)
		for _, svc := range []string{"web", "billing"} {
			b.settle(t, svc)
			require.Equal(t, "v1", b.version(t, svc, "production"), "%s goes at the unlock", svc)
		}

		events, err := b.st.EventList(ctx, &store.EventListParams{Limit: 10000})
		require.NoError(t, err)
		var placed, unlocked *pipeline.Event
		for i, ev := range events {
			switch ev.Type {
			case pipeline.EventLockPlaced:
				placed = &events[i]
			case pipeline.EventLockReleased:
				unlocked = &events[i]
			}
		}
		require.NotNil(t, placed)
		require.NotNil(t, unlocked)
		for _, ev := range []*pipeline.Event{placed, unlocked} {
			require.Equal(t, "team=payments", ev.Data["selector"], "%s names the selector", ev.Type)
			require.Equal(t, pipeline.AllServices, ev.Service, "%s is about more than one service", ev.Type)
		}
	})
}

// TestSelectorLockInput: the selector is stored canonical (key order and
// spaces do not matter), bad selectors and a service with a selector are
// refused with what to do, and a selector matching nothing is allowed.
func TestSelectorLockInput(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", labelledConfig())
	ctx := context.Background()
	l, err := b.e.Lock(ctx, "ana", LockParams{Selector: "tier=1, team=payments", Environment: "production", Reason: "tier 1 freeze",
		Expires: 2 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, "team=payments,tier=1", l.Selector)
	require.Equal(t, start.Add(2*time.Hour), l.ExpiresAt)
	_, err = b.e.Lock(ctx, "bo", LockParams{Selector: "team=payments,tier=1", Environment: "production", Reason: "again"})
	require.ErrorIs(t, err, ErrConflict)
	require.ErrorContains(t, err, "team=payments,tier=1/production is locked already by ana")

	_, err = b.e.Lock(ctx, "ana", LockParams{Selector: "team", Environment: "production", Reason: "x"})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, `selector "team": "team" is not key=value, such as team=payments`)
	_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Selector: "team=payments", Environment: "production", Reason: "x"})
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorContains(t, err, "give a service or a selector, not both")
	_, err = b.e.Lock(ctx, "ana", LockParams{Selector: "team=payments", Environment: "prod", Reason: "x"})
	require.ErrorIs(t, err, ErrUnknownEnvironment)

	none, err := b.e.Lock(ctx, "ana", LockParams{Selector: "team=search", Environment: "production", Reason: "before the search team moves in"})
	require.NoError(t, err, "a selector that matches nothing now may still lock: it holds services added later")
	names, err := b.e.MatchingServices(none.Selector, "production")
	require.NoError(t, err)
	require.Empty(t, names)
	names, err = b.e.MatchingServices("team=payments", "production")
	require.NoError(t, err)
	require.Equal(t, []string{"api", "web"}, names)

	// Only api is tier 1: web goes, api waits.
	b.releaseBaked(t, "v1", "web", "api")
	require.Equal(t, "v1", b.version(t, "web", "production"))
	require.Equal(t, "", b.version(t, "api", "production"))
	// The lock expires by itself, on the record, and api goes.
	b.clock.Set(start.Add(3 * time.Hour))
	require.NoError(t, b.e.Reconcile(ctx, "api"))
	b.settle(t, "api")
	require.Equal(t, "v1", b.version(t, "api", "production"), "the selector lock expired")
	_, err = b.e.UnlockSelector(ctx, "ana", "team=payments,tier=1", "production", "")
	require.ErrorIs(t, err, ErrNotFound, "an expired lock is released already")
}

// TestSkipBakeSelector: the bakes of every matching service end, each on
// the record with the selector; a matching service with nothing waiting
// is reported, and a selector matching nothing is an error.
func TestSkipBakeSelector(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", labelledConfig())
	ctx := context.Background()
	_, err := b.e.SkipBakeSelector(ctx, "ana", "team=search", "production", "sure")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorContains(t, err, "selector team=search matches no service with production")
	_, err = b.e.SkipBakeSelector(ctx, "ana", "team=payments", "production", "sure")
	require.ErrorIs(t, err, ErrConflict, "nothing waits anywhere")
	_, err = b.e.SkipBakeSelector(ctx, "ana", "team=payments", "production", "")
	require.ErrorContains(t, err, "needs a reason")
	_, err = b.e.SkipBakeSelector(ctx, "ana", "team=", "production", "x")
	require.ErrorIs(t, err, ErrInvalid)

	for _, svc := range []string{"web", "docs"} {
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: svc, Version: "v1"})
		require.NoError(t, err)
		b.settle(t, svc)
	}
	out, err := b.e.SkipBakeSelector(ctx, "ana", "team=payments", "production", "config-only change")
	require.NoError(t, err)
	require.Len(t, out, 2)
	require.Equal(t, "api", out[0].Service)
	require.False(t, out[0].Skipped)
	require.Contains(t, out[0].Why, "no release is waiting to enter api/production")
	require.Equal(t, "web", out[1].Service)
	require.True(t, out[1].Skipped)
	require.Equal(t, "v1", out[1].Release.Version)
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "production"), "promoted before its bake ended")
	require.Equal(t, "", b.version(t, "docs", "production"), "docs does not match: it still bakes")
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
	require.Equal(t, "team=payments", skipped.Data["selector"])
	require.Equal(t, "config-only change", skipped.Reason)
}

// TestSelectorLockRacesDeadline is rule 3 for a selector lock: a lock on
// team=payments and web's bake deadline fire together, many times. Once
// Lock has returned no promotion of web into production starts; one
// decided before may finish. The test fails unless it saw both
// interleavings.
func TestSelectorLockRacesDeadline(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, labelledConfig())
		ctx := context.Background()
		promotedFirst, lockedFirst := 0, 0
		for i := 0; i < raceRounds && (promotedFirst < minEachWay || lockedFirst < minEachWay); i++ {
			version := fmt.Sprintf("v%d", i)
			_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: version})
			require.NoError(t, err)
			b.settle(t, "web")
			b.clock.Set(b.clock.Now().Add(testBake))

			var wg sync.WaitGroup
			gate := make(chan struct{})
			var reconcileErr, lockErr error
			var lockedAt int64
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				reconcileErr = b.e.Reconcile(ctx, "web")
			}()
			go func() {
				defer wg.Done()
				<-gate
				_, lockErr = b.e.Lock(ctx, "ana", LockParams{Selector: "team=payments", Environment: "production", Reason: "race"})
			}()
			close(gate)
			wg.Wait()
			require.NoError(t, reconcileErr)
			require.NoError(t, lockErr)
			for k := 0; k < 3; k++ {
				require.NoError(t, b.e.Reconcile(ctx, "web"))
			}
			events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web", Limit: 100000})
			require.NoError(t, err)
			var decidedID int64
			for _, e := range events {
				if e.Type == pipeline.EventLockPlaced && e.Data["selector"] == "team=payments" && e.ID > decidedIDBefore(events, version) && lockedAt == 0 {
					lockedAt = e.ID
				}
				if e.Type == pipeline.EventPromotionDecided && e.Environment == "production" && e.Version == version {
					decidedID = e.ID
				}
			}
			require.NotZero(t, lockedAt)
			deps := b.deploymentsOf(t, "web", "production", version)
			if len(deps) == 0 {
				lockedFirst++
				require.Zero(t, decidedID)
				_, d, err := b.e.Status(ctx, "web")
				require.NoError(t, err)
				require.Equal(t, pipeline.WaitLock, d.Environments[1].Wait.Kind)
				require.Equal(t, version, d.Environments[1].Wait.Version)
			} else {
				promotedFirst++
				require.Len(t, deps, 1)
				require.Less(t, decidedID, lockedAt, "a promotion started after the selector lock was acknowledged")
			}
			b.settle(t, "web")
			_, err = b.e.UnlockSelector(ctx, "ana", "team=payments", "production", "race over")
			require.NoError(t, err)
			b.settle(t, "web")
			require.Equal(t, version, b.version(t, "web", "production"), "unlocking promotes what the lock held")
			require.Len(t, b.deploymentsOf(t, "web", "production", version), 1, "and only once")
		}
		t.Logf("FIGURE %s: selector lock race, promotion first %d times, lock first %d times", db, promotedFirst, lockedFirst)
		require.GreaterOrEqual(t, promotedFirst, minEachWay, "the promotion never won the race")
		require.GreaterOrEqual(t, lockedFirst, minEachWay, "the lock never won the race")
	})
}
