package insights_test

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/insights"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/window"
)

// T is Monday 2 March 2026, 09:00 UTC.
var T = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func min(n int) time.Duration { return time.Duration(n) * time.Minute }

// logb builds an event log the way the engine writes it.
type logb struct {
	svc    string
	events []pipeline.Event
	dep    int64
	lock   int64
}

func newLog() *logb { return &logb{svc: "web"} }

func (l *logb) add(e pipeline.Event) {
	if e.Service == "" {
		e.Service = l.svc
	}
	e.ID = int64(len(l.events) + 1)
	l.events = append(l.events, e)
}

func (l *logb) release(v string, at time.Time) {
	l.add(pipeline.Event{At: at, Type: pipeline.EventReleaseCreated, Version: v, Actor: "ci"})
}

// deploy writes a deployment's decision, start and end.
func (l *logb) deploy(typ, env, v, from string, decided, finished time.Time, outcome string) int64 {
	l.dep++
	l.add(pipeline.Event{At: decided, Type: typ, Environment: env, Version: v, FromVersion: from, ToVersion: v, DeploymentID: l.dep})
	l.add(pipeline.Event{At: decided.Add(time.Second), Type: pipeline.EventDeploymentStarted, Environment: env, Version: v, DeploymentID: l.dep})
	end := map[string]string{"succeeded": pipeline.EventDeploymentSucceeded, "failed": pipeline.EventDeploymentFailed}[outcome]
	l.add(pipeline.Event{At: finished, Type: end, Environment: env, Version: v, DeploymentID: l.dep})
	return l.dep
}

func (l *logb) promote(env, v, from string, decided, finished time.Time) int64 {
	return l.deploy(pipeline.EventPromotionDecided, env, v, from, decided, finished, "succeeded")
}

func (l *logb) lockAt(env, by, reason string, at time.Time) int64 {
	l.lock++
	l.add(pipeline.Event{At: at, Type: pipeline.EventLockPlaced, Environment: env, Actor: by, Reason: reason,
		Data: map[string]any{"lock_id": float64(l.lock)}})
	return l.lock
}

func (l *logb) unlock(env string, id int64, at time.Time) {
	l.add(pipeline.Event{At: at, Type: pipeline.EventLockReleased, Environment: env, Actor: "ana",
		Data: map[string]any{"lock_id": float64(id)}})
}

func (l *logb) service(envs []pipeline.EnvSpec) insights.Service {
	sort.SliceStable(l.events, func(i, j int) bool { return l.events[i].At.Before(l.events[j].At) })
	return insights.Service{Name: l.svc, Envs: envs, Events: l.events}
}

func twoEnvs(w pipeline.Window) []pipeline.EnvSpec {
	return []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: time.Hour, Window: w}}
}

func day() insights.Params {
	return insights.Params{Since: T.Add(-24 * time.Hour), Until: T.Add(24 * time.Hour)}
}

