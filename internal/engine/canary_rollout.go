package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// canaryPhase says what a deployment's attempt must do: "" for a plain
// deploy, "canary" to put the release beside stable, "promote" to replace
// stable after the canary, "none" when there is nothing left to do.
func (e *Engine) canaryPhase(ctx context.Context, dep pipeline.Deployment) (string, pipeline.Canary, error) {
	_, cc := e.canaryConfig(dep.Service, dep.Environment)
	c, err := e.store.CanaryGetByDeployment(ctx, dep.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if cc == nil || dep.Kind != pipeline.KindAuto {
			return "", c, nil
		}
		// A canary is judged against the stable version: the first
		// release into the environment has none and is deployed plainly.
		cur, err := e.store.DeploymentList(ctx, &store.DeploymentListParams{Service: dep.Service, Environment: dep.Environment,
			States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
		if err != nil {
			return "", c, err
		}
		if len(cur) == 0 {
			return "", c, nil
		}
		return "canary", c, nil
	case err != nil:
		return "", c, err
	case c.State == pipeline.CanaryPromoting:
		return "promote", c, nil
	default:
		return "none", c, nil
	}
}

// canaryRequest is the request that puts the release beside stable.
func canaryRequest(req deploy.Request, cc *config.Canary) deploy.Request {
	req.Command, req.Dir, req.Env, req.Timeout = cc.Deploy.Command, cc.Deploy.Dir, cc.Deploy.Env, cc.Deploy.Timeout
	req.InheritEnv = cc.Deploy.InheritEnv
	return req
}

// startCanary records, once the canary instances are up, that the canary
// runs at its first step; the deployment stays running for the rollout.
func (e *Engine) startCanary(ctx context.Context, dep pipeline.Deployment, output string) error {
	ctx = context.WithoutCancel(ctx)
	_, cc := e.canaryConfig(dep.Service, dep.Environment)
	if cc == nil || len(cc.Steps) == 0 {
		return e.finishDeployment(ctx, dep, errors.New("the environment's canary was removed from the configuration while its instances were deployed"), output)
	}
	var c pipeline.Canary
	err := e.mutate(ctx, dep.Service, func(u *unit) error {
		u.noDecision() // the deployment stays running; nothing new to decide
		tx, now := u.tx, u.now
		if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentRunning,
			Heartbeat: now, Output: &output}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errTakenOver
			}
			return err
		}
		first := cc.Steps[0]
		var err error
		c, err = tx.CanaryInsert(ctx, &pipeline.Canary{DeploymentID: dep.ID, Service: dep.Service, Environment: dep.Environment,
			ReleaseID: dep.ReleaseID, Version: dep.Version, State: pipeline.CanaryRunning, Step: 0, Weight: first.Weight,
			StartedAt: now, StepStartedAt: now, Reason: "canary instances deployed"})
		if err != nil {
			return err
		}
		if err := u.event(&pipeline.Event{Type: pipeline.EventCanaryStarted, Service: dep.Service, Environment: dep.Environment,
			Version: dep.Version, ToVersion: dep.Version, Actor: pipeline.ActorSystem, DeploymentID: dep.ID,
			Reason: fmt.Sprintf("%s is a canary at %d%% (step 1 of %d, for %s)", dep.Version, first.Weight, len(cc.Steps), first.For),
			Data:   map[string]any{"canary_id": c.ID, "weight": first.Weight, "step": 1}}); err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) {
			e.log.Info("canary started", "service", dep.Service, "environment", dep.Environment, "version", dep.Version, "weight", c.Weight)
			_ = e.applyWeight(ctx, c)
		})
		return nil
	})
	if errors.Is(err, errTakenOver) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error recording the start of the canary of deployment %d: %w", dep.ID, err)
	}
	return nil
}

