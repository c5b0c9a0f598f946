package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/analysis/judge"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// backend is one version's real HTTP server; failPct of its requests (by
// count) answer 500.
type backend struct {
	srv     *httptest.Server
	failPct atomic.Int64
	n       atomic.Int64
	hits    atomic.Int64
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if n := b.n.Add(1); (n % 100) < b.failPct.Load() {
			http.Error(w, name+" broke", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, name)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

type canaryWorld struct {
	*testBundle
	listen         string
	stable, canary *backend
}

// canarySetup: web with staging and a canary production behind the
// built-in router; steps 10% then 50%, 20 s each, judged every 10 s on the
// router's error rate (critical).
func canarySetup(t *testing.T, db string) *canaryWorld {
	w := &canaryWorld{listen: freeTCPAddr(t), stable: newBackend(t, "stable"), canary: newBackend(t, "canary")}
	env := func(name string) config.Environment {
		return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	prod := env("production")
	prod.Canary = &config.Canary{
		Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		Router: &config.Router{Listen: w.listen, Stable: w.stable.srv.URL, Canary: w.canary.srv.URL},
		Steps:  []config.CanaryStep{{Weight: 10, For: 20 * time.Second}, {Weight: 50, For: 20 * time.Second}},
		Analysis: config.Analysis{Interval: 10 * time.Second, Pass: 95, Marginal: 75, Metrics: []config.AnalysisMetric{
			{Metric: judge.Metric{Name: "errors", Direction: judge.Increase, Critical: true}, Router: config.RouterErrorRate},
			{Metric: judge.Metric{Name: "latency", Direction: judge.Increase, Tolerance: 5}, Router: config.RouterLatency},
		}},
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging"), prod}}}}
	w.testBundle = setup(t, db, cfg)
	require.Eventually(t, func() bool {
		c, err := net.Dial("tcp", w.listen)
		if err == nil {
			c.Close()
		}
		return err == nil
	}, 5*time.Second, 10*time.Millisecond, "the built-in router listens")
	return w
}

// traffic sends perSecond requests through the router for each of secs
// seconds of the fake clock, advancing it one second at a time.
func (w *canaryWorld) traffic(t *testing.T, secs, perSecond int) {
	t.Helper()
	for s := 0; s < secs; s++ {
		for i := 0; i < perSecond; i++ {
			resp, err := http.Get("http://" + w.listen + "/")
			require.NoError(t, err)
			_, _ = resp.Body.Read(make([]byte, 64))
			resp.Body.Close()
		}
		w.clock.Set(w.clock.Now().Add(time.Second))
	}
}

func (w *canaryWorld) canaryNow(t *testing.T) pipeline.Canary {
	t.Helper()
	cs, err := w.st.CanaryList(context.Background(), &store.CanaryListParams{Service: "web", Environment: "production", Limit: 1})
	require.NoError(t, err)
	require.NotEmpty(t, cs, "a canary exists")
	return cs[0]
}

// waitCanary waits until the canary satisfies ok (the leader judges it
// within about a second of real time once due).
func (w *canaryWorld) waitCanary(t *testing.T, what string, ok func(c pipeline.Canary) bool) pipeline.Canary {
	t.Helper()
	var c pipeline.Canary
	require.Eventually(t, func() bool {
		cs, err := w.st.CanaryList(context.Background(), &store.CanaryListParams{Service: "web", Environment: "production", Limit: 1})
		if err != nil || len(cs) == 0 {
			return false
		}
		c = cs[0]
		return ok(c)
	}, 15*time.Second, 20*time.Millisecond, what)
	return c
}

func (w *canaryWorld) release(t *testing.T, v string) {
	t.Helper()
	_, err := w.e.CreateRelease(context.Background(), "ci", ReleaseParams{Service: "web", Version: v})
	require.NoError(t, err)
}

func (w *canaryWorld) judgements(t *testing.T, c pipeline.Canary) []pipeline.Judgement {
	js, err := w.st.JudgementList(context.Background(), &store.JudgementListParams{CanaryID: c.ID})
	require.NoError(t, err)
	return js
}

// startCanary brings v1 to production (no canary: nothing to compare
// with) and then v2 into its canary at 10%.
func (w *canaryWorld) startCanary(t *testing.T) pipeline.Canary {
	t.Helper()
	w.release(t, "v1")
	w.settle(t, "web")
	require.Equal(t, "v1", w.version(t, "web", "production"), "the first release deploys plainly: there is no stable version to judge against")
	w.release(t, "v2")
	defer func() {
		if t.Failed() {
			deps, _ := w.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: "web", Limit: 100})
			for _, d := range deps {
				t.Logf("deployment %d %s %s %s attempt %d: %s", d.ID, d.Environment, d.Version, d.State, d.Attempt, d.Error)
			}
		}
	}()
	return w.waitCanary(t, "v2 becomes a canary", func(c pipeline.Canary) bool { return c.Version == "v2" && c.State == pipeline.CanaryRunning })
}

func TestCanaryStepsThenPromotes(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			w := canarySetup(t, db)
			c := w.startCanary(t)
			require.Equal(t, 10, c.Weight)
			require.Equal(t, 0, c.Step)
			require.Eventually(t, func() bool { return w.e.routerFor("web", "production").Weight() == 10 }, 5*time.Second, 5*time.Millisecond,
				"the router applies the stored weight")

			// Healthy traffic: two judgements in step 1, then 50%.
			w.traffic(t, 10, 20)
			w.waitCanary(t, "first judgement", func(c pipeline.Canary) bool { return len(w.judgements(t, c)) >= 1 })
			w.traffic(t, 10, 20)
			c = w.waitCanary(t, "step 2 after 20s with passing judgements", func(c pipeline.Canary) bool { return c.Step == 1 })
			require.Equal(t, 50, c.Weight)
			require.Eventually(t, func() bool { return w.e.routerFor("web", "production").Weight() == 50 }, 5*time.Second, 5*time.Millisecond,
				"the router follows the new weight")
			js := w.judgements(t, c)
			require.Equal(t, pipeline.VerdictPass, js[0].Verdict, js[0].Reason)
			var detail JudgementDetail
			require.NoError(t, json.Unmarshal(js[0].Detail, &detail))
			require.Len(t, detail.Metrics, 2)
			require.Equal(t, "errors", detail.Metrics[0].Name)
			require.GreaterOrEqual(t, detail.Metrics[0].CanaryCount, 3, "per-second error rates of the canary")
			require.Greater(t, detail.Metrics[1].BaselineCount, detail.Metrics[1].CanaryCount, "at 10%% the baseline gets more requests")

			// The split follows the weight: at 50% about half the requests.
			before := w.canary.hits.Load()
			w.traffic(t, 10, 20)
			require.InDelta(t, 100, w.canary.hits.Load()-before, 2, "half of 200 requests at 50%")
			w.traffic(t, 10, 20)
			w.waitCanary(t, "promoted after the last step", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryPromoted })
			w.settle(t, "web")
			require.Equal(t, "v2", w.version(t, "web", "production"))
			require.Eventually(t, func() bool { return w.e.routerFor("web", "production").Weight() == 0 }, 5*time.Second, 10*time.Millisecond,
				"after the promotion all traffic goes to (the new) stable")
			evs, err := w.st.EventList(context.Background(), &store.EventListParams{Service: "web", Limit: 100})
			require.NoError(t, err)
			seen := map[string]bool{}
			for _, ev := range evs {
				seen[ev.Type] = true
			}
			for _, typ := range []string{pipeline.EventCanaryStarted, pipeline.EventCanaryAdvanced, pipeline.EventCanaryPromoting, pipeline.EventCanaryPromoted} {
				require.True(t, seen[typ], "event %s on the record", typ)
			}
			// The promotion is a step of the deployment, not a retry: it
			// keeps the deployment's attempt, and its start says so.
			deps := w.deploymentsOf(t, "web", "production", "v2")
			require.Len(t, deps, 1)
			require.Equal(t, pipeline.DeploymentSucceeded, deps[0].State)
			require.Equal(t, 1, deps[0].Attempt, "a canary's promotion is not listed as attempt 2")
			starts := 0
			for _, ev := range evs {
				if ev.Type == pipeline.EventDeploymentStarted && ev.DeploymentID == deps[0].ID {
					starts++
					require.Equal(t, float64(1), ev.Data["attempt"])
				}
			}
			require.Equal(t, 2, starts, "the canary step and the promotion step each started once")
		})
	}
}