func TestInsights(t *testing.T) {
	t.Parallel()

	weekdays, err := window.ParseEntry("Mon-Fri 09:00-18:00")
	require.NoError(t, err)
	officeHours := window.New(time.UTC, []window.Entry{weekdays}, nil)

	tests := []struct {
		name   string
		params insights.Params
		envs   []pipeline.EnvSpec
		build  func(l *logb)
		assert func(t *testing.T, r insights.Report)
	}{{
		// r1 and r2 pile up behind a lock; at the unlock the newest baked
		// one, r2, is promoted and r1 reaches production inside it.
		name: "superseded release behind a lock with a pile-up",
		envs: twoEnvs(nil),
		build: func(l *logb) {
			l.release("r1", T)
			l.promote("staging", "r1", "", T, T.Add(min(5)))
			id := l.lockAt("production", "ana", "incident 42", T.Add(min(10)))
			l.release("r2", T.Add(min(30)))
			l.promote("staging", "r2", "r1", T.Add(min(30)), T.Add(min(35)))
			l.unlock("production", id, T.Add(3*time.Hour))
			l.add(pipeline.Event{At: T.Add(3 * time.Hour), Type: pipeline.EventReleaseSuperseded, Environment: "production", Version: "r1", ToVersion: "r2"})
			l.promote("production", "r2", "", T.Add(3*time.Hour), T.Add(3*time.Hour+min(5)))
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 1, r.Deployments)
			require.InDelta(t, 0.5, r.DeploymentFrequencyPerDay, 1e-9)
			// r1: 3h05m, r2: 2h35m.
			require.Equal(t, insights.LeadTime{P50: 9300, P90: 11100, Mean: 10200, N: 2}, r.LeadTimeSeconds)
			require.Equal(t, insights.Breakdown{ToStaging: 300, Bake: 3600, HeldByLock: (6900 + 5100) / 2, ToProduction: 300},
				r.LeadTimeBreakdownSeconds)
			require.Len(t, r.Locks, 1)
			require.Equal(t, "web", r.Locks[0].Service)
			require.Equal(t, "production", r.Locks[0].Environment)
			require.Equal(t, 10200.0, r.Locks[0].HeldSeconds)
			require.Equal(t, 2, r.Locks[0].ReleasesPiledUp)
			require.Equal(t, "incident 42", r.Locks[0].Reason)
			require.Equal(t, "ana", r.Locks[0].By)
			require.Zero(t, r.ChangeFailureRate)
		},
	}, {
		// Baked on Friday at 18:05, five minutes after the window closed:
		// it waits the weekend and goes at Monday 09:00.
		name:   "window closed over a weekend",
		envs:   twoEnvs(officeHours),
		params: insights.Params{Since: T.Add(-7 * 24 * time.Hour), Until: T.Add(24 * time.Hour)},
		build: func(l *logb) {
			fri := T.Add(-3*24*time.Hour + 8*time.Hour) // Friday 17:00
			l.release("r1", fri)
			l.promote("staging", "r1", "", fri, fri.Add(min(5)))
			l.promote("production", "r1", "", T, T.Add(min(5)))
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, insights.LeadTime{P50: 230700, P90: 230700, Mean: 230700, N: 1}, r.LeadTimeSeconds)
			require.Equal(t, insights.Breakdown{ToStaging: 300, Bake: 3600, HeldByWindow: 226500, ToProduction: 300},
				r.LeadTimeBreakdownSeconds)
			require.InDelta(t, 100*226500.0/230700, r.LeadTimeBreakdownPercent.HeldByWindow, 1e-9, "the weekend is 98% of it")
			require.Equal(t, r.LeadTimeSeconds.Mean, r.LeadTimeBreakdownSeconds.Total())
		},
	}, {
		// r1 breaks production; ana locks it, then rolls back to r0 ten
		// minutes later. Recovery runs from the lock to the rollback's end.
		name: "rollback",
		envs: twoEnvs(nil),
		build: func(l *logb) {
			l.release("r0", T.Add(-4*time.Hour))
			l.promote("staging", "r0", "", T.Add(-4*time.Hour), T.Add(-4*time.Hour+min(5)))
			l.promote("production", "r0", "", T.Add(-3*time.Hour+min(5)), T.Add(-3*time.Hour+min(10)))
			l.release("r1", T)
			l.promote("staging", "r1", "r0", T, T.Add(min(5)))
			l.promote("production", "r1", "r0", T.Add(min(65)), T.Add(min(70)))
			l.lockAt("production", "ana", "errors up", T.Add(min(120)))
			l.add(pipeline.Event{At: T.Add(min(130)), Type: pipeline.EventReleaseRejected, Environment: "production", Version: "r1"})
			l.deploy(pipeline.EventRollbackDecided, "production", "r0", "r1", T.Add(min(130)), T.Add(min(132)), "succeeded")
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 3, r.Deployments)
			require.Equal(t, 1, r.ChangeFailures)
			require.InDelta(t, 1.0/3, r.ChangeFailureRate, 1e-9)
			require.InDelta(t, 1.0/3, r.ReworkRate, 1e-9)
			require.Equal(t, 1, r.Rollbacks)
			require.Equal(t, insights.Recovery{P50: 720, N: 1}, r.FailedDeploymentRecoverySeconds)
			require.Equal(t, insights.LeadTime{P50: 4200, P90: 4200, Mean: 4200, N: 2}, r.LeadTimeSeconds)
			require.Zero(t, r.CaughtBeforeProduction)
		},
	}, {
		// r1 is live; two hours later an emergency deploy of r2 replaces it
		// (and locks production, rule 6).
		name: "emergency deploy",
		envs: twoEnvs(nil),
		build: func(l *logb) {
			l.release("r1", T)
			l.promote("staging", "r1", "", T, T.Add(min(5)))
			l.promote("production", "r1", "", T.Add(min(65)), T.Add(min(70)))
			at := T.Add(min(190))
			l.release("r2", at)
			l.deploy(pipeline.EventEmergencyDecided, "production", "r2", "r1", at, at.Add(time.Minute), "succeeded")
			l.lockAt("production", "ana", "emergency deploy of r2", at)
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 2, r.Deployments)
			require.Equal(t, 1, r.ChangeFailures)
			require.Equal(t, 1, r.EmergencyDeploys)
			require.InDelta(t, 0.5, r.ReworkRate, 1e-9)
			require.Equal(t, insights.Recovery{P50: 60, N: 1}, r.FailedDeploymentRecoverySeconds)
			// r1: 70 min; r2: one minute, all of it on the way to production.
			require.Equal(t, insights.LeadTime{P50: 60, P90: 4200, Mean: 2130, N: 2}, r.LeadTimeSeconds)
			require.Equal(t, insights.Breakdown{ToStaging: 150, Bake: 1800, ToProduction: (300 + 60) / 2}, r.LeadTimeBreakdownSeconds)
			require.Len(t, r.Locks, 1)
			require.True(t, r.Locks[0].Held)
		},
	}, {
		name: "an emergency deploy after the failure window does not fail the deployment before it",
		envs: twoEnvs(nil),
		params: insights.Params{Since: T.Add(-24 * time.Hour), Until: T.Add(48 * time.Hour),
			FailureWindow: time.Hour},
		build: func(l *logb) {
			l.release("r1", T)
			l.promote("staging", "r1", "", T, T.Add(min(5)))
			l.promote("production", "r1", "", T.Add(min(65)), T.Add(min(70)))
			at := T.Add(min(190))
			l.release("r2", at)
			l.deploy(pipeline.EventEmergencyDecided, "production", "r2", "r1", at, at.Add(time.Minute), "succeeded")
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 2, r.Deployments)
			require.Zero(t, r.ChangeFailures)
			require.InDelta(t, 0.5, r.ReworkRate, 1e-9)
			require.Zero(t, r.FailedDeploymentRecoverySeconds.N)
		},
	}, {
		// r0 goes through a 30-minute canary; r1's canary is aborted by the
		// judge and production locked: caught before production.
		name: "canary promoted and canary aborted",
		envs: twoEnvs(nil),
		build: func(l *logb) {
			l.release("r0", T)
			l.promote("staging", "r0", "", T, T.Add(min(5)))
			l.dep++
			d := l.dep
			l.add(pipeline.Event{At: T.Add(min(65)), Type: pipeline.EventPromotionDecided, Environment: "production", Version: "r0", DeploymentID: d})
			l.add(pipeline.Event{At: T.Add(min(67)), Type: pipeline.EventCanaryStarted, Environment: "production", Version: "r0", DeploymentID: d})
			l.add(pipeline.Event{At: T.Add(min(97)), Type: pipeline.EventCanaryPromoting, Environment: "production", Version: "r0", DeploymentID: d})
			l.add(pipeline.Event{At: T.Add(min(100)), Type: pipeline.EventDeploymentSucceeded, Environment: "production", Version: "r0", DeploymentID: d})

			l.release("r1", T.Add(2*time.Hour))
			l.promote("staging", "r1", "r0", T.Add(2*time.Hour), T.Add(2*time.Hour+min(5)))
			l.dep++
			d = l.dep
			at := T.Add(3*time.Hour + min(5))
			l.add(pipeline.Event{At: at, Type: pipeline.EventPromotionDecided, Environment: "production", Version: "r1", DeploymentID: d})
			l.add(pipeline.Event{At: at.Add(min(2)), Type: pipeline.EventCanaryStarted, Environment: "production", Version: "r1", DeploymentID: d})
			l.add(pipeline.Event{At: at.Add(min(12)), Type: pipeline.EventCanaryAborted, Environment: "production", Version: "r1", DeploymentID: d, Actor: "bakery"})
			l.add(pipeline.Event{At: at.Add(min(12)), Type: pipeline.EventDeploymentFailed, Environment: "production", Version: "r1", DeploymentID: d})
			l.lockAt("production", "bakery", "canary r1 failed", at.Add(min(12)))
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 1, r.Deployments)
			require.Equal(t, 1, r.CaughtBeforeProduction)
			require.Zero(t, r.ChangeFailures)
			require.Equal(t, insights.LeadTime{P50: 6000, P90: 6000, Mean: 6000, N: 1}, r.LeadTimeSeconds)
			require.Equal(t, insights.Breakdown{ToStaging: 300, Bake: 3600, Canary: 1800, ToProduction: 300}, r.LeadTimeBreakdownSeconds)
			require.Contains(t, r.Outcomes, insights.Outcome{Service: "web", Environment: "production", Outcome: "failed", Count: 1})
			require.Contains(t, r.Waiting, insights.Waiting{Service: "web", Environment: "production", Releases: 1})
		},
	}, {
		// A check fails on r1 while it bakes (failed bake, lock); r2 fixes
		// it. An inconclusive check holds r2 for 20 minutes after its bake.
		name: "failed bake check and an inconclusive check",
		envs: twoEnvs(nil),
		build: func(l *logb) {
			l.release("r1", T)
			l.promote("staging", "r1", "", T, T.Add(min(5)))
			l.add(pipeline.Event{At: T.Add(min(20)), Type: pipeline.EventCheckFailed, Environment: "production", Version: "r1",
				Data: map[string]any{"check": "errors"}})
			id := l.lockAt("production", "bakery", "check errors failing", T.Add(min(20)))
			l.add(pipeline.Event{At: T.Add(min(30)), Type: pipeline.EventCheckHealthy, Environment: "production",
				Data: map[string]any{"check": "errors"}})
			l.unlock("production", id, T.Add(min(40)))
			l.release("r2", T.Add(min(40)))
			l.promote("staging", "r2", "r1", T.Add(min(40)), T.Add(min(45)))
			l.add(pipeline.Event{At: T.Add(min(105)), Type: pipeline.EventCheckInconclusive, Environment: "production", Version: "r2",
				Data: map[string]any{"check": "latency"}})
			l.add(pipeline.Event{At: T.Add(min(125)), Type: pipeline.EventCheckHealthy, Environment: "production", Version: "r2",
				Data: map[string]any{"check": "latency"}})
			l.promote("production", "r2", "", T.Add(min(125)), T.Add(min(130)))
		},
		assert: func(t *testing.T, r insights.Report) {
			require.Equal(t, 1, r.CaughtBeforeProduction)
			// r1: 130 min = to_staging 5, then waits for r2: r2's bake
			// (45..105) is bake; lock 20..40 is during r1's own bake.
			// r2: 90 min = to_staging 5, bake 60, checks 20, production 5.
			require.Equal(t, insights.LeadTime{P50: 5400, P90: 7800, Mean: 6600, N: 2}, r.LeadTimeSeconds)
			require.Equal(t, insights.Breakdown{ToStaging: 300, Bake: (6000 + 3600) / 2, HeldByChecks: 1200, ToProduction: 300},
				r.LeadTimeBreakdownSeconds)
			require.Equal(t, r.LeadTimeSeconds.Mean, r.LeadTimeBreakdownSeconds.Total())
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l := newLog()
			tt.build(l)
			p := tt.params
			if p.Until.IsZero() {
				p = day()
			}
			r := insights.Compute(p, l.service(tt.envs))
			tt.assert(t, r)
			require.InDelta(t, r.LeadTimeSeconds.Mean, r.LeadTimeBreakdownSeconds.Total(), 1e-6, "the breakdown sums to the mean lead time")
			if r.LeadTimeSeconds.N > 0 {
				require.InDelta(t, 100, r.LeadTimeBreakdownPercent.Total(), 1e-9, "the shares sum to 100")
			}
		})
	}
}

