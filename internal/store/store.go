// Package store defines how bakery keeps its state: one interface, proven on
// SQLite and PostgreSQL by one conformance suite (storetest). The
// implementation for both databases lives in sqlstore.
//
// Methods are named noun-then-verb and take *Params structs, so that adding a
// field never changes a signature.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// ErrNotFound is returned when the thing asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a write would break a uniqueness rule: a
// release version that exists already, or a second active deployment in one
// environment.
var ErrConflict = errors.New("conflict")

// Reader is every read bakery makes. Both a Store (outside a transaction)
// and a Tx (inside one) implement it.
type Reader interface {
	ReleaseGet(ctx context.Context, service, version string) (pipeline.Release, error)
	ReleaseGetByID(ctx context.Context, id int64) (pipeline.Release, error)
	ReleaseList(ctx context.Context, p *ReleaseListParams) ([]pipeline.Release, error)
	DeploymentGet(ctx context.Context, id int64) (pipeline.Deployment, error)
	DeploymentList(ctx context.Context, p *DeploymentListParams) ([]pipeline.Deployment, error)
	EventList(ctx context.Context, p *EventListParams) ([]pipeline.Event, error)
	// ServiceState loads what pipeline.Decide needs about one service: the
	// releases and deployments that can still matter for envs.
	ServiceState(ctx context.Context, service string, envs []pipeline.EnvSpec) (pipeline.State, error)
	// TokenGetByHash returns the token whose secret hashes to hash,
	// revoked and expired ones included: the caller decides with its clock
	// and says why a token is refused.
	TokenGetByHash(ctx context.Context, hash string) (Token, error)
	// TokenGetByID returns a token by ID, revoked and expired ones included.
	TokenGetByID(ctx context.Context, id int64) (Token, error)
	// TokenGetByName returns a token by name, revoked and expired ones
	// included.
	TokenGetByName(ctx context.Context, name string) (Token, error)
	// TokenList lists every token, revoked ones included, oldest first.
	TokenList(ctx context.Context) ([]Token, error)
	TokenCount(ctx context.Context) (int, error)
	// SessionGetByHash returns the dashboard session whose secret hashes
	// to hash, expired ones included (the caller decides with its clock).
	SessionGetByHash(ctx context.Context, hash string) (Session, error)
	// ReleaseMigrations lists the migrations a release declared it needs.
	ReleaseMigrations(ctx context.Context, releaseID int64) ([]string, error)
	// MigrationsSeen maps environment → migration ID → when bakery first
	// saw it applied there, for one service.
	MigrationsSeen(ctx context.Context, service string) (map[string]map[string]time.Time, error)
	// CheckResultsLatest returns the latest result of each check of each
	// environment of service.
	CheckResultsLatest(ctx context.Context, service string) ([]pipeline.CheckResult, error)
	// LockList lists unreleased locks (expired ones included: the caller
	// decides with its clock), oldest first.
	LockList(ctx context.Context, p *LockListParams) ([]pipeline.Lock, error)
	// CanaryGet returns a canary by ID.
	CanaryGet(ctx context.Context, id int64) (pipeline.Canary, error)
	// CanaryGetByDeployment returns the canary of a deployment;
	// ErrNotFound if the deployment has none.
	CanaryGetByDeployment(ctx context.Context, deploymentID int64) (pipeline.Canary, error)
	// CanaryList lists canaries, newest first.
	CanaryList(ctx context.Context, p *CanaryListParams) ([]pipeline.Canary, error)
	// JudgementList lists judgements, newest first.
	JudgementList(ctx context.Context, p *JudgementListParams) ([]pipeline.Judgement, error)
	// JobList lists durable jobs.
	JobList(ctx context.Context, p *JobListParams) ([]JobRow, error)
	// ReplicaList lists the replicas that have ever beaten, with their
	// last heartbeat.
	ReplicaList(ctx context.Context) ([]Replica, error)
	// EventLastID is the ID of the newest event (0: the log is empty).
	EventLastID(ctx context.Context) (int64, error)
	// CursorGet returns where the named follower of the event log stands:
	// the ID of the last event it took; ok is false if it has never taken
	// one.
	CursorGet(ctx context.Context, name string) (eventID int64, ok bool, err error)
	// BisectGet returns a bisect by ID.
	BisectGet(ctx context.Context, id int64) (pipeline.Bisect, error)
	// BisectList lists a service's bisects, newest first (running ones
	// only if p.Running).
	BisectList(ctx context.Context, p *BisectListParams) ([]pipeline.Bisect, error)
	// ApprovalList lists approvals of a service's releases, oldest first.
	ApprovalList(ctx context.Context, p *ApprovalListParams) ([]pipeline.Approval, error)
	// GitHubReader: the GitHub integration's tables (github.go).
	GitHubReader
	// DeliveryList lists notification deliveries, oldest first.
	DeliveryList(ctx context.Context, p *DeliveryListParams) ([]Delivery, error)
	// DeliveryGet returns one delivery.
	DeliveryGet(ctx context.Context, id int64) (Delivery, error)
	// DeliveryPairsDue lists the (destination, service) pairs whose oldest
	// pending delivery is due at now.
	DeliveryPairsDue(ctx context.Context, now time.Time) ([][2]string, error)
	// SlackMessageGet returns the Slack message of a release in a
	// destination; ErrNotFound if none was posted.
	SlackMessageGet(ctx context.Context, destination, service, version string) (SlackMessage, error)
}

