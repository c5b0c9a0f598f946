package pipeline

import (
	"fmt"
	"time"
)

// JobState is what the engine can know of the durable job that carries out
// a deployment's current attempt. It is deliberately coarser than River's
// job states: recovery only cares whether someone alive will still act on
// the attempt.
type JobState string

// Job states as recovery sees them.
const (
	// JobNone: no job for the attempt exists (it was never enqueued, or
	// it has been cleaned away).
	JobNone JobState = "none"
	// JobAvailable: the job waits to be handed out (queued, scheduled or
	// waiting for a retry). A free worker will take it.
	JobAvailable JobState = "available"
	// JobRunningLive: the job was handed out to a worker whose process is
	// still alive.
	JobRunningLive JobState = "running_live"
	// JobRunningDead: the job was handed out to a worker whose process
	// has stopped heart-beating: nobody will finish it.
	JobRunningDead JobState = "running_dead"
	// JobCompleted: the job ran to its end.
	JobCompleted JobState = "completed"
	// JobDiscarded: the job queue gave up on the job (too many errors) or
	// it was cancelled.
	JobDiscarded JobState = "discarded"
)

// RecoveryInput is everything DecideRecovery looks at for one deployment.
type RecoveryInput struct {
	Deployment Deployment
	// Job is the state of the job for Deployment.Attempt.
	Job JobState
	// CanaryObserved is true while the deployment's canary is running: it
	// has no worker (the leader judges it), so a silent heartbeat is normal.
	CanaryObserved bool
	Now            time.Time
	// HeartbeatTimeout is how long a running deployment's worker may be
	// silent before the attempt counts as interrupted.
	HeartbeatTimeout time.Duration
	// PendingTimeout is how long a pending deployment may wait with no
	// live job before it is queued again.
	PendingTimeout time.Duration
	// MaxAttempts caps the attempts (MaxAttempts when zero).
	MaxAttempts int
}

// RecoveryAction is what to do with a deployment that may have been
// stranded.
type RecoveryAction string

// Recovery actions.
const (
	// RecoveryLeave: nothing to do (the deployment is in hand, or done).
	RecoveryLeave RecoveryAction = "leave"
	// RecoveryRetry: start attempt N+1 (pending again, with a new job).
	RecoveryRetry RecoveryAction = "retry"
	// RecoveryGiveUp: mark the deployment failed.
	RecoveryGiveUp RecoveryAction = "give_up"
)

// RecoveryDecision is DecideRecovery's answer. Reason says why in words a
// person can read; it goes into the event (or the log, for RecoveryLeave).
type RecoveryDecision struct {
	Action RecoveryAction
	// Interrupted is true when the attempt had started (it was running):
	// the event is deployment.interrupted rather than deployment.recovered.
	Interrupted bool
	// Attempt is the new attempt's number when Action is RecoveryRetry.
	Attempt int
	Reason  string
}

// lastSignOfLife is the latest moment anything happened to d: created,
// started, or heard from its worker (a retry keeps the last heartbeat).
func lastSignOfLife(d Deployment) time.Time {
	t := d.CreatedAt
	if d.StartedAt.After(t) {
		t = d.StartedAt
	}
	if d.Heartbeat.After(t) {
		t = d.Heartbeat
	}
	return t
}

// DecideRecovery decides whether a deployment has been stranded by a
// worker that died and, if so, whether to start it again or give up. It is
// pure: the engine gathers the input and carries out the decision, writing
// the event in the same transaction as the new attempt's job.
//
// A pending deployment is stranded when the worker holding its job died
// before starting it, or when it has waited longer than PendingTimeout with
// no job that anyone will run. A running one is stranded when its worker
// has been silent for longer than HeartbeatTimeout, unless its canary is
// being observed (that phase has no worker). After MaxAttempts attempts
// recovery gives up.
func DecideRecovery(in RecoveryInput) RecoveryDecision {
	d := in.Deployment
	maxAttempts := in.MaxAttempts
	if maxAttempts <= 0 {
		maxAttempts = MaxAttempts
	}
	leave := func(why string) RecoveryDecision { return RecoveryDecision{Action: RecoveryLeave, Reason: why} }
	var stranded string
	interrupted := false
	switch d.State {
	case DeploymentPending:
		waited := in.Now.Sub(lastSignOfLife(d))
		switch in.Job {
		case JobAvailable:
			return leave("its job waits for a free worker")
		case JobRunningLive:
			return leave("its job is held by a live worker")
		case JobRunningDead:
			stranded = fmt.Sprintf("the worker holding the job of attempt %d died before starting it", d.Attempt)
		default:
			if waited < in.PendingTimeout {
				return leave(fmt.Sprintf("pending for %s, less than the pending timeout of %s", waited.Round(time.Second), in.PendingTimeout))
			}
			stranded = fmt.Sprintf("attempt %d waited %s with no job to run it (job %s)", d.Attempt, waited.Round(time.Second), in.Job)
		}
	case DeploymentRunning:
		if in.CanaryObserved {
			return leave("its canary is being observed; the leader judges it")
		}
		silent := in.Now.Sub(d.Heartbeat)
		if d.Heartbeat.IsZero() {
			silent = in.Now.Sub(lastSignOfLife(d))
		}
		if silent < in.HeartbeatTimeout {
			return leave("its worker is heart-beating")
		}
		interrupted = true
		stranded = fmt.Sprintf("the worker running attempt %d stopped (silent for %s)", d.Attempt, silent.Round(time.Second))
	default:
		return leave("it has ended")
	}
	if d.Attempt >= maxAttempts {
		return RecoveryDecision{Action: RecoveryGiveUp, Interrupted: interrupted,
			Reason: fmt.Sprintf("%s; giving up after %d attempts", stranded, d.Attempt)}
	}
	return RecoveryDecision{Action: RecoveryRetry, Interrupted: interrupted, Attempt: d.Attempt + 1,
		Reason: fmt.Sprintf("%s; starting attempt %d of %d", stranded, d.Attempt+1, maxAttempts)}
}
