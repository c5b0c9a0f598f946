package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// hours is a test window: open from 09:00 to 18:00 UTC every day.
type hours struct{}

func (hours) Open(t time.Time) bool {
	h := t.UTC().Hour()
	return h >= 9 && h < 18
}

func (hours) NextOpen(t time.Time) (time.Time, bool) {
	if (hours{}).Open(t) {
		return t, true
	}
	u := t.UTC()
	open := time.Date(u.Year(), u.Month(), u.Day(), 9, 0, 0, 0, time.UTC)
	if !u.Before(open) {
		open = open.AddDate(0, 0, 1)
	}
	return open, true
}

func (w *world) lock(service, env string, created, expires time.Time) *world {
	w.st.Locks = append(w.st.Locks, Lock{ID: int64(len(w.st.Locks) + 1), Service: service, Environment: env,
		Actor: "ana", Reason: "incident", CreatedAt: created, ExpiresAt: expires})
	return w
}

// selectorLock adds a lock on every service whose labels match selector
// (canonical), and gives the service labels.
func (w *world) selectorLock(selector, env string, labels map[string]string) *world {
	w.st.Locks = append(w.st.Locks, Lock{ID: int64(len(w.st.Locks) + 1), Selector: selector, Environment: env,
		Actor: "ana", Reason: "freeze", CreatedAt: t0})
	w.st.Labels = labels
	return w
}

func (w *world) skipBake(env, version string) *world {
	w.st.Marks = append(w.st.Marks, Mark{ReleaseID: w.rid(version), Environment: env, Kind: MarkBakeSkipped})
	return w
}

func (w *world) window(env string, win Window) *world {
	for i := range w.st.Environments {
		if w.st.Environments[i].Name == env {
			w.st.Environments[i].Window = win
		}
	}
	return w
}

