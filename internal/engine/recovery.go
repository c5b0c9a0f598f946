package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// pendingTimeout is how long a pending deployment may wait with no job that
// anyone will run (none, or one that ended without starting it) before it
// is queued again. A healthy pending deployment always has a waiting or a
// live job, so this only catches what nothing else would.
const pendingTimeout = time.Minute

// recovery takes up work stranded by a process that died (rule 14).
//
// Why bakery rescues its own jobs rather than leaving it to River: River's
// rescuer (internal/maintenance/job_rescuer.go in v0.51) measures a job's
// age from when it was handed out, not from a sign of life, runs every 30 s
// on River's leader only, and skips every job whose timeout is negative. A
// finite JobTimeout longer than the longest deploy command would cancel
// nothing useful and rescue a dead replica's job only after that timeout
// (hours for a long migration); a short one would cancel live deploys. So
// River keeps JobTimeout = -1 (it never cancels a deploy command) and
// bakery decides from heartbeats it writes itself:
//
//   - every replica writes a heartbeat under its job workers' ID
//     (store.ReplicaBeat, four times within HeartbeatTimeout: every);
//   - the leader's runOnce takes every job (of any kind) held by a worker whose replica is
//     silent for longer than HeartbeatTimeout and hands it back to the
//     queue (store.Tx.JobRescue), with a job.rescued event: reconcile and
//     canary-cleanup jobs run again on a live replica;
//   - and it asks pipeline.DecideRecovery about every pending or running
//     deployment, which starts attempt N+1 (or gives up) for a deployment
//     whose job's worker died before starting it, or whose own heartbeat
//     went silent while running.
//
// Deploy jobs are guarded by the deployment's attempt, so a rescued job of
// an attempt that recovery replaced does nothing when it runs.
type recovery struct {
	e *Engine
	// beforeJob, if set, is called when a worker of this process takes a
	// job, before it acts; false makes the job do nothing. Tests hold a
	// job here to widen the window between hand-out and the first write,
	// and so stand for a process that dies in it.
	beforeJob func(ctx context.Context, kind string, args any) bool
}

func (r *recovery) jobStarts(ctx context.Context, kind string, args any) bool {
	return r.beforeJob == nil || r.beforeJob(ctx, kind, args)
}

// start writes this replica's heartbeat now and then every
// HeartbeatInterval until ctx ends. It runs on its own goroutine so that a
// busy leader loop never makes a live replica look dead.
func (r *recovery) start(ctx context.Context, wg *sync.WaitGroup) {
	r.beat(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(r.every())
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			r.beat(ctx)
		}
	}()
}

// every is how often the replica's heartbeat is written: four times
// within HeartbeatTimeout, and no more often than HeartbeatInterval (the
// running deployments' heartbeat).
func (r *recovery) every() time.Duration {
	return max(r.e.opts.HeartbeatInterval, r.e.opts.HeartbeatTimeout/4)
}

func (r *recovery) beat(ctx context.Context) {
	if err := r.e.store.ReplicaBeat(ctx, r.e.store.WorkerID(), r.e.clock.Now()); err != nil && ctx.Err() == nil {
		r.e.log.Warn("error writing replica heartbeat", "error", err)
	}
}

// liveness says whether the worker named by a job's holder is alive.
type liveness func(holder string) bool

// live reads the replicas' heartbeats: this process is alive; another is
// alive if it beat within HeartbeatTimeout.
func (r *recovery) live(ctx context.Context, now time.Time) (liveness, error) {
	reps, err := r.e.store.ReplicaList(ctx)
	if err != nil {
		return nil, err
	}
	beat := make(map[string]time.Time, len(reps))
	for _, rep := range reps {
		beat[rep.ID] = rep.Heartbeat
	}
	self := r.e.store.WorkerID()
	return func(holder string) bool {
		if holder == self {
			return true
		}
		at, ok := beat[holder]
		return ok && now.Sub(at) < r.e.opts.HeartbeatTimeout
	}, nil
}

// waiting are the job states in which a job will still be handed out.
var waiting = []string{store.JobStateAvailable, store.JobStateScheduled, store.JobStateRetryable, store.JobStatePending}

// runOnce is one sweep of the leader: stranded deployments first, then
// jobs held by dead workers. Time comes from the engine's clock.
func (r *recovery) runOnce(ctx context.Context) error {
	now := r.e.clock.Now()
	alive, err := r.live(ctx, now)
	if err != nil {
		return fmt.Errorf("error reading replica heartbeats: %w", err)
	}
	return r.sweep(ctx, now, alive, false)
}

// atStartup is recovery for a store that one process owns (SQLite), before
// its workers start: every job handed out belongs to a process that is
// gone, and so does every running deployment.
func (r *recovery) atStartup(ctx context.Context) error {
	return r.sweep(ctx, r.e.clock.Now(), func(string) bool { return false }, true)
}

