package engine

import (
	"context"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Retention's pace: the leader looks every retentionEvery (on the engine's
// clock) and then works in batches of retentionBatch rows, one short
// transaction each, pausing retentionPause between batches so deployments
// and commands get the database in between.
const (
	retentionEvery = time.Hour
	retentionBatch = 500
	retentionPause = 200 * time.Millisecond
)

// retentionService prunes what server.retention no longer keeps: the
// oldest events and old deployments' output. It runs on the leader only.
//
// It does not go through the unit of work: it changes nothing a decision
// reads. pipeline.State (ServiceState) holds no events and no deployment
// output, and the deployment each environment runs keeps its output; a
// lock, a release or a deployment row is never deleted.
type retentionService struct {
	duty
	e *Engine
	// pause is retentionPause; tests set it to zero.
	pause time.Duration

	mu   sync.Mutex
	last time.Time
}

func newRetentionService(e *Engine) *retentionService {
	s := &retentionService{e: e, pause: retentionPause}
	s.duty = newDuty("retention", e.IsLeader, s.runOnce)
	return s
}

// RetentionResult is what one pass of retention removed.
type RetentionResult struct {
	Events  int
	Outputs int
}

// runOnce prunes if the last pass is retentionEvery ago.
func (s *retentionService) runOnce(ctx context.Context) {
	s.rest() // hourly work: looking every dutyRest is often enough
	now := s.e.clock.Now()
	s.mu.Lock()
	due := s.last.IsZero() || now.Sub(s.last) >= retentionEvery
	if due {
		s.last = now
	}
	s.mu.Unlock()
	if due {
		_, _ = s.prune(ctx, now)
	}
}

// prune removes, in batches, every event and output older than the limits
// of server.retention at now. It stops early when this process stops
// leading or ctx ends.
func (s *retentionService) prune(ctx context.Context, now time.Time) (RetentionResult, error) {
	var res RetentionResult
	r := s.e.Config().Server.Retention
	if r.Events <= 0 && r.DeploymentOutput <= 0 {
		return res, nil
	}
	p, ok := findStore[store.Pruner](s.e.store)
	if !ok {
		return res, nil
	}
	batches := func(what string, limit time.Duration, step func() (int, error), total *int) error {
		if limit <= 0 {
			return nil
		}
		for ctx.Err() == nil && s.leading() {
			n, err := step()
			if err != nil {
				s.e.log.Error("retention: error pruning", "what", what, "older_than", now.Add(-limit), "error", err)
				return err
			}
			*total += n
			if n < retentionBatch {
				return nil
			}
			if s.pause > 0 {
				select {
				case <-ctx.Done():
				case <-time.After(s.pause):
				}
			}
		}
		return ctx.Err()
	}
	err := batches("events", r.Events, func() (int, error) {
		return p.EventPrune(ctx, &store.EventPruneParams{Before: now.Add(-r.Events), Limit: retentionBatch})
	}, &res.Events)
	if err == nil {
		err = batches("deployment output", r.DeploymentOutput, func() (int, error) {
			return p.DeploymentOutputPrune(ctx, &store.DeploymentOutputPruneParams{FinishedBefore: now.Add(-r.DeploymentOutput), Limit: retentionBatch})
		}, &res.Outputs)
	}
	if res.Events > 0 || res.Outputs > 0 {
		s.e.log.Info("retention: pruned", "events_deleted", res.Events, "outputs_cleared", res.Outputs,
			"events_older_than", r.Events.String(), "output_older_than", r.DeploymentOutput.String())
	}
	return res, err
}

// findStore finds a store implementing T behind the engine's wrappers
// (masking, actor).
func findStore[T any](st store.Store) (T, bool) {
	for st != nil {
		if t, ok := st.(T); ok {
			return t, true
		}
		u, ok := st.(interface{ Unwrap() store.Store })
		if !ok {
			break
		}
		st = u.Unwrap()
	}
	var zero T
	return zero, false
}
