package engine

import (
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// deadlineTimers are the local wake-ups at services' next deadlines (a
// bake's end, a window's opening, a lock's expiry). The durable River job
// written with each decision is the fallback; the timer is what makes the
// deadline prompt.
type deadlineTimers struct {
	clock pipeline.Clock
	fire  func(service string)

	mu     sync.Mutex
	timers map[string]*timer
}

type timer struct {
	at time.Time
	t  *time.Timer
}

func newDeadlineTimers(clock pipeline.Clock, fire func(service string)) *deadlineTimers {
	return &deadlineTimers{clock: clock, fire: fire, timers: map[string]*timer{}}
}

// arm makes sure service is woken up at next (nothing for a zero next).
func (d *deadlineTimers) arm(service string, next time.Time) {
	if next.IsZero() {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.clock.Now()
	if t, ok := d.timers[service]; ok {
		if !t.at.After(next) && t.at.After(now) {
			return // an earlier (or equal) wake-up is already set
		}
		t.t.Stop()
	}
	wait := max(next.Sub(now), 0)
	t := &timer{at: next}
	t.t = time.AfterFunc(wait, func() {
		d.mu.Lock()
		if cur, ok := d.timers[service]; ok && cur == t {
			delete(d.timers, service)
		}
		d.mu.Unlock()
		d.fire(service)
	})
	d.timers[service] = t
}

// armed is the wake-up set for service (zero if none).
func (d *deadlineTimers) armed(service string) time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t, ok := d.timers[service]; ok {
		return t.at
	}
	return time.Time{}
}

// stop cancels every wake-up.
func (d *deadlineTimers) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.timers {
		t.t.Stop()
	}
	d.timers = map[string]*timer{}
}