func TestFailingCanaryIsAbortedAndLocksProduction(t *testing.T) {
	w := canarySetup(t, "sqlite")
	w.startCanary(t)
	w.canary.failPct.Store(40)
	w.traffic(t, 10, 20)
	c := w.waitCanary(t, "the erroring canary is aborted", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryAborted })
	require.Equal(t, 0, c.Weight)
	require.Eventually(t, func() bool { return w.e.routerFor("web", "production").Weight() == 0 }, 5*time.Second, 5*time.Millisecond,
		"traffic is back on stable")
	before := w.canary.hits.Load()
	w.traffic(t, 1, 50)
	require.Equal(t, before, w.canary.hits.Load(), "no request reaches the aborted canary")

	rel, err := w.st.ReleaseGet(context.Background(), "web", "v2")
	require.NoError(t, err)
	require.True(t, rel.Rejected, "the canary's release is rejected")
	dep, err := w.st.DeploymentGet(context.Background(), c.DeploymentID)
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentFailed, dep.State)
	require.Equal(t, "v1", w.version(t, "web", "production"))
	locks, err := w.st.LockList(context.Background(), &store.LockListParams{Service: "web", Environment: "production"})
	require.NoError(t, err)
	require.Len(t, locks, 1, "production is locked by bakery")
	require.Contains(t, locks[0].Reason, "canary v2 failed")
	require.Contains(t, locks[0].Reason, "errors")

	js := w.judgements(t, c)
	require.Equal(t, pipeline.VerdictFail, js[0].Verdict)
	var detail JudgementDetail
	require.NoError(t, json.Unmarshal(js[0].Detail, &detail))
	require.Equal(t, "fail", detail.Metrics[0].Outcome)
	require.Less(t, float64(detail.Metrics[0].PValue), 0.05)
	evs, err := w.st.EventList(context.Background(), &store.EventListParams{Service: "web", Limit: 100})
	require.NoError(t, err)
	var aborted *pipeline.Event
	for i := range evs {
		if evs[i].Type == pipeline.EventCanaryAborted {
			aborted = &evs[i]
		}
	}
	require.NotNil(t, aborted, "the abort is on the record")
	require.Equal(t, pipeline.ActorSystem, aborted.Actor)
	require.Contains(t, aborted.Data, "score")
	require.Contains(t, aborted.Data, "metrics", "the event carries the scores per metric")

	// A later release does not get in while the lock holds.
	w.release(t, "v3")
	w.settle(t, "web")
	require.Equal(t, "v1", w.version(t, "web", "production"))
	require.Len(t, w.deploymentsOf(t, "web", "production", "v3"), 0)
}

