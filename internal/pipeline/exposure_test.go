package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func (w *world) exposure(env string, x Exposure) *world {
	for i := range w.st.Environments {
		if w.st.Environments[i].Name == env {
			w.st.Environments[i].Exposure = &x
		}
	}
	return w
}

// used records use of version in env: requests answered and people seen.
func (w *world) used(env, version string, requests int64, people ...string) *world {
	w.st.Exposure = append(w.st.Exposure, ExposureCount{Environment: env, ReleaseID: w.rid(version), Requests: requests, People: people})
	return w
}

// TestExposureGate is the exposure step of the gate: the bake is complete
// only when time AND exposure are met, with a fake clock.
func TestExposureGate(t *testing.T) {
	t.Parallel()
	const bake = time.Hour
	gate := Exposure{Requests: 500, People: 3}
	staged := func(x Exposure) *world {
		return newWorld(bake, "staging", "production").exposure("production", x).
			release("a").deployed("staging", "a", DeploymentSucceeded, t0)
	}
	tests := []struct {
		name  string
		world *world
		now   time.Time
		check func(t *testing.T, d Decision)
	}{
		{
			name:  "time met, exposure not: holds and says what is missing",
			world: staged(gate).used("staging", "a", 212, "p1"),
			now:   t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				w := d.Environments[1].Wait
				require.Equal(t, WaitExposure, w.Kind)
				require.Equal(t, "a", w.Version)
				require.Contains(t, w.Message, "baked 1h; 212 of 500 requests, 1 of 3 people")
				require.True(t, w.Until.IsZero(), "without max_wait only use ends the wait")
			},
		},
		{
			name:  "exposure met, time not: holds on the bake until its deadline",
			world: staged(gate).used("staging", "a", 900, "p1", "p2", "p3"),
			now:   t0.Add(30 * time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				w := d.Environments[1].Wait
				require.Equal(t, WaitBake, w.Kind)
				require.Equal(t, t0.Add(bake), w.Until)
				require.Equal(t, t0.Add(bake), d.NextCheck)
			},
		},
		{
			name:  "time and exposure met: promoted, the reason names the exposure",
			world: staged(gate).used("staging", "a", 500, "p1", "p2", "p3"),
			now:   t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Contains(t, d.Promotions[0].Reason, "exposure met: 500 of 500 requests, 3 of 3 people")
			},
		},
		{
			name:  "while baking the wait says the exposure so far",
			world: staged(gate).used("staging", "a", 10),
			now:   t0.Add(time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Contains(t, d.Environments[1].Wait.Message, "10 of 500 requests, 0 of 3 people so far")
			},
		},
		{
			name: "a newer release's use counts for the older one (rule 2 stays non-starving)",
			world: staged(gate).release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(50*time.Minute)).
				used("staging", "a", 200, "p1").used("staging", "b", 300, "p1", "p2", "p3"),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				// a: 500 requests (200 + b's 300), people p1 p2 p3 (p1 once).
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name: "an older release's use does not count for the newer one",
			world: staged(gate).release("b").deployed("staging", "b", DeploymentSucceeded, t0.Add(10*time.Minute)).
				used("staging", "a", 1000, "p1", "p2", "p3").used("staging", "b", 1, "p1"),
			now: t0.Add(3 * bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d), "the newest release with complete exposure wins")
				require.Empty(t, supersededVersions(d))
			},
		},
		{
			name:  "the same person on two releases is one person",
			world: staged(Exposure{People: 2}).release("b").deployed("staging", "b", DeploymentSucceeded, t0).used("staging", "a", 0, "p1").used("staging", "b", 0, "p1"),
			now:   t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Contains(t, d.Environments[1].Wait.Message, "1 of 2 people")
			},
		},
		{
			name:  "use in another environment is not exposure below",
			world: staged(gate).used("production", "a", 900, "p1", "p2", "p3"),
			now:   t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) { require.Empty(t, d.Promotions) },
		},
		{
			name:  "max_wait not over: the wait ends at max_wait, a wake-up",
			world: staged(Exposure{Requests: 500, MaxWait: 12 * time.Hour}).used("staging", "a", 12),
			now:   t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				w := d.Environments[1].Wait
				require.Equal(t, t0.Add(12*time.Hour), w.Until)
				require.Equal(t, t0.Add(12*time.Hour), d.NextCheck)
			},
		},
		{
			name:  "max_wait over, hold (the default): holds and says so",
			world: staged(Exposure{Requests: 500, MaxWait: 12 * time.Hour}).used("staging", "a", 12),
			now:   t0.Add(12 * time.Hour),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				w := d.Environments[1].Wait
				require.Equal(t, WaitExposure, w.Kind)
				require.Contains(t, w.Message, "12 of 500 requests")
				require.Contains(t, w.Message, "max_wait 12h is over, holding")
				require.True(t, d.NextCheck.IsZero(), "nothing changes by itself after max_wait when holding")
			},
		},
		{
			name:  "max_wait over, promote: promoted and the reason says why",
			world: staged(Exposure{Requests: 500, MaxWait: 12 * time.Hour, Promote: true}).used("staging", "a", 12),
			now:   t0.Add(12 * time.Hour),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Contains(t, d.Promotions[0].Reason, "max_wait 12h is over with 12 of 500 requests: promoted (after_max_wait: promote)")
			},
		},
		{
			name:  "skip-bake ends the exposure wait too (rule 5)",
			world: staged(gate).skipBake("production", "a"),
			now:   t0.Add(time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name:  "skip-bake ends the exposure wait but not a lock",
			world: staged(gate).skipBake("production", "a").lock("web", "production", t0, time.Time{}),
			now:   t0.Add(time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, WaitLock, d.Environments[1].Wait.Kind)
				require.Equal(t, "a", d.Environments[1].Wait.Version, "ready, waiting for the unlock")
			},
		},
		{
			name:  "no data at all (router down, Prometheus unreachable) is no exposure (rule 9)",
			world: staged(gate),
			now:   t0.Add(48 * time.Hour),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Contains(t, d.Environments[1].Wait.Message, "0 of 500 requests, 0 of 3 people")
			},
		},
		{
			name:  "an exposure gate never holds staging (rule 1)",
			world: staged(gate).release("b"),
			now:   t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
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

// TestExposureQueue: the queue agrees with Decide on a release held by the
// exposure gate: still baking, with what it has seen.
func TestExposureQueue(t *testing.T) {
	t.Parallel()
	w := newWorld(time.Hour, "staging", "production").exposure("production", Exposure{Requests: 500}).
		release("a").deployed("staging", "a", DeploymentSucceeded, t0).used("staging", "a", 212)
	q := Queue(w.st, 1, t0.Add(2*time.Hour))
	require.Len(t, q, 1)
	require.Equal(t, ReleaseBaking, q[0].State)
	require.Contains(t, q[0].Why, "212 of 500 requests")
	w.used("staging", "a", 288)
	q = Queue(w.st, 1, t0.Add(2*time.Hour))
	require.Equal(t, ReleaseBaked, q[0].State)
}

// BenchmarkDecideExposure10kPeople is one decision on a gate whose release
// has been used by 10,000 distinct people (the ids the store loads).
//
// Run: go test -run '^$' -bench DecideExposure -benchmem ./internal/pipeline/
func BenchmarkDecideExposure10kPeople(b *testing.B) {
	people := make([]string, 10_000)
	for i := range people {
		people[i] = fmt.Sprintf("%032x", i+1)
	}
	for _, need := range []int{3, 20_000} {
		b.Run(fmt.Sprintf("people=%d", need), func(b *testing.B) {
			w := newWorld(time.Hour, "staging", "production").exposure("production", Exposure{Requests: 500, People: need}).
				release("a").deployed("staging", "a", DeploymentSucceeded, t0).used("staging", "a", 100, people...)
			b.ReportAllocs()
			for b.Loop() {
				_ = Decide(w.st, t0.Add(2*time.Hour))
			}
		})
	}
}