// promoteCanary is the promote phase of a deployment: all traffic to the
// canary, the environment's deploy command replaces stable, then all
// traffic back to (the new) stable.
func (e *Engine) promoteCanary(ctx context.Context, dep pipeline.Deployment, c pipeline.Canary, req deploy.Request, tail *deploy.Tail) error {
	if err := e.applyWeight(ctx, c); err != nil {
		return fmt.Errorf("could not move traffic to the canary before replacing stable: %w", err)
	}
	return e.opts.Deployer.Deploy(ctx, req, tail)
}

// abortCanaryTx aborts a running canary in tx: weight 0, its deployment
// failed, its release rejected and, when lock is set, the environment
// locked with the reason; the event carries the judgement's scores.
func (e *Engine) abortCanaryTx(ctx context.Context, tx store.Tx, c pipeline.Canary, actor, reason string, lock bool,
	j *pipeline.Judgement, now time.Time) (pipeline.Canary, error) {
	ended, err := e.endCanaryFrom(ctx, tx, c, []pipeline.CanaryState{pipeline.CanaryRunning}, pipeline.CanaryAborted, reason, now)
	if err != nil {
		return ended, err
	}
	dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
	if err != nil {
		return ended, err
	}
	msg := "canary aborted: " + reason
	if dep.State == pipeline.DeploymentRunning {
		if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentFailed, FinishedAt: now,
			Error: &msg}); err != nil {
			return ended, err
		}
	}
	if err := tx.ReleaseReject(ctx, c.ReleaseID); err != nil {
		return ended, err
	}
	data := map[string]any{"canary_id": c.ID, "weight": 0, "step": c.Step + 1}
	if j != nil {
		data["judgement_id"], data["verdict"], data["score"] = j.ID, j.Verdict, j.Score
		var jd JudgementDetail
		if json.Unmarshal(j.Detail, &jd) == nil {
			scores := map[string]any{}
			for _, m := range jd.Metrics {
				scores[m.Name] = map[string]any{"outcome": m.Outcome, "p_value": m.PValue, "baseline_median": m.BaselineMedian,
					"canary_median": m.CanaryMedian}
			}
			data["metrics"] = scores
		}
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryAborted, Service: c.Service, Environment: c.Environment,
		Version: c.Version, Actor: actor, DeploymentID: c.DeploymentID, Reason: reason, Data: data}); err != nil {
		return ended, err
	}
	e.log.Warn("canary aborted", "service", c.Service, "environment", c.Environment, "version", c.Version, "actor", actor, "reason", reason)
	if lock {
		if err := e.lockUnlessHeld(ctx, tx, c.Service, c.Environment, pipeline.ActorSystem,
			fmt.Sprintf("canary %s failed: %s", c.Version, reason), map[string]any{"canary_id": c.ID}, now); err != nil {
			return ended, err
		}
	}
	return ended, nil
}

// startPromotionTx moves a running canary to its promotion: the
// deployment's next attempt replaces stable (a River job, in tx).
func (e *Engine) startPromotionTx(ctx context.Context, tx store.Tx, c pipeline.Canary, actor, reason string, now time.Time) (pipeline.Canary, error) {
	up, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
		State: pipeline.CanaryPromoting, Weight: 100, SetWeight: true, Reason: &reason})
	if err != nil {
		return up, err
	}
	dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
	if err != nil {
		return up, err
	}
	// The promotion is the deployment's next step, not a retry: it keeps
	// the attempt (which counts tries of the deployment, and is the guard
	// that makes a taken-over attempt's job a no-op, rule 10). Its job has
	// a kind of its own, so it is not the canary step's job again in
	// River's eyes; should both ever run, the first moves the deployment
	// from pending to running under the service lock and the other finds
	// nothing to do.
	if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
		FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentPending}); err != nil {
		return up, err
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryPromoting, Service: c.Service, Environment: c.Environment,
		Version: c.Version, ToVersion: c.Version, Actor: actor, DeploymentID: c.DeploymentID, Reason: reason,
		Data: map[string]any{"canary_id": c.ID}}); err != nil {
		return up, err
	}
	return up, tx.JobInsert(ctx, promoteJob(dep.ID, dep.Attempt))
}

