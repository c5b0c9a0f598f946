package engine

import (
	"context"
	"sync"
	"time"
)

// dutyInterval is how often the leader's duties look for work. What is due
// is decided on the engine's clock; the ticker only says when to look.
const dutyInterval = time.Second

// duty is what every one of the engine's services (bake checks, canary
// judging, weight retries, the sweep) shares: a goroutine that calls
// runOnce on a ticker, or at once when kicked, while this process leads,
// and a wait group for the work runOnce starts in the background. A test
// calls a service's runOnce itself instead, or stops the service to keep
// it out of the way.
type duty struct {
	name    string
	runOnce func(ctx context.Context)
	leading func() bool

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
	kickc  chan struct{}
	work   sync.WaitGroup
}

func newDuty(name string, leading func() bool, runOnce func(ctx context.Context)) duty {
	return duty{name: name, runOnce: runOnce, leading: leading, kickc: make(chan struct{}, 1)}
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
		tick := time.NewTicker(dutyInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-d.kickc:
			}
			if d.leading() {
				d.runOnce(ctx)
			}
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

// goWork runs fn in the background as the duty's work: Stop waits for it.
func (d *duty) goWork(fn func()) {
	d.work.Add(1)
	go func() {
		defer d.work.Done()
		fn()
	}()
}
