package engine

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// TestMutateIsOneUnitOfWork: what fn writes, the decision it leads to and
// its effects stand or fall together, and effects run only after the
// commit.
func TestMutateIsOneUnitOfWork(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	events := func() int {
		evs, err := b.st.EventList(ctx, &store.EventListParams{Service: "web", Limit: 1000})
		require.NoError(t, err)
		return len(evs)
	}
	before := events()

	// An error: nothing written, nothing run.
	boom := errors.New("boom")
	ran := false
	err := b.e.mutate(ctx, "web", func(u *unit) error {
		if _, err := u.tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "lost", CreatedAt: u.now}); err != nil {
			return err
		}
		require.NoError(t, u.event(&pipeline.Event{Type: pipeline.EventReleaseCreated, Service: "web", Version: "lost", Actor: "test"}))
		u.afterCommit(func(context.Context) { ran = true })
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.False(t, ran, "no effect of a unit that did not commit")
	require.Equal(t, before, events())
	_, err = b.st.ReleaseGet(ctx, "web", "lost")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Success: the change, its event and the decision in one commit; the
	// effect sees them committed.
	var seenByEffect *pipeline.Deployment
	err = b.e.mutate(ctx, "web", func(u *unit) error {
		require.Equal(t, b.clock.Now(), u.now, "the pass's time is the engine's clock")
		if _, err := u.tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "kept", CreatedAt: u.now}); err != nil {
			return err
		}
		if err := u.event(&pipeline.Event{Type: pipeline.EventReleaseCreated, Service: "web", Version: "kept", Actor: "test"}); err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) {
			deps, err := b.st.DeploymentList(ctx, &store.DeploymentListParams{Service: "web", Environment: "staging"})
			if err == nil && len(deps) == 1 {
				seenByEffect = &deps[0]
			}
		})
		return nil
	})
	require.NoError(t, err)
	require.NotNil(t, seenByEffect, "the effect ran after the commit and saw the decision it made")
	require.Equal(t, "kept", seenByEffect.Version, "the decision was taken again in the same unit of work")
	b.settle(t, "web")

	// noDecision: the change is committed, no decision follows it.
	err = b.e.mutate(ctx, "web", func(u *unit) error {
		u.noDecision()
		_, err := u.tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "quiet", CreatedAt: u.now})
		return err
	})
	require.NoError(t, err)
	_, err = b.st.ReleaseGet(ctx, "web", "quiet")
	require.NoError(t, err)
	require.Empty(t, b.deploymentsOf(t, "web", "staging", "quiet"), "no decision was taken for it")
}

// TestSweepIsDueOnTheEngineClock: the sweep reconciles every service at
// once, then not again until sweepEvery has passed on the engine's clock.
func TestSweepIsDueOnTheEngineClock(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	// The test drives the sweep, once the election (which resets it) is
	// over.
	require.Eventually(t, b.e.IsLeader, 10*time.Second, 5*time.Millisecond)
	b.e.sweep.Stop()
	ctx := context.Background()
	s := b.e.sweep
	s.forget()
	s.runOnce(ctx)
	first := s.last
	require.Equal(t, b.clock.Now(), first)
	b.clock.Set(first.Add(sweepEvery))
	s.runOnce(ctx)
	require.Equal(t, first, s.last, "not due before sweepEvery has passed")
	b.clock.Set(first.Add(sweepEvery + time.Second))
	s.runOnce(ctx)
	require.Equal(t, first.Add(sweepEvery+time.Second), s.last, "due once it has")
}

// TestCheckServiceRunsOnItsInterval: the checks service runs a check when
// a release waits behind it, then not again until its interval has passed
// on the engine's clock, however often it looks.
func TestCheckServiceRunsOnItsInterval(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(app.Close)
	cfg := testConfig()
	cfg.Services[0].Environments[1].Checks = []check.Spec{
		{Name: "staging-health", Interval: time.Minute, HTTP: &check.HTTPSpec{URL: app.URL + "/healthz", ExpectStatus: 200}},
	}
	b := setup(t, "sqlite", cfg)
	b.e.checks.Stop() // the test drives it
	ctx := context.Background()
	s := b.e.checks

	s.runOnce(ctx)
	s.work.Wait()
	require.Zero(t, hits.Load(), "nothing waits behind production: no check runs")

	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	s.runOnce(ctx)
	s.work.Wait()
	require.Equal(t, int64(1), hits.Load(), "a release bakes below production: its check runs")

	for range 3 {
		s.runOnce(ctx)
		s.work.Wait()
	}
	require.Equal(t, int64(1), hits.Load(), "not again within its interval")

	b.clock.Set(b.clock.Now().Add(time.Minute))
	s.runOnce(ctx)
	s.work.Wait()
	require.Equal(t, int64(2), hits.Load(), "again once its interval has passed on the engine's clock")
}

