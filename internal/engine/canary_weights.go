package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// weightRetryAfter is how long a failed set_weight waits before it is tried
// again.
const weightRetryAfter = 5 * time.Second

// weightService applies canaries' weights: the built-in router of this
// process and the set_weight command. Applications of one canary's weight
// are serialised; on the leader, set_weight commands that did not apply
// are tried again every weightRetryAfter on the engine's clock.
type weightService struct {
	duty
	e *Engine

	mu    sync.Mutex
	retry map[int64]time.Time // when each canary's failed weight is tried again
	busy  map[int64]bool      // a retry is running
	locks map[int64]*sync.Mutex
}

func newWeightService(e *Engine) *weightService {
	s := &weightService{e: e, retry: map[int64]time.Time{}, busy: map[int64]bool{}, locks: map[int64]*sync.Mutex{}}
	s.duty = newDuty("canary weights", e.IsLeader, s.runOnce)
	return s
}

// runOnce tries again every set_weight that did not apply and is due.
func (s *weightService) runOnce(ctx context.Context) {
	e := s.e
	now := e.clock.Now()
	recent, err := e.store.CanaryList(ctx, &store.CanaryListParams{Limit: 50})
	if err != nil {
		return
	}
	pending := false
	defer func() {
		if !pending {
			s.rest() // a new weight comes with a change, which nudges
		}
	}()
	for _, c := range recent {
		_, cc := e.canaryConfig(c.Service, c.Environment)
		if cc == nil || cc.SetWeight == nil || c.AppliedWeight == c.Weight || c.State == pipeline.CanaryPromoting {
			continue
		}
		pending = true
		s.mu.Lock()
		retry := !s.busy[c.ID] && !now.Before(s.retry[c.ID])
		if retry {
			s.busy[c.ID] = true
			s.retry[c.ID] = now.Add(weightRetryAfter)
		}
		s.mu.Unlock()
		if !retry {
			continue
		}
		c := c
		s.goWork(func() {
			_ = s.apply(ctx, c)
			s.mu.Lock()
			delete(s.busy, c.ID)
			s.mu.Unlock()
		})
	}
}

// applyWeight gives the canary the weight stored for it now (see
// weightService.apply).
func (e *Engine) applyWeight(ctx context.Context, c pipeline.Canary) error {
	return e.weights.apply(ctx, c)
}

// apply gives the canary the weight stored for it now: the built-in
// router (in this process) at once, and the set_weight command if there is
// one. Applications of one canary's weight are serialised and re-read the
// stored weight, so they land in order and a weight already applied is not
// applied again. Routers in other replicas follow within a router sync.
func (s *weightService) apply(ctx context.Context, c pipeline.Canary) error {
	e := s.e
	ctx = context.WithoutCancel(ctx)
	mu := s.lock(c.ID)
	mu.Lock()
	defer mu.Unlock()
	if cur, err := e.store.CanaryGet(ctx, c.ID); err == nil {
		c = cur
	}
	e.syncRoutersSoon()
	if r := e.routerFor(c.Service, c.Environment); r != nil {
		r.SetWeight(c.Weight)
	}
	_, cc := e.canaryConfig(c.Service, c.Environment)
	if cc == nil || cc.SetWeight == nil || c.AppliedWeight == c.Weight {
		return nil
	}
	req := e.canaryCommand(c, cc.SetWeight, "BAKERY_CANARY_WEIGHT", fmt.Sprint(c.Weight))
	tail := deploy.NewTail(8 << 10)
	if err := e.opts.Deployer.Deploy(ctx, req, tail); err != nil {
		msg := fmt.Sprintf("set_weight %d%% failed: %v: %s", c.Weight, err, lastLine(tail.String()))
		e.log.Error("canary weight not applied", "service", c.Service, "environment", c.Environment, "weight", c.Weight, "error", msg)
		_ = e.mutate(ctx, c.Service, func(u *unit) error {
			u.noDecision()
			return u.event(&pipeline.Event{Type: pipeline.EventCanaryWeight, Service: c.Service,
				Environment: c.Environment, Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: msg,
				Data: map[string]any{"weight": c.Weight}})
		})
		return errors.New(msg)
	}
	return e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CanaryWeightApplied(ctx, c.ID, c.Weight)
	})
}

// lock is the lock that serialises applying one canary's weight.
func (s *weightService) lock(id int64) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	mu, ok := s.locks[id]
	if !ok {
		mu = &sync.Mutex{}
		s.locks[id] = mu
	}
	return mu
}
