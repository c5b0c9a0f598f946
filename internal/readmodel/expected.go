package readmodel

import (
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// expected reckons, for each release waiting to enter environment i, when
// it should run in the service's last environment if nothing holds it: its
// bake ends (now if it has baked), the environment's window opens if it is
// closed then, and the same for each environment after it (the bake of the
// next one counted from the moment before, the deployments themselves taken
// as instant). Locks and checks are left out — a lock holds until someone
// lifts it, a check until it passes — which is what "if nothing holds it"
// means. A release also reaches the last environment inside any newer
// release that gets there first. It is a pure function of the state and
// the time.
func expected(st pipeline.State, i int, entries []pipeline.QueueEntry, now time.Time) map[int64]time.Time {
	out := map[int64]time.Time{}
	envs := st.Environments
	earliest := time.Time{}
	for _, e := range entries { // newest first
		if !e.State.Waiting() {
			continue
		}
		t := now
		if e.State == pipeline.ReleaseBaking && e.BakeEnd.After(now) {
			t = e.BakeEnd
		}
		ok := true
		for q := i; q < len(envs) && ok; q++ {
			if q > i {
				t = t.Add(envs[q].Bake)
			}
			if w := envs[q].Window; w != nil && !w.Open(t) {
				t, ok = w.NextOpen(t)
			}
		}
		if !ok {
			continue // a window that never opens again: no expectation
		}
		if !earliest.IsZero() && earliest.Before(t) {
			t = earliest // a newer release carries it earlier
		}
		earliest = t
		out[e.Release.ID] = t
	}
	return out
}

// ExpectedAt is when release id, waiting to enter e, is expected in the
// service's last environment if nothing holds it; false if it is not
// waiting or a window never opens again.
func (e Environment) ExpectedAt(id int64) (time.Time, bool) {
	t, ok := e.expected[id]
	return t, ok
}