// Tx is a database transaction with bakery's writes.
type Tx interface {
	Reader
	// ServiceLock takes the per-service lock that serialises decisions for
	// one service across replicas, creating the service's row if needed.
	ServiceLock(ctx context.Context, service string, now time.Time) error
	ReleaseInsert(ctx context.Context, p *ReleaseInsertParams) (pipeline.Release, error)
	DeploymentInsert(ctx context.Context, p *DeploymentInsertParams) (pipeline.Deployment, error)
	// DeploymentUpdate changes a deployment only if it is still at
	// p.Attempt and in one of p.FromStates; it returns ErrNotFound otherwise,
	// so a worker whose attempt was taken over cannot overwrite the new one.
	DeploymentUpdate(ctx context.Context, p *DeploymentUpdateParams) (pipeline.Deployment, error)
	MarkInsert(ctx context.Context, p *MarkInsertParams) error
	EventInsert(ctx context.Context, e *pipeline.Event) (pipeline.Event, error)
	TokenInsert(ctx context.Context, p *TokenInsertParams) (Token, error)
	// TokenRevoke marks a token revoked at p.At; ErrNotFound if there is no
	// such token or it is revoked already. It does not end the token's
	// sessions: SessionDeleteByToken does, in the same transaction.
	TokenRevoke(ctx context.Context, p *TokenRevokeParams) (Token, error)
	// TokenTouch records that a token was used at p.At, unless its last
	// use recorded is at or after p.NotSince (so a busy token is written at
	// most once per interval). It reports whether it wrote.
	TokenTouch(ctx context.Context, p *TokenTouchParams) (bool, error)
	// SessionInsert stores a new dashboard session.
	SessionInsert(ctx context.Context, p *SessionInsertParams) (Session, error)
	// SessionTouch records that a session was used, like TokenTouch.
	SessionTouch(ctx context.Context, p *SessionTouchParams) (bool, error)
	// SessionDelete ends one session (sign-out); ErrNotFound if it does
	// not exist.
	SessionDelete(ctx context.Context, hash string) error
	// SessionDeleteByToken ends every session of a token (revocation) and
	// returns how many there were.
	SessionDeleteByToken(ctx context.Context, tokenID int64) (int, error)
	// SessionDeleteExpired removes the sessions expired at now and returns
	// how many there were.
	SessionDeleteExpired(ctx context.Context, now time.Time) (int, error)
	// LockInsert places a lock; ErrConflict if one is held already.
	LockInsert(ctx context.Context, p *LockInsertParams) (pipeline.Lock, error)
	// LockRelease releases a held lock; ErrNotFound if it is not held.
	LockRelease(ctx context.Context, p *LockReleaseParams) error
	// MigrationsSeenRecord records that ids are applied in env, keeping the
	// first time each was seen.
	MigrationsSeenRecord(ctx context.Context, service, env string, ids []string, at time.Time) error
	// CheckResultInsert records one evaluation of a check.
	CheckResultInsert(ctx context.Context, service string, r *pipeline.CheckResult) error
	// ReleaseReject marks a release rejected: never promoted automatically
	// again (rule 7).
	ReleaseReject(ctx context.Context, id int64) error
	// CanaryInsert records a new canary of a deployment; ErrConflict if
	// the deployment has one already.
	CanaryInsert(ctx context.Context, c *pipeline.Canary) (pipeline.Canary, error)
	// CanaryUpdate changes a canary only if it is in one of p.FromStates;
	// ErrNotFound otherwise.
	CanaryUpdate(ctx context.Context, p *CanaryUpdateParams) (pipeline.Canary, error)
	// CanaryWeightApplied records that the set_weight command applied
	// weight to the canary's traffic.
	CanaryWeightApplied(ctx context.Context, id int64, weight int) error
	// CanaryCleaned records that the canary's cleanup command succeeded;
	// ErrNotFound if it was recorded already.
	CanaryCleaned(ctx context.Context, id int64, at time.Time) error
	// JudgementInsert records one judgement of a canary.
	JudgementInsert(ctx context.Context, j *pipeline.Judgement) (pipeline.Judgement, error)
	// JobInsert enqueues durable jobs in this transaction: they run only if
	// it commits (a rolled-back transaction leaves no job behind).
	JobInsert(ctx context.Context, jobs ...Job) error
	// JobRescue hands jobs that were handed out to a worker that died back
	// to the queue, so that a live worker runs them again. Jobs no longer
	// running are left alone; it returns how many it rescued.
	JobRescue(ctx context.Context, ids ...int64) (int, error)
	// CursorCreate places the named follower of the event log at eventID;
	// ErrConflict if it has a cursor already.
	CursorCreate(ctx context.Context, name string, eventID int64, at time.Time) error
	// CursorMove moves the named follower from one event to another, only
	// if it still stands at from; ErrConflict otherwise (another process
	// moved it first), so two processes never both take the same events.
	CursorMove(ctx context.Context, name string, from, to int64, at time.Time) error
	// BisectInsert records a new running bisect; ErrConflict if the
	// service has one running already.
	BisectInsert(ctx context.Context, b *pipeline.Bisect) (pipeline.Bisect, error)
	// BisectUpdate writes a bisect's progress (state, probe, tried,
	// culprit, deploys, result, return_to, ended_at) if it is still running;
	// ErrNotFound otherwise.
	BisectUpdate(ctx context.Context, b *pipeline.Bisect) (pipeline.Bisect, error)
	// ApprovalInsert records that a person approved a release into an
	// environment; ErrConflict if they did already.
	ApprovalInsert(ctx context.Context, a *pipeline.Approval) (pipeline.Approval, error)
	// GitHubWriter: the GitHub integration's tables (github.go).
	GitHubWriter
	// ExposureWriter: the exposure gate's counts and the beacon key.
	ExposureWriter
	// DeliveryInsert records a pending delivery; ErrConflict if one with
	// its MsgID exists (the event was handed out twice).
	DeliveryInsert(ctx context.Context, d *Delivery) (Delivery, error)
	// DeliveryUpdate writes a delivery's outcome (state, attempts,
	// last_error, next_attempt_at, delivered_at).
	DeliveryUpdate(ctx context.Context, d *Delivery) error
	// SlackMessagePut records (or replaces) a release's Slack message.
	SlackMessagePut(ctx context.Context, m *SlackMessage) error
}