// dropCanary ends a running canary whose environment lost its canary
// block in a reload: weight 0, its deployment failed (the release was not
// promoted; a person can deploy it with rollback --to or emergency). The
// release is not rejected: nothing was judged against it.
func (e *Engine) dropCanary(ctx context.Context, c pipeline.Canary) {
	err := e.mutate(ctx, c.Service, func(u *unit) error {
		tx, now := u.tx, u.now
		reason := "the configuration no longer has a canary for " + c.Environment + "; " + c.Version + " was not promoted"
		var err error
		ended, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
			State: pipeline.CanaryCancelled, Weight: 0, SetWeight: true, FinishedAt: now, Reason: &reason})
		if err != nil {
			return err
		}
		dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
		if err != nil {
			return err
		}
		if dep.State == pipeline.DeploymentRunning {
			if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
				FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentFailed, FinishedAt: now,
				Error: &reason}); err != nil {
				return err
			}
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryAborted, Service: c.Service, Environment: c.Environment,
			Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: reason,
			Data: map[string]any{"canary_id": c.ID, "weight": 0}}); err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) {
			e.log.Warn("canary ended: its configuration is gone", "service", c.Service, "environment", c.Environment, "version", c.Version)
			_ = e.applyWeight(ctx, ended)
		})
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("error ending a canary removed from the configuration", "service", c.Service, "environment", c.Environment, "error", err)
	}
}

// CanaryPromote finishes the running canary of service/env now: its
// remaining steps are skipped and stable is replaced. A held lock refuses
// it (the lock is a brake; unlock first or abort).
func (e *Engine) CanaryPromote(ctx context.Context, actor, service, env, reason string) (pipeline.Canary, error) {
	if err := requireReason("promoting a canary", reason); err != nil {
		return pipeline.Canary{}, err
	}
	if _, _, err := e.environment(service, env); err != nil {
		return pipeline.Canary{}, err
	}
	var up pipeline.Canary
	err := e.mutate(ctx, service, func(u *unit) error {
		u.noDecision() // the promotion is the deployment's next attempt
		tx, now := u.tx, u.now
		c, err := runningCanary(ctx, tx, service, env)
		if err != nil {
			return err
		}
		held, err := e.heldLocks(ctx, tx, service, env, now)
		if err != nil {
			return err
		}
		if len(held) > 0 {
			l := held[0]
			return fmt.Errorf("%w: %s/%s is locked by %s: %s; unlock it first (bakery unlock %s %s --reason ...) or abort the canary",
				ErrLocked, service, env, l.Actor, l.Reason, service, env)
		}
		up, err = e.startPromotionTx(ctx, tx, c, actor, fmt.Sprintf("promoted by %s at %d%% (step %d): %s", actor, c.Weight, c.Step+1, reason), now)
		return err
	})
	if err != nil {
		return up, err
	}
	return up, nil
}

// CanaryAbort stops the running canary of service/env now: weight 0, its
// deployment failed and its release rejected.
func (e *Engine) CanaryAbort(ctx context.Context, actor, service, env, reason string) (pipeline.Canary, error) {
	if err := requireReason("aborting a canary", reason); err != nil {
		return pipeline.Canary{}, err
	}
	svc, _, err := e.environment(service, env)
	if err != nil {
		return pipeline.Canary{}, err
	}
	var ended pipeline.Canary
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		c, err := runningCanary(ctx, tx, service, env)
		if err != nil {
			return err
		}
		ended, err = e.abortCanaryTx(ctx, tx, c, actor, fmt.Sprintf("aborted by %s: %s", actor, reason), false, nil, now)
		if err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) { _ = e.applyWeight(ctx, ended) })
		return nil
	})
	if err != nil {
		return ended, err
	}
	return ended, nil
}
