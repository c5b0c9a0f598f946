package pipeline

import "time"

// Event is one entry of the append-only event log (rule 11). Every command
// and every automatic decision writes one, in the same transaction as the
// change it describes. The timeline, notifications and delivery metrics are
// built from these.
type Event struct {
	ID          int64
	At          time.Time
	Type        string
	Service     string
	Environment string
	Version     string // the release the event is about
	FromVersion string // what the environment ran before, when it changes
	ToVersion   string // what it runs (or will run) after
	Actor       string // a token's name, or "bakery" for automatic decisions
	// ActorTokenID is the ID of the token whose command wrote the event
	// (0 for automatic decisions): names can be reused after a token is
	// gone, IDs cannot.
	ActorTokenID int64
	Reason       string
	DeploymentID int64
	Data         map[string]any
}

// Event types. The names are part of the API: scripts read them.
const (
	EventReleaseCreated        = "release.created"
	EventReleaseSuperseded     = "release.superseded"
	EventPromotionDecided      = "promotion.decided"
	EventDeploymentStarted     = "deployment.started"
	EventDeploymentSucceeded   = "deployment.succeeded"
	EventDeploymentFailed      = "deployment.failed"
	EventDeploymentInterrupted = "deployment.interrupted"
	// EventDeploymentRecovered: a pending deployment whose job nobody will
	// run (its worker died before starting it) was queued again under a new
	// attempt.
	EventDeploymentRecovered = "deployment.recovered"
	// EventJobRescued: a durable job held by a worker whose process died
	// was handed back to the queue, to run again on a live worker.
	EventJobRescued             = "job.rescued"
	EventTokenCreated           = "token.created"
	EventTokenRevoked           = "token.revoked"
	EventConfigLoaded           = "config.loaded"
	EventLeaderElected          = "leader.elected"
	EventDeploymentRetryPlanned = "deployment.retry"
)

// Brake and override events.
const (
	EventLockPlaced        = "lock.placed"
	EventLockReleased      = "lock.released"
	EventLockExpired       = "lock.expired"
	EventBakeSkipped       = "bake.skipped"
	EventEmergencyDecided  = "emergency.decided"
	EventRollbackDecided   = "rollback.decided"
	EventReleaseRejected   = "release.rejected"
	EventDeploymentCancels = "deployment.cancelled"
)

// Check events. A result is on the record when a check fails, and when its
// outcome changes; not at every evaluation.
const (
	EventCheckFailed       = "check.failed"
	EventCheckHealthy      = "check.healthy"
	EventCheckInconclusive = "check.inconclusive"
)

// Canary events.
const (
	EventCanaryStarted   = "canary.started"
	EventCanaryAdvanced  = "canary.advanced"
	EventCanaryJudged    = "canary.judged"
	EventCanaryPromoting = "canary.promoting"
	EventCanaryPromoted  = "canary.promoted"
	EventCanaryAborted   = "canary.aborted"
	EventCanaryWeight    = "canary.weight_failed"
	EventCanaryCleanedUp = "canary.cleaned_up"
	EventCanaryCleanup   = "canary.cleanup_failed"
)

// Bisect events (issue 16). The culprit's event carries the check, the
// evidence and the version in Data, for notifications and GitHub to tell
// its PR and author.
const (
	EventBisectStarted   = "bisect.started"
	EventBisectProbed    = "bisect.probed"
	EventBisectCulprit   = "bisect.culprit"
	EventBisectStuck     = "bisect.stuck"
	EventBisectCancelled = "bisect.cancelled"
)

// EventReleaseApproved: a person approved a release into an environment
// (the fix lane, the approval gate).
const EventReleaseApproved = "release.approved"