// TestGate is the gate decision: lock × window × bake × rejected × skip ×
// emergency, with a fake clock (t0 is 12:00 UTC).
func TestGate(t *testing.T) {
	t.Parallel()
	const bake = time.Hour
	baked := func() *world {
		return newWorld(bake, "staging", "production").release("a").deployed("staging", "a", DeploymentSucceeded, t0)
	}
	tests := []struct {
		name  string
		world *world
		now   time.Time
		check func(t *testing.T, d Decision)
	}{
		{
			name:  "a production lock holds a baked release and says who and why",
			world: baked().lock("web", "production", t0, time.Time{}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				w := d.Environments[1].Wait
				require.Equal(t, WaitLock, w.Kind)
				require.Equal(t, "a", w.Version)
				require.Contains(t, w.Message, "locked by ana")
				require.Contains(t, w.Message, "incident")
				require.True(t, w.Until.IsZero(), "a lock without expiry holds until unlocked")
				require.Len(t, d.Environments[1].Locks, 1)
			},
		},
		{
			name:  "a production lock never holds staging (rule 1)",
			world: baked().release("b").lock("web", "production", t0, time.Time{}).lock(AllServices, "production", t0, time.Time{}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
				require.Empty(t, d.Environments[0].Locks)
			},
		},
		{
			name:  "a lock on every service holds this one too",
			world: baked().lock(AllServices, "production", t0, time.Time{}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Contains(t, d.Environments[1].Wait.Message, "every service")
			},
		},
		{
			name:  "another service's lock does not hold this one",
			world: baked().lock("api", "production", t0, time.Time{}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name:  "a selector lock holds a service whose labels match, and names the selector",
			world: baked().selectorLock("team=payments,tier=1", "production", map[string]string{"team": "payments", "tier": "1", "zone": "eu"}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, WaitLock, d.Environments[1].Wait.Kind)
				require.Contains(t, d.Environments[1].Wait.Message, "locked: team=payments,tier=1/production by ana: freeze")
				require.Equal(t, "team=payments,tier=1", d.Environments[1].Locks[0].Selector)
			},
		},
		{
			name:  "a selector lock does not hold a service whose labels do not all match",
			world: baked().selectorLock("team=payments,tier=1", "production", map[string]string{"team": "payments", "tier": "2"}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Empty(t, d.Environments[1].Locks)
			},
		},
		{
			name:  "a selector lock does not hold a service without labels",
			world: baked().selectorLock("team=payments", "production", nil),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name:  "an expiring lock is a wake-up: promotion resumes at its expiry",
			world: baked().lock("web", "production", t0, t0.Add(2*bake)),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, t0.Add(2*bake), d.NextCheck)
				require.Equal(t, t0.Add(2*bake), d.Environments[1].Wait.Until)
			},
		},
		{
			name:  "an expired lock holds nothing",
			world: baked().lock("web", "production", t0, t0.Add(bake)),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name:  "a lock while the release still bakes: the deadline is still a wake-up",
			world: baked().lock("web", "production", t0, time.Time{}),
			now:   t0.Add(bake / 2),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, WaitLock, d.Environments[1].Wait.Kind)
				require.Equal(t, t0.Add(bake), d.NextCheck)
			},
		},
		{
			name:  "a closed window holds a baked release and names the opening",
			world: baked().window("production", hours{}),
			now:   t0.Add(7 * time.Hour), // 19:00
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				opens := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
				require.Equal(t, WaitWindow, d.Environments[1].Wait.Kind)
				require.Equal(t, opens, d.Environments[1].Wait.Until)
				require.Equal(t, opens, d.NextCheck, "the moment the window opens is a wake-up (rule 4)")
			},
		},
		{
			name:  "when the window opens the newest baked release goes",
			world: baked().release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(time.Minute)).window("production", hours{}),
			now:   time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "b"}, promoted(d))
				require.Equal(t, []string{"production:a"}, supersededVersions(d))
			},
		},
		{
			name:  "a closed production window never holds staging",
			world: baked().release("b").window("production", hours{}),
			now:   t0.Add(7 * time.Hour),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
			},
		},
		{
			name:  "inside the window but still baking: the bake is what it waits for",
			world: baked().window("production", hours{}),
			now:   t0.Add(bake / 2),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, WaitBake, d.Environments[1].Wait.Kind)
			},
		},
		{
			name:  "skip bake makes the release ready now (rule 5)",
			world: baked().skipBake("production", "a"),
			now:   t0.Add(time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Contains(t, d.Promotions[0].Reason, "skipped")
			},
		},
		{
			name:  "skip bake does not pass a lock",
			world: baked().skipBake("production", "a").lock("web", "production", t0, time.Time{}),
			now:   t0.Add(time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
			},
		},
		{
			name:  "skip bake does not pass a closed window",
			world: baked().skipBake("production", "a").window("production", hours{}),
			now:   t0.Add(7 * time.Hour),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, WaitWindow, d.Environments[1].Wait.Kind)
			},
		},
		{
			name: "a rejected release is passed over; the next baked one goes",
			world: baked().release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(time.Minute)).reject("b").
				release("c").deployed("staging", "c", DeploymentSucceeded, t0.Add(2*time.Minute)),
			now: t0.Add(bake + 2*time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "c"}, promoted(d))
				require.Equal(t, []string{"production:a"}, supersededVersions(d), "rejected b is not even a candidate")
			},
		},
		{
			name: "after an emergency deploy of c, older baked releases never overwrite it",
			world: baked().release("b").deployed("staging", "b", DeploymentSucceeded, t0).release("c").
				deployed("production", "c", DeploymentSucceeded, t0.Add(time.Minute)),
			now: t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.NotContains(t, promoted(d), "production")
				require.Equal(t, "c", d.Environments[1].Current.Version)
			},
		},
		{
			name: "after a rollback to a, the rejected b stays out but a newer baked c goes",
			world: baked().release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(time.Minute)).
				deployed("production", "b", DeploymentSucceeded, t0.Add(bake+time.Minute)).reject("b").
				deployed("production", "a", DeploymentSucceeded, t0.Add(bake+2*time.Minute)).
				release("c").deployed("staging", "c", DeploymentSucceeded, t0.Add(bake+3*time.Minute)),
			now: t0.Add(2*bake + 3*time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "c"}, promoted(d))
			},
		},
		{
			name:  "the queue lists what waits between staging and production",
			world: baked().release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(time.Minute)).lock("web", "production", t0, time.Time{}),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				var q []string
				for _, r := range d.Environments[1].Queue {
					q = append(q, r.Version)
				}
				require.Equal(t, []string{"a", "b"}, q)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, Decide(tt.world.st, tt.now))
		})
	}
}

