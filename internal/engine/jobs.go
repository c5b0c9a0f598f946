package engine

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Queues the engine's jobs run on. Deploy commands get their own queue so
// that long deploys never hold up quick bookkeeping jobs. The store's
// job queue must run both (sqlstore's default queues do; a test keeps them
// in step).
const (
	QueueDeploy  = "deploy"
	QueueDefault = "default"
	// QueueGitHub is the GitHub integration's (internal/github): its calls
	// to GitHub wait there, so an outage never delays a promotion.
	QueueGitHub = "github"
	// QueueNotify is the notifier's (internal/notify): deliveries to
	// Slack and webhooks, which may be slow or down.
	QueueNotify = "notify"
)

// jobAttempts is how often the queue runs a job whose worker returned an
// error before it gives up (a worker that died is recovery's business).
const jobAttempts = 5

// DeployArgs asks a worker to carry out one attempt of a deployment. The
// attempt is part of the job so that a job from an attempt that was taken
// over does nothing.
type DeployArgs struct {
	DeploymentID int64 `json:"deployment_id"`
	Attempt      int   `json:"attempt"`
}

// Kind is River's name for the job.
func (DeployArgs) Kind() string { return "bakery_deploy" }

// deployJob puts a deployment's attempt on the deploy queue, once per
// attempt. The queue may run a job again (a retry after an error, or a
// rescue of a job whose process died); the deployment's state and attempt
// guard make that harmless.
func deployJob(deploymentID int64, attempt int) store.Job {
	return store.Job{Kind: DeployArgs{}.Kind(), Args: DeployArgs{DeploymentID: deploymentID, Attempt: attempt},
		Queue: QueueDeploy, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

// ReconcileArgs asks for a service's decision to be taken again at a time
// when it may change (a bake deadline). The engine's own timers normally get
// there first; this durable job is what makes a deadline survive the loss of
// the process that set the timer.
type ReconcileArgs struct {
	Service string    `json:"service"`
	At      time.Time `json:"at"`
}

// Kind is River's name for the job.
func (ReconcileArgs) Kind() string { return "bakery_reconcile" }

// reconcileJob wakes service up at at; unique per service and time.
func reconcileJob(service string, at time.Time) store.Job {
	return store.Job{Kind: ReconcileArgs{}.Kind(), Args: ReconcileArgs{Service: service, At: at}, ScheduledAt: at,
		Queue: QueueDefault, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

// CanaryCleanupArgs asks for a canary's cleanup command to run, once the
// canary has ended. It is enqueued in the transaction that ends it.
type CanaryCleanupArgs struct {
	CanaryID int64 `json:"canary_id"`
}

// Kind is River's name for the job.
func (CanaryCleanupArgs) Kind() string { return "bakery_canary_cleanup" }

// cleanupJob runs a canary's cleanup, once per canary; the queue retries a
// failed cleanup with its backoff, up to jobAttempts times.
func cleanupJob(canaryID int64) store.Job {
	return store.Job{Kind: CanaryCleanupArgs{}.Kind(), Args: CanaryCleanupArgs{CanaryID: canaryID},
		Queue: QueueDefault, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

// CanaryPromoteArgs asks a worker to carry out a canary's promotion: the
// step of its deployment that replaces stable. It runs like a deploy job
// (the deployment's canary says which step is due) under the same
// attempt guard, and keeps the deployment's attempt: a promotion is a
// step of the rollout, not a retry. (A job kind of its own, since deploy
// jobs are unique by deployment and attempt.)
type CanaryPromoteArgs struct {
	DeploymentID int64 `json:"deployment_id"`
	Attempt      int   `json:"attempt"`
}

// Kind is River's name for the job.
func (CanaryPromoteArgs) Kind() string { return "bakery_canary_promote" }

// promoteJob puts a canary's promotion on the deploy queue, once per
// deployment and attempt.
func promoteJob(deploymentID int64, attempt int) store.Job {
	return store.Job{Kind: CanaryPromoteArgs{}.Kind(), Args: CanaryPromoteArgs{DeploymentID: deploymentID, Attempt: attempt},
		Queue: QueueDeploy, MaxAttempts: jobAttempts, UniqueByArgs: true}
}

type promoteWorker struct {
	river.WorkerDefaults[CanaryPromoteArgs]
	e *Engine
}

func (w *promoteWorker) Work(ctx context.Context, job *river.Job[CanaryPromoteArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	return w.e.runDeployment(ctx, job.Args.DeploymentID, job.Args.Attempt)
}

type cleanupWorker struct {
	river.WorkerDefaults[CanaryCleanupArgs]
	e *Engine
}

func (w *cleanupWorker) Work(ctx context.Context, job *river.Job[CanaryCleanupArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	return w.e.cleanupCanary(ctx, job.Args.CanaryID)
}

type deployWorker struct {
	river.WorkerDefaults[DeployArgs]
	e *Engine
}

func (w *deployWorker) Work(ctx context.Context, job *river.Job[DeployArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	return w.e.runDeployment(ctx, job.Args.DeploymentID, job.Args.Attempt)
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	e *Engine
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	if !w.e.recovery.jobStarts(ctx, job.Kind, job.Args) {
		return nil
	}
	if w.e.decisions.since(job.Args.Service, job.Args.At) {
		return nil // decided since (a deadline timer, say): nothing left to do
	}
	return w.e.Reconcile(ctx, job.Args.Service)
}