// Store is bakery's database.
type Store interface {
	Reader
	// InTx runs fn in a transaction, committing if it returns nil.
	InTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// LeaderAcquire takes or renews the named leadership for holder until
	// now+ttl. It reports whether holder is leader afterwards.
	LeaderAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// LeaderResign gives leadership up, if holder has it.
	LeaderResign(ctx context.Context, name, holder string) error
	// Start starts River's workers registered at Open. Jobs can be
	// inserted before Start; they run after it.
	Start(ctx context.Context) error
	// Close stops the workers (waiting for running jobs up to ctx) and closes
	// the database.
	Close(ctx context.Context) error
	// Kind is "sqlite" or "postgres".
	Kind() string
	// WorkerID is the name under which this process's job workers take
	// jobs (JobRow.Holder of the jobs they hold).
	WorkerID() string
	// ReplicaBeat records that the replica whose workers are named id is
	// alive at now.
	ReplicaBeat(ctx context.Context, id string, now time.Time) error
}

// Job is a durable job to enqueue. The engine owns the kinds, their
// arguments and the queues; the store maps a Job onto the job queue (River)
// without the engine's interface depending on it.
type Job struct {
	Kind string
	// Args are encoded as JSON; the worker for Kind decodes them.
	Args  any
	Queue string
	// ScheduledAt is when the job may run first (zero: now).
	ScheduledAt time.Time
	// MaxAttempts is how often the queue tries a job whose worker returns
	// an error (zero: the queue's default).
	MaxAttempts int
	// UniqueByArgs keeps at most one job of Kind with equal Args waiting,
	// running or completed: inserting another is a no-op.
	UniqueByArgs bool
	// UniqueWhileWaiting keeps at most one job of Kind with equal Args
	// waiting, running or retrying; once it completed, another may be
	// inserted.
	UniqueWhileWaiting bool
}