// TestLockOnEveryService: the incident button's lock ("*") is one entry,
// its pile-up summed over the services it held; and a third environment in
// the middle (qa) has its own bake and deploy in the breakdown.
func TestLockOnEveryService(t *testing.T) {
	t.Parallel()
	envs := []pipeline.EnvSpec{{Name: "staging"}, {Name: "qa", Bake: 30 * time.Minute}, {Name: "production", Bake: time.Hour}}
	var services []insights.Service
	for _, name := range []string{"web", "api"} {
		l := &logb{svc: name}
		l.release("r1", T)
		l.promote("staging", "r1", "", T, T.Add(min(5)))
		l.promote("qa", "r1", "", T.Add(min(35)), T.Add(min(40)))
		// The lock on every service, as the engine writes it: service "*".
		l.add(pipeline.Event{At: T.Add(min(60)), Type: pipeline.EventLockPlaced, Service: pipeline.AllServices, Environment: "production",
			Actor: "ana", Reason: "incident 7", Data: map[string]any{"lock_id": float64(9)}})
		l.add(pipeline.Event{At: T.Add(min(160)), Type: pipeline.EventLockReleased, Service: pipeline.AllServices, Environment: "production",
			Actor: "ana", Data: map[string]any{"lock_id": float64(9)}})
		l.promote("production", "r1", "", T.Add(min(160)), T.Add(min(165)))
		services = append(services, l.service(envs))
	}
	r := insights.Compute(day(), services...)
	require.Len(t, r.Locks, 1)
	require.Equal(t, insights.Lock{Service: "*", Environment: "production", HeldSeconds: 6000, ReleasesPiledUp: 2, Reason: "incident 7",
		By: "ana", Since: T.Add(min(60)), Until: T.Add(min(160))}, r.Locks[0])
	// 165 min: 5 to staging, 30 bake for qa, 5 into qa (counted with the
	// way to staging), 60 bake for production, 60 more held by the lock
	// (40+60=100 → 160), 5 into production.
	require.Equal(t, insights.LeadTime{P50: 9900, P90: 9900, Mean: 9900, N: 2}, r.LeadTimeSeconds)
	require.Equal(t, insights.Breakdown{ToStaging: 600, Bake: 5400, HeldByLock: 3600, ToProduction: 300}, r.LeadTimeBreakdownSeconds)
	require.Equal(t, 2, r.Deployments)
}

// TestFixLaneBake: a fix release bakes for the fix lane's time, not the
// environment's: after its 10 minutes, the lock is what held it.
func TestFixLaneBake(t *testing.T) {
	t.Parallel()
	envs := []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: time.Hour, Fix: &pipeline.FixLane{Bake: 10 * time.Minute, Approvals: 1}}}
	l := newLog()
	id := l.lockAt("production", "bakery", "check errors failing", T.Add(-time.Hour))
	l.add(pipeline.Event{At: T, Type: pipeline.EventReleaseCreated, Version: "fix1", Actor: "ana", Data: map[string]any{"fix": true, "fix_reason": "revert"}})
	l.promote("staging", "fix1", "", T, T.Add(min(5)))
	l.unlock("production", id, T.Add(min(45)))
	l.promote("production", "fix1", "", T.Add(min(45)), T.Add(min(50)))
	r := insights.Compute(day(), l.service(envs))
	require.Equal(t, insights.Breakdown{ToStaging: 300, Bake: 600, HeldByLock: 1800, ToProduction: 300}, r.LeadTimeBreakdownSeconds)
}
