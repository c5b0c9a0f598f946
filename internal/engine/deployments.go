package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/store"
)

// outputTail is how much of a deploy command's output is kept.
const outputTail = 64 << 10

// runDeployment carries out one attempt of a deployment: it writes down that
// the attempt started, runs the deploy command while heart-beating, and
// writes down the outcome together with the next decision for the service.
func (e *Engine) runDeployment(ctx context.Context, id int64, attempt int) error {
	// Its service is read first: the unit of work takes its lock.
	dep, err := e.store.DeploymentGet(ctx, id)
	if err != nil {
		return fmt.Errorf("error starting deployment %d: %w", id, err)
	}
	if dep.Attempt != attempt || dep.State != pipeline.DeploymentPending {
		return nil // taken over, finished or cancelled: this job has nothing to do
	}
	var rel pipeline.Release
	started := false
	err = e.mutate(ctx, dep.Service, func(u *unit) error {
		// Starting a deployment changes no decision: the service's
		// deployment was decided when it was written.
		u.noDecision()
		tx, now := u.tx, u.now
		var err error
		dep, err = tx.DeploymentGet(ctx, id)
		if err != nil {
			return err
		}
		if dep.Attempt != attempt || dep.State != pipeline.DeploymentPending {
			return nil // taken over, finished or cancelled meanwhile
		}
		rel, err = tx.ReleaseGetByID(ctx, dep.ReleaseID)
		if err != nil {
			return err
		}
		dep, err = tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: id, Attempt: attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending}, State: pipeline.DeploymentRunning,
			StartedAt: now, Heartbeat: now})
		if err != nil {
			return err
		}
		from := ""
		if cur, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: dep.Service, Environment: dep.Environment,
			States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1}); err == nil && len(cur) > 0 {
			from = cur[0].Version
		}
		err = u.event(&pipeline.Event{Type: pipeline.EventDeploymentStarted, Service: dep.Service,
			Environment: dep.Environment, Version: dep.Version, FromVersion: from, ToVersion: dep.Version, Actor: dep.Actor,
			Reason: dep.Reason, DeploymentID: dep.ID, Data: map[string]any{"attempt": attempt}})
		started = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("error starting deployment %d: %w", id, err)
	}
	if !started {
		return nil
	}

	req, cfgErr := e.request(dep, rel)
	tail := deploy.NewTail(outputTail)
	phase, canary, phaseErr := e.canaryPhase(ctx, dep)
	if cfgErr == nil {
		cfgErr = phaseErr
	}
	var runErr error
	switch {
	case cfgErr != nil:
		runErr = cfgErr
		_, _ = tail.Write([]byte(redact.ForViewers(cfgErr.Error()) + "\n"))
	case phase == "none":
		return nil // the canary ended meanwhile
	case phase == "canary":
		// The release goes beside stable first; the rollout follows.
		_, cc := e.canaryConfig(dep.Service, dep.Environment)
		runErr = e.runWithHeartbeat(ctx, dep, tail, func(ctx context.Context) error {
			if err := e.migrate(ctx, dep, rel, req, tail); err != nil {
				return err
			}
			return e.opts.Deployer.Deploy(ctx, canaryRequest(req, cc), tail)
		})
		if runErr == nil {
			return e.startCanary(ctx, dep, tail.String())
		}
	case phase == "promote":
		runErr = e.runWithHeartbeat(ctx, dep, tail, func(ctx context.Context) error {
			return e.promoteCanary(ctx, dep, canary, req, tail)
		})
		if errors.Is(runErr, errTakenOver) {
			return nil
		}
		return e.finishCanaryPromotion(ctx, dep, canary, runErr, tail.String())
	default:
		runErr = e.runWithHeartbeat(ctx, dep, tail, func(ctx context.Context) error {
			if err := e.migrate(ctx, dep, rel, req, tail); err != nil {
				return err
			}
			return e.opts.Deployer.Deploy(ctx, req, tail)
		})
	}
	if errors.Is(runErr, errTakenOver) {
		return nil
	}
	return e.finishDeployment(ctx, dep, runErr, tail.String())
}

// finishCanaryPromotion ends a canary's promotion: the deployment's outcome
// and, in the same transaction, the canary's end with weight 0 (all
// traffic to stable, which now runs the release, or still the old version
// if the deploy command failed).
func (e *Engine) finishCanaryPromotion(ctx context.Context, dep pipeline.Deployment, c pipeline.Canary, runErr error, output string) error {
	err := e.finishDeploymentWith(ctx, dep, runErr, output, func(ctx context.Context, tx store.Tx, now time.Time) error {
		state, reason := pipeline.CanaryPromoted, "promoted: "+dep.Version+" is the stable version"
		if runErr != nil {
			state, reason = pipeline.CanaryAborted, "the deploy command replacing stable failed: "+redact.ForViewers(runErr.Error())
		}
		var err error
		c, err = e.endCanary(ctx, tx, c, state, reason, now)
		if err != nil {
			return err
		}
		typ := pipeline.EventCanaryPromoted
		if runErr != nil {
			typ = pipeline.EventCanaryAborted
		}
		_, err = tx.EventInsert(ctx, &pipeline.Event{At: now, Type: typ, Service: dep.Service, Environment: dep.Environment,
			Version: dep.Version, ToVersion: dep.Version, Actor: pipeline.ActorSystem, DeploymentID: dep.ID, Reason: reason,
			Data: map[string]any{"canary_id": c.ID, "weight": 0}})
		return err
	})
	if err != nil {
		return err
	}
	if c.State.IsTerminal() {
		_ = e.applyWeight(ctx, c)
	}
	return nil
}