// Job states as JobRow.State reports them (the job queue's own names).
const (
	JobStateAvailable = "available"
	JobStateScheduled = "scheduled"
	JobStateRetryable = "retryable"
	JobStatePending   = "pending"
	JobStateRunning   = "running"
	JobStateCompleted = "completed"
	JobStateDiscarded = "discarded"
	JobStateCancelled = "cancelled"
)

// JobRow is a durable job as the queue holds it.
type JobRow struct {
	ID    int64
	Kind  string
	Args  []byte // JSON
	State string
	// Holder is the WorkerID of the process the job was last handed to
	// ("" if it never was).
	Holder string
}

// JobListParams filters jobs. Results are oldest first.
type JobListParams struct {
	Kinds  []string
	States []string
	Limit  int // 0 = 1000
}

// Replica is one process's last sign of life (ReplicaBeat).
type Replica struct {
	ID        string
	Heartbeat time.Time
}

// ReleaseListParams filters releases. Results are newest first.
type ReleaseListParams struct {
	Service string
	Limit   int // 0 = 100
	// AfterID and UpToID, when set, keep releases with AfterID < ID <=
	// UpToID (a bisect's range).
	AfterID, UpToID int64
}

// ReleaseInsertParams is a new release.
type ReleaseInsertParams struct {
	Service string
	Version string
	// Migrations the release needs applied before its code deploys.
	Migrations []string
	Artifact   string
	Message    string
	Author     string
	CreatedAt  time.Time
	// CommittedAt is when the release's commit was made (zero: unknown).
	CommittedAt time.Time
	// Fix marks a fix release (the fix lane), with why.
	Fix       bool
	FixReason string
	// Creator and CreatorTokenID name the token that created the release.
	Creator        string
	CreatorTokenID int64
}

