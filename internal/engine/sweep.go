package engine

import (
	"context"
	"sort"
	"sync"
	"time"
)

// sweepEvery is how often the leader looks for services whose wake-up is
// due but was missed (a deadline timer whose reconcile failed, say).
const sweepEvery = 30 * time.Second

// sweepService is the leader's periodic safety net. Its first pass after
// an election decides for every service; after that, a pass decides only
// for the services whose next wake-up, as their last decision returned it,
// is due: at 10,000 services a pass that re-decided every one of them
// every 30 s was most of bakery's idle CPU, and it found nothing to do
// that a deadline timer or the durable reconcile job does not already do.
// When the last pass was is reckoned on the engine's clock.
type sweepService struct {
	duty
	e *Engine

	mu   sync.Mutex
	last time.Time
	// full makes the next pass decide for every service, unless one began
	// (fullAt) less than sweepEvery ago: the one at start-up, say.
	full   bool
	fullAt time.Time
	// next is each service's next wake-up as its last decision in this
	// process returned it; services without one are not listed.
	next map[string]time.Time
}

func newSweepService(e *Engine) *sweepService {
	s := &sweepService{e: e, full: true, next: map[string]time.Time{}}
	s.duty = newDuty("sweep", e.IsLeader, s.runOnce)
	return s
}

// forget makes the next pass sweep every service whatever the time (a new
// leader sweeps at once).
func (s *sweepService) forget() {
	s.mu.Lock()
	s.last = time.Time{}
	s.full = true
	s.mu.Unlock()
}

// decided records a service's next wake-up after a decision committed.
func (s *sweepService) decided(service string, next time.Time) {
	s.mu.Lock()
	if next.IsZero() {
		delete(s.next, service)
	} else {
		s.next[service] = next
	}
	s.mu.Unlock()
}

// due lists the services whose wake-up is at or before now, in name order.
func (s *sweepService) due(now time.Time) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for svc, at := range s.next {
		if !at.After(now) {
			out = append(out, svc)
		}
	}
	sort.Strings(out)
	return out
}

// runOnce sweeps if the last sweep is sweepEvery ago: every service on the
// first pass, only the due ones after.
func (s *sweepService) runOnce(ctx context.Context) {
	// The sweep is a backstop on its own schedule (sweepEvery): looking
	// every dutyRest is often enough.
	s.rest()
	now := s.e.clock.Now()
	s.mu.Lock()
	due := s.last.IsZero() || now.Sub(s.last) > sweepEvery
	full := s.full && (s.fullAt.IsZero() || now.Sub(s.fullAt) > sweepEvery)
	if due {
		s.last = now
		s.full = false
		if full {
			s.fullAt = now
		}
	}
	s.mu.Unlock()
	switch {
	case !due:
	case full:
		s.e.reconcileAll(ctx)
	default:
		for _, svc := range s.due(now) {
			if err := s.e.Reconcile(ctx, svc); err != nil && ctx.Err() == nil {
				s.e.log.Error("reconcile failed", "service", svc, "error", err)
			}
		}
	}
}

// reconcileAll decides for every service now, as a full pass of the sweep.
func (s *sweepService) reconcileAll(ctx context.Context) {
	s.mu.Lock()
	s.fullAt = s.e.clock.Now()
	s.mu.Unlock()
	s.e.reconcileAll(ctx)
}