func (e *Engine) request(dep pipeline.Deployment, rel pipeline.Release) (deploy.Request, error) {
	svc, ok := e.Config().Service(dep.Service)
	if !ok {
		return deploy.Request{}, fmt.Errorf("service %s is no longer in the configuration; nothing to run", dep.Service)
	}
	env, _, ok := svc.Environment(dep.Environment)
	if !ok {
		return deploy.Request{}, fmt.Errorf("environment %s of %s is no longer in the configuration; nothing to run", dep.Environment, dep.Service)
	}
	return deploy.Request{
		Service: dep.Service, Environment: dep.Environment, Version: rel.Version, Artifact: rel.Artifact,
		DeploymentID: dep.ID, Attempt: dep.Attempt,
		Command: env.Deploy.Command, Dir: env.Deploy.Dir, Env: env.Deploy.Env, Timeout: env.Deploy.Timeout,
		InheritEnv: env.Deploy.InheritEnv, Mask: e.masker,
	}, nil
}

// runWithHeartbeat runs the deployment's steps (migrations, then the
// deploy command). While they run, the deployment's
// heartbeat and output are written every HeartbeatInterval; if the attempt
// was taken over meanwhile (this worker was presumed dead), the command is
// stopped and errTakenOver returned.
func (e *Engine) runWithHeartbeat(ctx context.Context, dep pipeline.Deployment, tail *deploy.Tail, run func(context.Context) error) error {
	// A server shutting down lets a running deploy finish rather than
	// cutting it off; a deploy cut off by a crash is retried.
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancel(nil)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(e.opts.HeartbeatInterval)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			out := tail.String()
			err := e.store.InTx(runCtx, func(ctx context.Context, tx store.Tx) error {
				_, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
					FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentRunning,
					Heartbeat: e.clock.Now(), Output: &out})
				return err
			})
			if errors.Is(err, store.ErrNotFound) {
				e.log.Warn("deployment taken over; stopping its command", "deployment", dep.ID, "attempt", dep.Attempt)
				cancel(errTakenOver)
				return
			}
			if err != nil && runCtx.Err() == nil {
				e.log.Warn("heartbeat failed", "deployment", dep.ID, "error", err)
			}
		}
	}()
	err := run(runCtx)
	if errors.Is(context.Cause(runCtx), errTakenOver) {
		<-done
		return errTakenOver
	}
	cancel(nil)
	<-done
	return err
}

// finishDeployment writes the outcome and, in the same transaction, the next
// decision for the service (a success starts a bake or a promotion).
func (e *Engine) finishDeployment(ctx context.Context, dep pipeline.Deployment, runErr error, output string) error {
	if dep.Kind == pipeline.KindBisect {
		return e.finishDeploymentWith(ctx, dep, runErr, output, e.bisectAfterDeploy(dep, runErr))
	}
	return e.finishDeploymentWith(ctx, dep, runErr, output, nil)
}

// finishDeploymentWith is finishDeployment with more writes (also) in its
// transaction.
func (e *Engine) finishDeploymentWith(ctx context.Context, dep pipeline.Deployment, runErr error, output string,
	also func(ctx context.Context, tx store.Tx, now time.Time) error) error {
	ctx = context.WithoutCancel(ctx)
	err := e.mutate(ctx, dep.Service, func(u *unit) error {
		tx, now := u.tx, u.now
		p := &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, FinishedAt: now, Output: &output}
		ev := &pipeline.Event{At: now, Service: dep.Service, Environment: dep.Environment, Version: dep.Version,
			ToVersion: dep.Version, Actor: dep.Actor, DeploymentID: dep.ID}
		if runErr == nil {
			p.State = pipeline.DeploymentSucceeded
			ev.Type = pipeline.EventDeploymentSucceeded
			ev.Reason = fmt.Sprintf("deploy command exited 0 after %s", now.Sub(dep.StartedAt).Round(time.Millisecond))
		} else {
			msg := e.forViewers("deployment failed", runErr.Error(), "service", dep.Service, "environment", dep.Environment,
				"version", dep.Version, "deployment", dep.ID)
			p.State, p.Error = pipeline.DeploymentFailed, &msg
			ev.Type = pipeline.EventDeploymentFailed
			ev.Reason = msg
		}
		if _, err := tx.DeploymentUpdate(ctx, p); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errTakenOver
			}
			return err
		}
		if err := u.event(ev); err != nil {
			return err
		}
		if also != nil {
			if err := also(ctx, tx, now); err != nil {
				return err
			}
		}
		e.log.Info("deployment finished", "service", dep.Service, "environment", dep.Environment, "version", dep.Version,
			"deployment", dep.ID, "state", p.State, "reason", ev.Reason)
		u.afterCommit(func(context.Context) {
			e.metrics.deployed(dep.Service, dep.Environment, dep.Kind, string(p.State), e.clock.Now().Sub(dep.StartedAt))
			if runErr == nil {
				e.exposure.deployed(dep.Service, dep.Environment, dep.Version)
			}
		})
		return nil
	})
	if errors.Is(err, errTakenOver) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error recording the end of deployment %d: %w", dep.ID, err)
	}
	return nil
}