func TestLockHoldsTheCanaryAtItsStep(t *testing.T) {
	w := canarySetup(t, "sqlite")
	w.startCanary(t)
	ctx := context.Background()
	_, err := w.e.Lock(ctx, "ann", LockParams{Service: "web", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	var c pipeline.Canary
	for n := 1; n <= 3; n++ {
		w.traffic(t, 10, 20)
		c = w.waitCanary(t, "judged", func(c pipeline.Canary) bool { return len(w.judgements(t, c)) >= n })
	}
	require.Equal(t, pipeline.VerdictPass, w.judgements(t, c)[0].Verdict, "healthy, and past the step's 20s")
	require.Equal(t, 0, c.Step, "the lock holds the canary at step 1")
	require.Equal(t, 10, c.Weight)
	views, err := w.e.Canaries(ctx, "web", 5)
	require.NoError(t, err)
	require.Contains(t, views["production"].Hold, "locked by ann: incident")

	_, err = w.e.CanaryPromote(ctx, "ann", "web", "production", "looks fine")
	require.ErrorIs(t, err, ErrLocked, "promoting a canary is refused while locked")

	_, err = w.e.Unlock(ctx, "ann", "web", "production", "over")
	require.NoError(t, err)
	w.traffic(t, 10, 20)
	w.waitCanary(t, "moves on once unlocked", func(c pipeline.Canary) bool { return c.Step == 1 && c.Weight == 50 })
}

func TestCanaryPromoteAndAbortCommands(t *testing.T) {
	w := canarySetup(t, "sqlite")
	ctx := context.Background()
	w.startCanary(t)
	_, err := w.e.CanaryPromote(ctx, "ann", "web", "production", "")
	require.ErrorIs(t, err, ErrInvalid, "a reason is required")
	_, err = w.e.CanaryPromote(ctx, "ann", "web", "production", "urgent fix, verified by hand")
	require.NoError(t, err)
	w.waitCanary(t, "promoted at once", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryPromoted })
	w.settle(t, "web")
	require.Equal(t, "v2", w.version(t, "web", "production"))

	w.release(t, "v3")
	w.waitCanary(t, "v3 is a canary", func(c pipeline.Canary) bool { return c.Version == "v3" && c.State == pipeline.CanaryRunning })
	c, err := w.e.CanaryAbort(ctx, "bob", "web", "production", "wrong config")
	require.NoError(t, err)
	require.Equal(t, pipeline.CanaryAborted, c.State)
	require.Equal(t, 0, w.e.routerFor("web", "production").Weight())
	require.True(t, strings.Contains(c.Reason, "bob"), c.Reason)
	rel, err := w.st.ReleaseGet(ctx, "web", "v3")
	require.NoError(t, err)
	require.True(t, rel.Rejected)
	_, err = w.e.CanaryAbort(ctx, "bob", "web", "production", "again")
	require.ErrorIs(t, err, ErrNoCanary)
	locks, err := w.st.LockList(ctx, &store.LockListParams{Service: "web", Environment: "production"})
	require.NoError(t, err)
	require.Empty(t, locks, "a person's abort does not lock")
}

// A canary without the built-in router moves traffic with its set_weight
// command (a real script given BAKERY_CANARY_WEIGHT), judged by a threshold
// check: every weight reaches the command, in order, ending at 0.
func TestCanarySetWeightCommand(t *testing.T) {
	dir := t.TempDir()
	weights := dir + "/weights"
	script := dir + "/set-weight.sh"
	require.NoError(t, os.WriteFile(script, []byte("#!/bin/sh\necho \"$BAKERY_SERVICE $BAKERY_ENVIRONMENT $BAKERY_VERSION $BAKERY_CANARY_WEIGHT\" >> "+weights+"\n"), 0o755))
	health := newBackend(t, "canary")
	env := func(name string) config.Environment {
		return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	prod := env("production")
	prod.Canary = &config.Canary{
		Deploy:    config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		SetWeight: &config.Deploy{Command: []string{script}, Timeout: time.Minute},
		Steps:     []config.CanaryStep{{Weight: 20, For: 10 * time.Second}, {Weight: 60, For: 10 * time.Second}},
		Analysis: config.Analysis{Interval: 10 * time.Second, Checks: []check.Spec{
			{Name: "canary-health", Timeout: 2 * time.Second, HTTP: &check.HTTPSpec{URL: health.srv.URL + "/", ExpectStatus: 200}},
		}},
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging"), prod}}}}
	w := &canaryWorld{testBundle: setup(t, "sqlite", cfg)}
	c := w.startCanary(t)
	require.Equal(t, 20, c.Weight)
	read := func() string { b, _ := os.ReadFile(weights); return string(b) }
	require.Eventually(t, func() bool { return read() == "web production v2 20\n" }, 5*time.Second, 10*time.Millisecond)
	w.clock.Set(w.clock.Now().Add(10 * time.Second))
	w.waitCanary(t, "step 2", func(c pipeline.Canary) bool { return c.Step == 1 })
	w.clock.Set(w.clock.Now().Add(10 * time.Second))
	w.waitCanary(t, "promoted", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryPromoted })
	w.settle(t, "web")
	require.Eventually(t, func() bool { return strings.HasSuffix(read(), "web production v2 0\n") }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, "web production v2 20\nweb production v2 60\nweb production v2 100\nweb production v2 0\n", read(),
		"the weights in order: each step, all to the canary while stable is replaced, then all to the new stable")
	require.Eventually(t, func() bool { return w.canaryNow(t).AppliedWeight == 0 }, 5*time.Second, 10*time.Millisecond,
		"the last weight applied is on the record")
	js := w.judgements(t, w.canaryNow(t))
	var detail JudgementDetail
	require.NoError(t, json.Unmarshal(js[0].Detail, &detail))
	require.Len(t, detail.Checks, 1)
	require.Equal(t, "healthy", detail.Checks[0].Outcome)
}

// A failing threshold check aborts the canary as a failed judgement does.
func TestCanaryFailingCheckAborts(t *testing.T) {
	w := canarySetup(t, "sqlite")
	down := newBackend(t, "down")
	down.failPct.Store(100)
	cfg := *w.cfg
	svc := cfg.Services[0]
	envs := append([]config.Environment(nil), svc.Environments...)
	cc := *envs[1].Canary
	cc.Analysis.Checks = []check.Spec{{Name: "canary-health", Timeout: 2 * time.Second, HTTP: &check.HTTPSpec{URL: down.srv.URL + "/", ExpectStatus: 200}}}
	envs[1].Canary = &cc
	svc.Environments = envs
	cfg.Services = []config.Service{svc}
	w.e.SetConfig(context.Background(), &cfg)
	w.startCanary(t)
	w.traffic(t, 10, 20)
	c := w.waitCanary(t, "aborted by the check", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryAborted })
	require.Contains(t, c.Reason, "canary-health")
}

// TestLockRacesCanaryStep is rule 3 for canaries: a lock and a judgement
// that would move the canary to its next step happen together, many
// times. Once Lock has returned the canary does not move; a step taken
// before the lock is on the record before it. The test fails unless it saw
// both interleavings (step first, lock first).
func TestLockRacesCanaryStep(t *testing.T) {
	forBoth(t, func(t *testing.T, db string) {
		health := newBackend(t, "canary")
		env := func(name string) config.Environment {
			return config.Environment{Name: name, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
		}
		prod := env("production")
		var steps []config.CanaryStep
		for i := 1; i <= 40; i++ {
			steps = append(steps, config.CanaryStep{Weight: i, For: time.Minute})
		}
		prod.Canary = &config.Canary{
			Deploy:    config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
			SetWeight: &config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
			Steps:     steps,
			// A long interval: the leader does not judge on its own; the
			// test does, racing the lock.
			Analysis: config.Analysis{Interval: time.Hour, Checks: []check.Spec{
				{Name: "canary-health", Timeout: 2 * time.Second, HTTP: &check.HTTPSpec{URL: health.srv.URL + "/", ExpectStatus: 200}},
			}},
		}
		cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging"), prod}}}}
		w := &canaryWorld{testBundle: setup(t, db, cfg)}
		w.startCanary(t)
		// The test judges, racing the lock; the leader's judge would judge
		// too once a step's time is up, and move the canary on its own.
		w.e.judge.Stop()
		ctx := context.Background()
		movedFirst, lockedFirst := 0, 0
		for round := 0; round < raceRounds && (movedFirst < minEachWay || lockedFirst < minEachWay); round++ {
			before := w.canaryNow(t)
			w.clock.Set(w.clock.Now().Add(time.Minute)) // the step's time is up
			var wg sync.WaitGroup
			gate := make(chan struct{})
			var judgeErr, lockErr error
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-gate
				_, judgeErr = w.e.judgeCanary(ctx, before, prod.Canary, time.Time{})
			}()
			go func() {
				defer wg.Done()
				<-gate
				// The judge calls the canary's health check before its
				// transaction, so the lock would nearly always reach the
				// writer first (on SQLite units of work reach it in the
				// order they ask): every other round the lock starts up
				// to 5 ms late, so that both orders happen on a loaded
				// machine too. Either order must hold rule 3.
				if round%2 == 1 {
					time.Sleep(time.Duration(rand.Int64N(int64(5 * time.Millisecond))))
				}
				_, lockErr = w.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "race"})
			}()
			close(gate)
			wg.Wait()
			require.NoError(t, judgeErr)
			require.NoError(t, lockErr)
			locked := w.canaryNow(t)
			for k := 0; k < 2; k++ {
				w.clock.Set(w.clock.Now().Add(time.Minute))
				_, err := w.e.judgeCanary(ctx, locked, prod.Canary, time.Time{})
				require.NoError(t, err)
			}
			after := w.canaryNow(t)
			require.Equal(t, locked.Step, after.Step, "round %d: the canary moved after the lock was acknowledged", round)
			events, err := w.st.EventList(ctx, &store.EventListParams{Service: "web", Limit: 100000})
			require.NoError(t, err)
			var lockID, advancedID int64
			for _, ev := range events {
				if ev.Type == pipeline.EventLockPlaced {
					lockID = ev.ID
				}
				if ev.Type == pipeline.EventCanaryAdvanced && ev.Data["step"] == float64(before.Step+2) {
					advancedID = ev.ID
				}
			}
			if locked.Step == before.Step {
				lockedFirst++
				require.Zero(t, advancedID)
			} else {
				movedFirst++
				require.Equal(t, before.Step+1, locked.Step)
				require.Less(t, advancedID, lockID, "the step was taken before the lock, and is on the record before it")
			}
			_, err = w.e.Unlock(ctx, "ana", "web", "production", "race over")
			require.NoError(t, err)
		}
		t.Logf("%s: step first %d times, lock first %d times", db, movedFirst, lockedFirst)
		require.GreaterOrEqual(t, movedFirst, minEachWay, "the step never won the race: the test proves nothing about a step taken just before a lock")
		require.GreaterOrEqual(t, lockedFirst, minEachWay, "the lock never won the race: the test proves nothing about a lock that lands first")
	})
}

