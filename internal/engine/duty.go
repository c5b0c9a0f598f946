package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// dutyInterval is how often a duty looks for work while it has some in
// hand (a canary to judge, a check to run). What is due is decided on the
// engine's clock; the timer only says when to look.
const dutyInterval = time.Second

// dutyRest is how long a duty that found nothing to do, or a process that
// does not lead, waits before looking again: a change in this process
// nudges it sooner (within dutyInterval of its last look), an election at
// once. A server with nothing going on so wakes a few times in dutyRest
// instead of once a second per duty (docs/PERFORMANCE.md, issue 15).
const dutyRest = 5 * time.Second

// duty is what every one of the engine's services (bake checks, canary
// judging, weight retries, the sweep) shares: a goroutine that calls
// runOnce on a timer, or at once when kicked, while this process leads,
// and a wait group for the work runOnce starts in the background. A test
// calls a service's runOnce itself instead, or stops the service to keep
// it out of the way.
//
// runOnce calls rest when it found nothing in hand; the duty then waits
// dutyRest instead of dutyInterval, unless nudged.
type duty struct {
	name    string
	runOnce func(ctx context.Context)
	leading func() bool

	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	kickc   chan struct{}
	nudgec  chan struct{}
	resting atomic.Bool
	work    sync.WaitGroup
}

func newDuty(name string, leading func() bool, runOnce func(ctx context.Context)) duty {
	return duty{name: name, runOnce: runOnce, leading: leading, kickc: make(chan struct{}, 1), nudgec: make(chan struct{}, 1)}
}

// Start runs the duty until ctx ends or Stop is called.
func (d *duty) Start(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		return
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.done = make(chan struct{})
	go func() {
		defer close(d.done)
		timer := time.NewTimer(dutyInterval)
		defer timer.Stop()
		var last time.Time
		for {
			select {
			case <-ctx.Done():
				return
			case <-d.nudgec:
				// Something changed: look within dutyInterval of the last
				// look, not at once, so that a burst of changes makes one
				// look a second.
				if wait := time.Until(last.Add(dutyInterval)); wait > 0 {
					timer.Reset(wait)
					continue
				}
			case <-timer.C:
			case <-d.kickc:
			}
			wait := dutyRest
			if d.leading() {
				d.resting.Store(false)
				d.runOnce(ctx)
				if !d.resting.Load() {
					wait = dutyInterval
				}
			}
			last = time.Now()
			timer.Reset(wait)
		}
	}()
}

// Stop stops the duty and waits for the work it started.
func (d *duty) Stop() {
	d.mu.Lock()
	cancel, done := d.cancel, d.done
	d.cancel = nil
	d.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	d.work.Wait()
}

// kick makes the duty look for work now (on election, say).
func (d *duty) kick() {
	select {
	case d.kickc <- struct{}{}:
	default:
	}
}

// nudge makes a resting duty look for work soon: within dutyInterval of
// its last look.
func (d *duty) nudge() {
	select {
	case d.nudgec <- struct{}{}:
	default:
	}
}

// rest tells the duty, from runOnce, that it found nothing in hand: it
// looks again in dutyRest, or sooner when nudged.
func (d *duty) rest() { d.resting.Store(true) }

// goWork runs fn in the background as the duty's work: Stop waits for it.
func (d *duty) goWork(fn func()) {
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		fn()
	}()
}