// sweep recovers what alive says is stranded; workersGone says that every
// worker is known dead (start-up on SQLite).
func (r *recovery) sweep(ctx context.Context, now time.Time, alive liveness, workersGone bool) error {
	st := r.e.store
	// A promotion job has a deploy job's arguments (deployment and attempt).
	deployJobs, err := st.JobList(ctx, &store.JobListParams{Kinds: []string{DeployArgs{}.Kind(), CanaryPromoteArgs{}.Kind()},
		States: append([]string{store.JobStateRunning}, waiting...), Limit: 10000})
	if err != nil {
		return err
	}
	type key struct {
		id      int64
		attempt int
	}
	jobOf := map[key]pipeline.JobState{}
	for _, j := range deployJobs {
		var a DeployArgs
		if json.Unmarshal(j.Args, &a) != nil {
			continue
		}
		js := pipeline.JobAvailable
		if j.State == store.JobStateRunning {
			js = pipeline.JobRunningDead
			if alive(j.Holder) {
				js = pipeline.JobRunningLive
			}
		}
		k := key{a.DeploymentID, a.Attempt}
		if prev, ok := jobOf[k]; !ok || prev == pipeline.JobRunningDead {
			jobOf[k] = js // a live or waiting copy wins over a dead one
		}
	}
	active, err := st.DeploymentList(ctx, &store.DeploymentListParams{
		States: []pipeline.DeploymentState{pipeline.DeploymentPending, pipeline.DeploymentRunning}, Limit: 10000})
	if err != nil {
		return fmt.Errorf("error looking for stranded deployments: %w", err)
	}
	var errs []error
	for _, dep := range active {
		js, ok := jobOf[key{dep.ID, dep.Attempt}]
		if !ok {
			js = pipeline.JobNone
		}
		// Decide on what was read first, and take the service's lock only
		// for a deployment that looks stranded: a healthy one costs the
		// sweep no write transaction.
		if d := pipeline.DecideRecovery(r.input(ctx, st, dep, js, now, workersGone)); d.Action == pipeline.RecoveryLeave {
			continue
		}
		if err := r.recoverDeployment(ctx, dep.ID, js, workersGone); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, fmt.Errorf("error recovering deployment %d: %w", dep.ID, err))
		}
	}
	// Every kind: the queue holds only bakery's jobs, and a kind a later
	// change adds is rescued without being listed here.
	running, err := st.JobList(ctx, &store.JobListParams{States: []string{store.JobStateRunning}, Limit: 10000})
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, j := range running {
		if alive(j.Holder) {
			continue
		}
		if err := r.rescueJob(ctx, j); err != nil {
			errs = append(errs, fmt.Errorf("error rescuing job %d (%s): %w", j.ID, j.Kind, err))
		}
	}
	return errors.Join(errs...)
}

// input gathers what DecideRecovery needs of dep, reading its canary
// through rd (the store, or the transaction that holds the service lock).
func (r *recovery) input(ctx context.Context, rd store.Reader, dep pipeline.Deployment, job pipeline.JobState,
	now time.Time, workersGone bool) pipeline.RecoveryInput {
	in := pipeline.RecoveryInput{Deployment: dep, Job: job, Now: now,
		HeartbeatTimeout: r.e.opts.HeartbeatTimeout, PendingTimeout: pendingTimeout, MaxAttempts: pipeline.MaxAttempts}
	if workersGone {
		in.HeartbeatTimeout = 0
		in.PendingTimeout = 0
	}
	// Only a silent running deployment needs its canary looked at.
	if dep.State == pipeline.DeploymentRunning && now.Sub(dep.Heartbeat) >= in.HeartbeatTimeout {
		if c, err := rd.CanaryGetByDeployment(ctx, dep.ID); err == nil && c.State == pipeline.CanaryRunning {
			in.CanaryObserved = true
		}
	}
	return in
}