// TestCanaryWithoutTrafficHolds is rule 9 for canaries: with no traffic
// the judgement is inconclusive, and an inconclusive canary never moves
// on, however long its step has been over.
func TestCanaryWithoutTrafficHolds(t *testing.T) {
	w := canarySetup(t, "sqlite")
	w.startCanary(t)
	for n := 1; n <= 3; n++ {
		w.clock.Set(w.clock.Now().Add(15 * time.Second))
		w.waitCanary(t, "judged", func(c pipeline.Canary) bool { return len(w.judgements(t, c)) >= n })
	}
	c := w.canaryNow(t)
	require.Equal(t, pipeline.CanaryRunning, c.State)
	require.Equal(t, 0, c.Step, "no traffic is not a pass: the canary stays at step 1")
	js := w.judgements(t, c)
	require.Equal(t, pipeline.VerdictInconclusive, js[0].Verdict, js[0].Reason)
	views, err := w.e.Canaries(context.Background(), "web", 1)
	require.NoError(t, err)
	require.Contains(t, views["production"].Hold, "inconclusive")
}

// An emergency deploy takes the environment over from a running canary:
// the canary is cancelled with its deployment and its traffic goes back to
// stable (which the emergency deploy replaces).
func TestEmergencyCancelsTheCanary(t *testing.T) {
	w := canarySetup(t, "sqlite")
	c := w.startCanary(t)
	ctx := context.Background()
	_, err := w.e.Emergency(ctx, "ann", EmergencyParams{Service: "web", Version: "v3", Artifact: "app:v3", Reason: "revert the parser"})
	require.NoError(t, err)
	c = w.waitCanary(t, "cancelled", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryCancelled })
	require.Equal(t, 0, c.Weight)
	require.Eventually(t, func() bool { return w.e.routerFor("web", "production").Weight() == 0 }, 5*time.Second, 5*time.Millisecond)
	dep, err := w.st.DeploymentGet(ctx, c.DeploymentID)
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentCancelled, dep.State)
	w.settle(t, "web")
	require.Equal(t, "v3", w.version(t, "web", "production"), "the emergency deploy went through plainly")
	require.Len(t, w.deploymentsOf(t, "web", "production", "v3"), 1)
	cs, err := w.st.CanaryList(ctx, &store.CanaryListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, cs, 1, "an emergency deploy is not a canary")
}