func (w *world) checks(env string, names ...string) *world {
	for i := range w.st.Environments {
		if w.st.Environments[i].Name == env {
			w.st.Environments[i].Checks = names
		}
	}
	return w
}

func (w *world) checkResult(env, name, outcome string, at time.Time) *world {
	w.st.Checks = append(w.st.Checks, CheckResult{Environment: env, Name: name, Outcome: outcome, Reason: "because", At: at})
	return w
}

// TestGateChecks is rules 8 and 9 in the decision: a bake completes only
// on checks healthy since it started; inconclusive or missing results hold
// it, and a release marked failed-bake is never a candidate.
func TestGateChecks(t *testing.T) {
	t.Parallel()
	const bake = time.Hour
	baked := func() *world {
		return newWorld(bake, "staging", "production").release("a").deployed("staging", "a", DeploymentSucceeded, t0).
			checks("production", "health", "errors")
	}
	now := t0.Add(bake)
	tests := []struct {
		name  string
		world *world
		check func(t *testing.T, d Decision)
	}{
		{"every check healthy since the bake started: promoted",
			baked().checkResult("production", "health", CheckHealthy, t0.Add(time.Minute)).checkResult("production", "errors", CheckHealthy, now),
			func(t *testing.T, d Decision) { require.Equal(t, map[string]string{"production": "a"}, promoted(d)) }},
		{"a check never run holds the bake",
			baked().checkResult("production", "health", CheckHealthy, now),
			func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, WaitChecks, d.Environments[1].Wait.Kind)
				require.Contains(t, d.Environments[1].Wait.Message, "check errors")
			}},
		{"inconclusive is not a pass (rule 9)",
			baked().checkResult("production", "health", CheckHealthy, now).checkResult("production", "errors", CheckInconclusive, now),
			func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Contains(t, d.Environments[1].Wait.Message, "inconclusive: because")
			}},
		{"a healthy result from before the bake started does not count",
			baked().checkResult("production", "health", CheckHealthy, t0.Add(-time.Minute)).checkResult("production", "errors", CheckHealthy, now),
			func(t *testing.T, d Decision) { require.Empty(t, d.Promotions) }},
		{"a failed-bake release is never promoted",
			func() *world {
				w := baked().checkResult("production", "health", CheckHealthy, now).checkResult("production", "errors", CheckHealthy, now)
				w.st.Marks = append(w.st.Marks, Mark{ReleaseID: w.rid("a"), Environment: "production", Kind: MarkFailedBake})
				return w
			}(),
			func(t *testing.T, d Decision) { require.Empty(t, d.Promotions) }},
		{"checks on production never hold staging",
			baked().release("b"),
			func(t *testing.T, d Decision) { require.Equal(t, map[string]string{"staging": "b"}, promoted(d)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, Decide(tt.world.st, now))
		})
	}
}

// TestSelectorMatches: a canonical selector matches when every pair holds;
// an empty or malformed one matches nothing (a lock never holds every
// service by mistake of its selector).
func TestSelectorMatches(t *testing.T) {
	t.Parallel()
	labels := map[string]string{"team": "payments", "tier": "1"}
	for sel, want := range map[string]bool{
		"team=payments":        true,
		"team=payments,tier=1": true,
		"team=payments,tier=2": false,
		"zone=eu":              false,
		"team=":                false,
		"":                     false,
		"team":                 false,
		"=payments":            false,
	} {
		require.Equal(t, want, SelectorMatches(sel, labels), sel)
	}
	l := Lock{Selector: "team=payments", Environment: "production"}
	require.True(t, l.Holds("web", labels))
	require.False(t, l.Holds("web", map[string]string{"team": "growth"}))
	require.Equal(t, "team=payments", l.Scope())
	require.True(t, Lock{Service: AllServices}.Holds("web", nil))
	require.False(t, Lock{Service: "api"}.Holds("web", labels))
}