// recoverDeployment re-reads a deployment under its service's lock, asks
// DecideRecovery, and writes the outcome: the new attempt, its event and
// its job in one transaction (or the failure and the next decision).
// workersGone says every worker is known dead (start-up on SQLite): a
// running deployment's heartbeat is then not waited for.
func (r *recovery) recoverDeployment(ctx context.Context, id int64, job pipeline.JobState, workersGone bool) error {
	e := r.e
	var next time.Time
	var d pipeline.RecoveryDecision
	var dep pipeline.Deployment
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if dep, err = tx.DeploymentGet(ctx, id); err != nil {
			return err
		}
		if err := tx.ServiceLock(ctx, dep.Service, e.clock.Now()); err != nil {
			return err
		}
		if dep, err = tx.DeploymentGet(ctx, id); err != nil { // as it is under the lock
			return err
		}
		now := e.clock.Now()
		d = pipeline.DecideRecovery(r.input(ctx, tx, dep, job, now, workersGone))
		base := pipeline.Event{At: now, Service: dep.Service, Environment: dep.Environment, Version: dep.Version,
			ToVersion: dep.Version, Actor: pipeline.ActorSystem, Reason: d.Reason, DeploymentID: dep.ID}
		switch d.Action {
		case pipeline.RecoveryRetry:
			if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
				FromStates: []pipeline.DeploymentState{dep.State}, State: pipeline.DeploymentPending,
				NewAttempt: d.Attempt, Heartbeat: now}); err != nil {
				return err
			}
			ev := base
			ev.Type = pipeline.EventDeploymentRecovered
			if d.Interrupted {
				ev.Type = pipeline.EventDeploymentInterrupted
			}
			ev.Data = map[string]any{"attempt": d.Attempt, "job": string(job)}
			if _, err := tx.EventInsert(ctx, &ev); err != nil {
				return err
			}
			return tx.JobInsert(ctx, deployJob(dep.ID, d.Attempt))
		case pipeline.RecoveryGiveUp:
			msg := d.Reason
			if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
				FromStates: []pipeline.DeploymentState{dep.State}, State: pipeline.DeploymentFailed, FinishedAt: now,
				Error: &msg}); err != nil {
				return err
			}
			ev := base
			ev.Type = pipeline.EventDeploymentFailed
			ev.Data = map[string]any{"gave_up": true, "attempts": dep.Attempt, "job": string(job)}
			if _, err := tx.EventInsert(ctx, &ev); err != nil {
				return err
			}
			svc, ok := e.Config().Service(dep.Service)
			if !ok {
				return nil
			}
			next, err = e.reconcileTx(ctx, tx, svc)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	switch d.Action {
	case pipeline.RecoveryRetry:
		e.log.Warn("deployment recovered; starting a new attempt", "service", dep.Service, "environment", dep.Environment,
			"version", dep.Version, "deployment", dep.ID, "attempt", d.Attempt, "reason", d.Reason)
	case pipeline.RecoveryGiveUp:
		e.log.Error("deployment stranded too often; gave up", "service", dep.Service, "environment", dep.Environment,
			"version", dep.Version, "deployment", dep.ID, "reason", d.Reason)
	default:
		return nil
	}
	e.after(dep.Service, next)
	return nil
}

// rescueJob hands a job held by a dead worker back to the queue and records
// it. The event names the service the job is about when it can tell.
func (r *recovery) rescueJob(ctx context.Context, j store.JobRow) error {
	e := r.e
	var about struct {
		Service      string `json:"service"`
		CanaryID     int64  `json:"canary_id"`
		DeploymentID int64  `json:"deployment_id"`
	}
	_ = json.Unmarshal(j.Args, &about)
	ev := pipeline.Event{Type: pipeline.EventJobRescued, Service: about.Service, Actor: pipeline.ActorSystem,
		DeploymentID: about.DeploymentID,
		Reason:       fmt.Sprintf("the worker %s holding the %s job died; it runs again on a live worker", j.Holder, j.Kind),
		Data:         map[string]any{"job_id": j.ID, "kind": j.Kind, "holder": j.Holder}}
	if about.CanaryID != 0 {
		if c, err := e.store.CanaryGet(ctx, about.CanaryID); err == nil {
			ev.Service, ev.Environment, ev.Version, ev.DeploymentID = c.Service, c.Environment, c.Version, c.DeploymentID
		}
	}
	if about.DeploymentID != 0 {
		if dep, err := e.store.DeploymentGet(ctx, about.DeploymentID); err == nil {
			ev.Service, ev.Environment, ev.Version = dep.Service, dep.Environment, dep.Version
		}
	}
	rescued := 0
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if rescued, err = tx.JobRescue(ctx, j.ID); err != nil || rescued == 0 {
			return err
		}
		ev.At = e.clock.Now()
		_, err = tx.EventInsert(ctx, &ev)
		return err
	})
	if err != nil {
		return err
	}
	if rescued > 0 {
		e.log.Warn("job rescued from a dead worker", "kind", j.Kind, "job", j.ID, "holder", j.Holder, "service", ev.Service)
	}
	return nil
}

// recoverInterrupted is the leader's sweep (see recovery).
func (e *Engine) recoverInterrupted(ctx context.Context) {
	if err := e.recovery.runOnce(ctx); err != nil && ctx.Err() == nil {
		e.log.Error("error recovering stranded work", "error", err)
	}
}

// recoverAfterRestart is recovery for a store that one process owns: every
// active deployment and every job handed out was left behind by a process
// that is gone.
func (e *Engine) recoverAfterRestart(ctx context.Context) error {
	if err := e.recovery.atStartup(ctx); err != nil {
		return fmt.Errorf("error recovering work left by a previous run: %w", err)
	}
	return nil
}
