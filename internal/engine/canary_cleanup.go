package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// endCanary writes a canary's end in tx: weight 0, its final state, and
// the job that runs its cleanup command (if it has one).
func (e *Engine) endCanary(ctx context.Context, tx store.Tx, c pipeline.Canary, state pipeline.CanaryState, reason string, now time.Time) (pipeline.Canary, error) {
	return e.endCanaryFrom(ctx, tx, c, []pipeline.CanaryState{pipeline.CanaryRunning, pipeline.CanaryPromoting}, state, reason, now)
}

func (e *Engine) endCanaryFrom(ctx context.Context, tx store.Tx, c pipeline.Canary, from []pipeline.CanaryState,
	state pipeline.CanaryState, reason string, now time.Time) (pipeline.Canary, error) {
	ended, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: from, State: state,
		Weight: 0, SetWeight: true, FinishedAt: now, Reason: &reason})
	if err != nil {
		return ended, err
	}
	if _, cc := e.canaryConfig(c.Service, c.Environment); cc != nil && cc.Cleanup != nil {
		err = tx.JobInsert(ctx, cleanupJob(c.ID))
	}
	return ended, err
}

// cleanupCanary runs an ended canary's cleanup command once, with
// BAKERY_CANARY_OUTCOME, and puts the outcome on the record. An error
// makes River try again later.
func (e *Engine) cleanupCanary(ctx context.Context, id int64) error {
	c, err := e.store.CanaryGet(ctx, id)
	if err != nil {
		return err
	}
	_, cc := e.canaryConfig(c.Service, c.Environment)
	if !c.State.IsTerminal() || !c.CleanedAt.IsZero() || cc == nil || cc.Cleanup == nil {
		return nil // not over, done already, or nothing to run any more
	}
	req := e.canaryCommand(c, cc.Cleanup, "BAKERY_CANARY_OUTCOME", string(c.State))
	tail := deploy.NewTail(8 << 10)
	runErr := e.opts.Deployer.Deploy(context.WithoutCancel(ctx), req, tail)
	err = e.mutate(context.WithoutCancel(ctx), c.Service, func(u *unit) error {
		u.noDecision()
		tx, now := u.tx, u.now
		ev := &pipeline.Event{At: now, Type: pipeline.EventCanaryCleanedUp, Service: c.Service, Environment: c.Environment, Version: c.Version,
			Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: "cleanup command exited 0",
			Data: map[string]any{"canary_id": c.ID, "outcome": c.State}}
		if runErr != nil {
			ev.Type = pipeline.EventCanaryCleanup
			ev.Reason = fmt.Sprintf("cleanup command failed (%v): %s; trying again later", runErr, lastLine(tail.String()))
		} else if err := tx.CanaryCleaned(ctx, c.ID, now); err != nil {
			return err
		}
		return u.event(ev)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // another run recorded it first
	}
	if err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("cleanup of canary %d: %w", c.ID, runErr)
	}
	return nil
}