// DeploymentListParams filters deployments. Results are newest first.
type DeploymentListParams struct {
	Service     string
	Environment string
	ReleaseID   int64
	States      []pipeline.DeploymentState
	// HeartbeatBefore selects running deployments whose worker was last
	// heard of before this time, leaving out those whose canary is being
	// observed (they have no worker: the leader judges them).
	HeartbeatBefore time.Time
	Limit           int // 0 = 100
}

// DeploymentInsertParams is a new, pending deployment.
type DeploymentInsertParams struct {
	Service     string
	Environment string
	ReleaseID   int64
	Kind        string
	Actor       string
	Reason      string
	CreatedAt   time.Time
}

// DeploymentUpdateParams moves a deployment along its state machine. Zero
// fields are left unchanged, except State which is required.
type DeploymentUpdateParams struct {
	ID         int64
	Attempt    int
	FromStates []pipeline.DeploymentState
	State      pipeline.DeploymentState
	NewAttempt int // when non-zero, the attempt becomes this
	StartedAt  time.Time
	FinishedAt time.Time
	Heartbeat  time.Time
	Error      *string
	Output     *string
}

// MarkInsertParams records a fact about a release in an environment.
type MarkInsertParams struct {
	ReleaseID   int64
	Environment string
	Kind        string
	Actor       string
	Reason      string
	CreatedAt   time.Time
}

// EventListParams filters the event log. Results are oldest first, after
// AfterID.
type EventListParams struct {
	// Service selects that service's events and those about every service
	// (pipeline.AllServices).
	Service string
	AfterID int64
	Limit   int // 0 = 1000
	// Since, if set, leaves out events before it (delivery insights read
	// a period, not the whole log).
	Since time.Time
}

// Token is an API token; only a hash of its secret is stored.
type Token struct {
	ID        int64
	Name      string
	Role      string
	Emergency bool // may a deployer token break glass
	CreatedAt time.Time
	// ExpiresAt is when the token stops working (zero: never).
	ExpiresAt time.Time
	// LastUsedAt is its last recorded use (zero: never used), written at
	// most about once a minute.
	LastUsedAt time.Time
	// RevokedAt is when it was revoked (zero: it was not).
	RevokedAt time.Time
}

// Revoked reports whether the token was revoked.
func (t Token) Revoked() bool { return !t.RevokedAt.IsZero() }

// Expired reports whether the token has expired at now.
func (t Token) Expired(now time.Time) bool { return !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt) }

// Active reports whether the token may be used at now: neither revoked nor
// expired.
func (t Token) Active(now time.Time) bool { return !t.Revoked() && !t.Expired(now) }

// TokenInsertParams is a new token.
type TokenInsertParams struct {
	Name      string
	Role      string
	Emergency bool
	Hash      string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never
}

// TokenRevokeParams revokes a token.
type TokenRevokeParams struct {
	ID int64
	At time.Time
}

// TokenTouchParams records a token's use at At unless one at or after
// NotSince is recorded already.
type TokenTouchParams struct {
	ID       int64
	At       time.Time
	NotSince time.Time
}

// Session is a dashboard sign-in kept on the server. The cookie carries a
// random secret; only its SHA-256 (Hash) is stored, so reading the database
// gives no way to sign in.
type Session struct {
	Hash       string
	TokenID    int64
	CreatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
	UserAgent  string
}

// SessionInsertParams is a new session.
type SessionInsertParams struct {
	Hash      string
	TokenID   int64
	CreatedAt time.Time
	ExpiresAt time.Time
	UserAgent string
}

// SessionTouchParams records a session's use at At unless one at or after
// NotSince is recorded already.
type SessionTouchParams struct {
	Hash     string
	At       time.Time
	NotSince time.Time
}

// LockListParams filters held locks. Service matches that service's locks,
// the locks on every service and every selector lock (the store does not
// know labels: the decision matches selectors); empty matches all.
type LockListParams struct {
	Service     string
	Environment string
}