// TestWeightServiceRetriesOnTheEngineClock: a set_weight that failed is
// tried again by the weights service, at most every weightRetryAfter on
// the engine's clock, until it applies.
func TestWeightServiceRetriesOnTheEngineClock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	calls, ok := dir+"/calls", dir+"/ok"
	script := dir + "/set-weight.sh"
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$BAKERY_CANARY_WEIGHT\" >> "+calls+"\n[ -f "+ok+" ]\n"), 0o755))
	health := newBackend(t, "canary")
	env := func(name string) config.Environment {
		return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	prod := env("production")
	prod.Canary = &config.Canary{
		Deploy:    config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		SetWeight: &config.Deploy{Command: []string{script}, Timeout: time.Minute},
		Steps:     []config.CanaryStep{{Weight: 20, For: time.Hour}},
		Analysis: config.Analysis{Interval: time.Hour, Checks: []check.Spec{
			{Name: "canary-health", Timeout: 2 * time.Second, HTTP: &check.HTTPSpec{URL: health.srv.URL + "/", ExpectStatus: 200}},
		}},
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging"), prod}}}}
	w := &canaryWorld{testBundle: setup(t, "sqlite", cfg)}
	w.e.weights.Stop() // the test drives it
	w.e.judge.Stop()
	ctx := context.Background()
	read := func() string { b, _ := os.ReadFile(calls); return string(b) }

	c := w.startCanary(t)
	require.Eventually(t, func() bool { return read() == "20\n" }, 10*time.Second, 5*time.Millisecond,
		"the canary's start applies its weight (and the command fails)")
	s := w.e.weights
	retry := func() {
		s.runOnce(ctx)
		s.work.Wait()
	}
	retry()
	require.Equal(t, "20\n20\n", read(), "a weight not applied is tried again")
	require.NoError(t, os.WriteFile(ok, nil, 0o644))
	retry()
	retry()
	require.Equal(t, "20\n20\n", read(), "not again before weightRetryAfter has passed on the engine's clock")
	require.NotEqual(t, 20, w.canaryNow(t).AppliedWeight, "not applied yet")

	w.clock.Set(w.clock.Now().Add(weightRetryAfter))
	retry()
	require.Equal(t, "20\n20\n20\n", read())
	require.Equal(t, 20, w.canaryNow(t).AppliedWeight, "applied, and on the record")
	retry()
	w.clock.Set(w.clock.Now().Add(weightRetryAfter))
	retry()
	require.Equal(t, "20\n20\n20\n", read(), "an applied weight is not applied again")
	evs, err := w.st.EventList(ctx, &store.EventListParams{Service: "web", Limit: 1000})
	require.NoError(t, err)
	failed := 0
	for _, ev := range evs {
		if ev.Type == pipeline.EventCanaryWeight && ev.DeploymentID == c.DeploymentID {
			failed++
		}
	}
	require.Equal(t, 2, failed, "each failure is on the record")
}

// TestJudgeServiceJudgesWhenDue: the judge service judges a running canary
// when its step's time is up on the engine's clock, not before, however
// often it looks.
func TestJudgeServiceJudgesWhenDue(t *testing.T) {
	t.Parallel()
	health := newBackend(t, "canary")
	env := func(name string) config.Environment {
		return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	prod := env("production")
	prod.Canary = &config.Canary{
		Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		Steps:  []config.CanaryStep{{Weight: 10, For: 10 * time.Minute}, {Weight: 50, For: 10 * time.Minute}},
		Analysis: config.Analysis{Interval: time.Hour, Checks: []check.Spec{
			{Name: "canary-health", Timeout: 2 * time.Second, HTTP: &check.HTTPSpec{URL: health.srv.URL + "/", ExpectStatus: 200}},
		}},
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging"), prod}}}}
	w := &canaryWorld{testBundle: setup(t, "sqlite", cfg)}
	w.e.judge.Stop() // the test drives it
	ctx := context.Background()
	s := w.e.judge
	judge := func() {
		s.runOnce(ctx)
		s.work.Wait()
	}

	c := w.startCanary(t)
	for range 3 {
		judge()
	}
	require.Empty(t, w.judgements(t, c), "not judged before its step's time is up")

	w.clock.Set(w.clock.Now().Add(10 * time.Minute))
	judge()
	js := w.judgements(t, c)
	require.Len(t, js, 1, "judged once its step's time is up")
	require.Equal(t, pipeline.VerdictPass, js[0].Verdict, js[0].Reason)
	c = w.canaryNow(t)
	require.Equal(t, 1, c.Step, "and the passing judgement moved it on")
	require.Equal(t, 50, c.Weight)
	judge()
	require.Len(t, w.judgements(t, c), 1, "not again until the next step's time is up")
}
