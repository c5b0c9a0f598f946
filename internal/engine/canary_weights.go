package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// applyWeight gives the canary the weight stored for it now: the built-in
// router (in this process) at once, and the set_weight command if there is
// one. Applications of one canary's weight are serialised and re-read the
// stored weight, so they land in order and a weight already applied is not
// applied again. Routers in other replicas follow within a router sync.
func (e *Engine) applyWeight(ctx context.Context, c pipeline.Canary) error {
	ctx = context.WithoutCancel(ctx)
	mu := e.weightLock(c.ID)
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

// weightLock is the lock that serialises applying one canary's weight.
func (e *Engine) weightLock(id int64) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	mu, ok := e.weightLocks[id]
	if !ok {
		mu = &sync.Mutex{}
		e.weightLocks[id] = mu
	}
	return mu
}