// LockInsertParams is a new lock.
type LockInsertParams struct {
	Service     string // or pipeline.AllServices; "" with Selector
	Selector    string // canonical (config.Selector.String); "" for a service's or every service's lock
	Environment string
	Actor       string
	Reason      string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: no expiry
}

// LockReleaseParams releases a lock.
type LockReleaseParams struct {
	ID     int64
	By     string
	Reason string
	At     time.Time
}

// CanaryListParams filters canaries. Zero fields do not filter.
type CanaryListParams struct {
	Service     string
	Environment string
	States      []pipeline.CanaryState
	Limit       int // default 100
}

// CanaryUpdateParams changes a canary. State is always set; other zero
// fields are left alone.
type CanaryUpdateParams struct {
	ID         int64
	FromStates []pipeline.CanaryState
	State      pipeline.CanaryState
	// Step and Weight are set when SetStep/SetWeight is true (0 is a valid
	// value for both).
	Step          int
	SetStep       bool
	Weight        int
	SetWeight     bool
	StepStartedAt time.Time
	FinishedAt    time.Time
	Reason        *string
}

// JudgementListParams filters judgements. Zero fields do not filter.
type JudgementListParams struct {
	CanaryID    int64
	Service     string
	Environment string
	Limit       int // default 100
}

// BisectListParams filters BisectList.
type BisectListParams struct {
	Service string
	Running bool
	Limit   int
}

// ApprovalListParams filters ApprovalList.
type ApprovalListParams struct {
	Service      string
	Environment  string // "" for every environment
	ReleaseID    int64  // 0 for every release
	MinReleaseID int64  // only releases with at least this ID
}

// ExposureAddParams adds use of one release in one environment, counted by
// the environment's router and the banner's beacons since the last batch.
type ExposureAddParams struct {
	Service, Environment string
	ReleaseID            int64
	// Requests answered by the release (added to what is stored).
	Requests int64
	// People are per-browser ids seen using the release; ids stored
	// already are not counted twice.
	People []string
	At     time.Time
}

// ExposureSetParams records the latest count of requests a release
// answered as a source outside bakery (Prometheus) reports it.
type ExposureSetParams struct {
	Service, Environment string
	ReleaseID            int64
	Requests             int64
	At                   time.Time
}

// Exposure sources of requests.
const (
	ExposureRouter     = "router"
	ExposurePrometheus = "prometheus"
)

// ExposureWriter is the exposure gate's writes (issue 18), part of Tx.
type ExposureWriter interface {
	// ExposureAdd adds router-counted requests and beacon people.
	ExposureAdd(ctx context.Context, p *ExposureAddParams) error
	// ExposureSet sets the Prometheus-counted requests of a release.
	ExposureSet(ctx context.Context, p *ExposureSetParams) error
	// BeaconKey returns the key banner beacon tickets are signed with,
	// storing candidate as the key if there is none yet.
	BeaconKey(ctx context.Context, candidate []byte, at time.Time) ([]byte, error)
}

// Delivery states.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	DeliveryFailed    = "failed"
)

// Delivery is one event on its way to one notification destination.
type Delivery struct {
	ID          int64
	Destination string
	Service     string
	EventID     int64
	Type        string // the event's type, e.g. lock.placed
	// MsgID is the webhook-id of every attempt.
	MsgID string
	// Payload is what is sent (JSON), fixed when the delivery is written.
	Payload       []byte
	State         string
	Attempts      int
	LastError     string
	NextAttemptAt time.Time
	DeliveredAt   time.Time // zero until delivered
	CreatedAt     time.Time
}

// DeliveryListParams filters deliveries.
type DeliveryListParams struct {
	Destination string
	Service     string
	States      []string
	// Newest lists the newest first (the record); otherwise oldest first
	// (the order they are sent in).
	Newest bool
	Limit  int // 0 = 100
}

// SlackMessage is a release's message in a Slack destination.
type SlackMessage struct {
	Destination, Service, Version string
	Channel, TS                   string
}