// A reload that removes the canary block ends a running canary: weight 0,
// its deployment failed, the release not promoted (and not rejected).
func TestReloadWithoutCanaryEndsIt(t *testing.T) {
	w := canarySetup(t, "sqlite")
	c := w.startCanary(t)
	cfg := *w.cfg
	svc := cfg.Services[0]
	envs := append([]config.Environment(nil), svc.Environments...)
	envs[1].Canary = nil
	svc.Environments = envs
	cfg.Services = []config.Service{svc}
	w.e.SetConfig(context.Background(), &cfg)
	c = w.waitCanary(t, "ended", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryCancelled })
	require.Equal(t, 0, c.Weight)
	require.Contains(t, c.Reason, "no longer has a canary")
	dep, err := w.st.DeploymentGet(context.Background(), c.DeploymentID)
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentFailed, dep.State)
	rel, err := w.st.ReleaseGet(context.Background(), "web", "v2")
	require.NoError(t, err)
	require.False(t, rel.Rejected)
	require.Equal(t, "v1", w.version(t, "web", "production"))
}

// A canary's cleanup command runs once after it ends, whatever the end,
// with the outcome in BAKERY_CANARY_OUTCOME; a failing one is on the
// record and tried again.
func TestCanaryCleanup(t *testing.T) {
	w := canarySetup(t, "sqlite")
	dir := t.TempDir()
	out := dir + "/cleanups"
	script := dir + "/cleanup.sh"
	// Fails the first time for v3, to show the retry.
	require.NoError(t, os.WriteFile(script, []byte(`#!/bin/sh
if [ "$BAKERY_VERSION" = v3 ] && [ ! -f `+dir+`/failed-once ]; then touch `+dir+`/failed-once; echo "canary host unreachable" >&2; exit 1; fi
echo "$BAKERY_CANARY_OUTCOME $BAKERY_VERSION" >> `+out+"\n"), 0o755))
	cfg := *w.cfg
	svc := cfg.Services[0]
	envs := append([]config.Environment(nil), svc.Environments...)
	cc := *envs[1].Canary
	cc.Cleanup = &config.Deploy{Command: []string{script}, Timeout: time.Minute}
	envs[1].Canary = &cc
	svc.Environments = envs
	cfg.Services = []config.Service{svc}
	w.e.SetConfig(context.Background(), &cfg)
	read := func() string { b, _ := os.ReadFile(out); return string(b) }

	w.startCanary(t)
	_, err := w.e.CanaryAbort(context.Background(), "ann", "web", "production", "not this one")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return read() == "aborted v2\n" }, 10*time.Second, 10*time.Millisecond)

	w.release(t, "v3")
	w.waitCanary(t, "v3 is a canary", func(c pipeline.Canary) bool { return c.Version == "v3" && c.State == pipeline.CanaryRunning })
	_, err = w.e.CanaryPromote(context.Background(), "ann", "web", "production", "looks good")
	require.NoError(t, err)
	c := w.waitCanary(t, "promoted", func(c pipeline.Canary) bool { return c.State == pipeline.CanaryPromoted })
	require.Eventually(t, func() bool { return read() == "aborted v2\npromoted v3\n" }, 30*time.Second, 20*time.Millisecond,
		"the failed cleanup was tried again")
	require.Eventually(t, func() bool {
		got, err := w.st.CanaryGet(context.Background(), c.ID)
		return err == nil && !got.CleanedAt.IsZero()
	}, 5*time.Second, 10*time.Millisecond)
	evs, err := w.st.EventList(context.Background(), &store.EventListParams{Service: "web", Limit: 1000})
	require.NoError(t, err)
	var failed, cleaned int
	for _, ev := range evs {
		switch ev.Type {
		case pipeline.EventCanaryCleanup:
			failed++
			require.Contains(t, ev.Reason, "canary host unreachable")
		case pipeline.EventCanaryCleanedUp:
			cleaned++
		}
	}
	require.Equal(t, 1, failed)
	require.Equal(t, 2, cleaned)
}
