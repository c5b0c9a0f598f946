package engine

import (
	"context"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// DeployArgs asks a worker to carry out one attempt of a deployment. The
// attempt is part of the job so that a job from an attempt that was taken
// over does nothing.
type DeployArgs struct {
	DeploymentID int64 `json:"deployment_id"`
	Attempt      int   `json:"attempt"`
}

// Kind is River's name for the job.
func (DeployArgs) Kind() string { return "bakery_deploy" }

// InsertOpts puts deploys on their own queue, once per attempt. River may
// run a job again (a retry after an error, or a rescue of a job whose process
// died); the deployment's state and attempt guard make that harmless.
func (DeployArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: sqlstore.QueueDeploy, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
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

// InsertOpts makes the job unique per service and time.
func (ReconcileArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: sqlstore.QueueDefault, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// CanaryCleanupArgs asks for a canary's cleanup command to run, once the
// canary has ended. It is enqueued in the transaction that ends it.
type CanaryCleanupArgs struct {
	CanaryID int64 `json:"canary_id"`
}

// Kind is River's name for the job.
func (CanaryCleanupArgs) Kind() string { return "bakery_canary_cleanup" }

// InsertOpts makes the job unique per canary; River retries a failed
// cleanup with its backoff, up to 5 times.
func (CanaryCleanupArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: sqlstore.QueueDefault, MaxAttempts: 5, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

type cleanupWorker struct {
	river.WorkerDefaults[CanaryCleanupArgs]
	e *Engine
}

func (w *cleanupWorker) Work(ctx context.Context, job *river.Job[CanaryCleanupArgs]) error {
	return w.e.cleanupCanary(ctx, job.Args.CanaryID)
}

type deployWorker struct {
	river.WorkerDefaults[DeployArgs]
	e *Engine
}

func (w *deployWorker) Work(ctx context.Context, job *river.Job[DeployArgs]) error {
	return w.e.runDeployment(ctx, job.Args.DeploymentID, job.Args.Attempt)
}

type reconcileWorker struct {
	river.WorkerDefaults[ReconcileArgs]
	e *Engine
}

func (w *reconcileWorker) Work(ctx context.Context, job *river.Job[ReconcileArgs]) error {
	return w.e.Reconcile(ctx, job.Args.Service)
}
