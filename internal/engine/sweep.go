package engine

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often the leader decides for every service as a
// safety net (changes made by other replicas, a missed wake-up).
const sweepEvery = 30 * time.Second

// sweepService is the leader's periodic reconcile of every service. When
// the last sweep was is reckoned on the engine's clock.
type sweepService struct {
	duty
	e *Engine

	mu   sync.Mutex
	last time.Time
}

func newSweepService(e *Engine) *sweepService {
	s := &sweepService{e: e}
	s.duty = newDuty("sweep", e.IsLeader, s.runOnce)
	return s
}

// forget makes the next pass sweep whatever the time (a new leader sweeps
// at once).
func (s *sweepService) forget() {
	s.mu.Lock()
	s.last = time.Time{}
	s.mu.Unlock()
}

// runOnce reconciles every service if the last sweep is sweepEvery ago.
func (s *sweepService) runOnce(ctx context.Context) {
	now := s.e.clock.Now()
	s.mu.Lock()
	due := s.last.IsZero() || now.Sub(s.last) > sweepEvery
	if due {
		s.last = now
	}
	s.mu.Unlock()
	if due {
		s.e.reconcileAll(ctx)
	}
}
