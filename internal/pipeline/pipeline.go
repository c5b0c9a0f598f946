// Package pipeline is bakery's domain: releases, environments, deployments,
// bake and the promotion decision. It has no SQL and no HTTP in it. The
// decision functions are pure: given the stored state of one service and the
// current time, they say what should happen next and why. The engine persists
// and performs what they decide.
package pipeline

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// DeploymentState is where one attempt to put a release into an environment
// stands. The diagram in docs/ARCHITECTURE.md is drawn from these constants.
type DeploymentState string

const (
	// DeploymentPending means the promotion was decided and written down; a
	// worker has not started the deploy command yet.
	DeploymentPending DeploymentState = "pending"
	// DeploymentRunning means the deploy command is running. A running
	// deployment whose worker stops heart-beating is interrupted and retried.
	DeploymentRunning DeploymentState = "running"
	// DeploymentSucceeded means the deploy command exited 0: the release now
	// runs in the environment, and its bake clock for the next one starts.
	DeploymentSucceeded DeploymentState = "succeeded"
	// DeploymentFailed means the command failed, timed out, or was interrupted
	// too many times. The environment stays on its previous version and the
	// release is not promoted further.
	DeploymentFailed DeploymentState = "failed"
	// DeploymentCancelled means someone or something stopped the deployment
	// before it finished.
	DeploymentCancelled DeploymentState = "cancelled"
)

// IsTerminal reports whether the state is final: a terminal deployment never
// changes again.
func (s DeploymentState) IsTerminal() bool {
	switch s {
	case DeploymentSucceeded, DeploymentFailed, DeploymentCancelled:
		return true
	}
	return false
}

// IsActive reports whether the deployment occupies its environment; at most
// one active deployment exists per service and environment.
func (s DeploymentState) IsActive() bool {
	return s == DeploymentPending || s == DeploymentRunning
}

// Valid reports whether s is one of the known states.
func (s DeploymentState) Valid() bool {
	return s.IsActive() || s.IsTerminal()
}

// MaxAttempts is how many times a deployment whose worker died is started
// again before it is marked failed. A deploy command that exits non-zero is
// never retried: it failed on its own terms.
const MaxAttempts = 3

// ActorSystem is the actor recorded for decisions bakery takes by itself.
const ActorSystem = "bakery"

// Release is one immutable build of a service.
type Release struct {
	ID        int64
	Service   string
	Version   string
	Artifact  string
	Message   string
	Author    string
	CreatedAt time.Time
	// CommittedAt is when the release's commit was made, if known (zero:
	// lead time starts at CreatedAt).
	CommittedAt time.Time
	// Rejected releases are never promoted automatically again (rule 7).
	Rejected bool
	// Fix marks a fix release (bakery release create --fix): in an
	// environment with a fix lane it bakes for a shorter time and passes
	// the environment's locks once people other than its creator approved
	// it. FixReason says what it fixes.
	Fix       bool
	FixReason string
	// Creator is the name of the token that created the release, and
	// CreatorTokenID its ID: a fix's approvals must come from other tokens.
	Creator        string
	CreatorTokenID int64
}

// Approval is one person's approval of a release into an environment
// (bakery approve): for the fix lane and for the approval gate.
type Approval struct {
	ID          int64
	Service     string
	Environment string
	ReleaseID   int64
	Actor       string
	TokenID     int64
	Reason      string
	CreatedAt   time.Time
}

// Deployment is one attempt to put a release into an environment.
type Deployment struct {
	ID          int64
	Service     string
	Environment string
	ReleaseID   int64
	Version     string
	State       DeploymentState
	Attempt     int
	// Kind says why the deployment exists: an automatic promotion or a
	// person's command. Only automatic ones are subject to the gate.
	Kind       string
	Actor      string
	Reason     string
	CreatedAt  time.Time
	StartedAt  time.Time // zero until running
	FinishedAt time.Time // zero until terminal
	Heartbeat  time.Time // last sign of life from the worker running it
	Error      string
	Output     string
}

// Deployment kinds. Only automatic promotions pass through the gate; the
// others are a person's explicit command.
const (
	KindAuto      = "auto"
	KindRollback  = "rollback"
	KindEmergency = "emergency"
)

// Mark is a fact recorded about a release with respect to one environment
// that changes how the decision treats it.
type Mark struct {
	ReleaseID   int64
	Environment string
	Kind        string
	CreatedAt   time.Time
}

// Mark kinds.
const (
	// MarkSuperseded: a newer release was promoted into the environment
	// while this one was waiting; it will never be promoted there.
	MarkSuperseded = "superseded"
	// MarkBakeSkipped: someone ended the release's bake for the
	// environment early (rule 5); the rest of the gate still applies.
	MarkBakeSkipped = "bake_skipped"
	// MarkFailedBake: a check failed while the release baked below the
	// environment (rule 8); it will never be promoted there automatically.
	MarkFailedBake = "failed_bake"
)

// Check outcomes, as internal/analysis/check reports them.
const (
	CheckHealthy      = "healthy"
	CheckFailing      = "failing"
	CheckInconclusive = "inconclusive"
)

// CheckResult is the latest evaluation of one check guarding promotions
// into an environment.
type CheckResult struct {
	Environment string
	Name        string
	ReleaseID   int64
	Outcome     string
	Value       *float64
	Reason      string
	At          time.Time
}

// AllServices is the Service of a lock that brakes every service: the
// incident button.
const AllServices = "*"

// Lock is a brake on automatic promotions into one environment of one
// service (or of every service, or of every service whose labels match a
// selector). It holds until released or until it expires.
type Lock struct {
	ID      int64
	Service string // a service name, or AllServices; "" for a selector lock
	// Selector is set for a lock on every service whose labels match it at
	// decision time, in canonical form (pairs sorted by key, no spaces,
	// such as team=payments,tier=1); Service is then "".
	Selector    string
	Environment string
	Actor       string
	Reason      string
	CreatedAt   time.Time
	ExpiresAt   time.Time // zero: until someone unlocks
}

// Holds reports whether the lock concerns service, whose labels are
// labels (the lock's environment and expiry aside).
func (l Lock) Holds(service string, labels map[string]string) bool {
	if l.Selector != "" {
		return SelectorMatches(l.Selector, labels)
	}
	return l.Service == service || l.Service == AllServices
}

// Scope names what the lock concerns: a service, "*", or its selector.
func (l Lock) Scope() string {
	if l.Selector != "" {
		return l.Selector
	}
	return l.Service
}

// SelectorMatches reports whether every key=value pair of a selector in
// canonical form (internal/config.ParseSelector writes it) holds for
// labels. An empty or malformed selector matches nothing: a lock never
// holds everything by mistake of its selector.
func SelectorMatches(selector string, labels map[string]string) bool {
	if selector == "" {
		return false
	}
	for _, pair := range strings.Split(selector, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" {
			return false
		}
		if got, has := labels[k]; !has || got != v {
			return false
		}
	}
	return true
}

// ActiveAt reports whether the lock holds at t.
func (l Lock) ActiveAt(t time.Time) bool {
	return l.ExpiresAt.IsZero() || t.Before(l.ExpiresAt)
}

// Window is an environment's promotion window (internal/window implements
// it). A nil Window is always open.
type Window interface {
	Open(t time.Time) bool
	NextOpen(t time.Time) (time.Time, bool)
}

var versionPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// ValidateVersion checks a release version (a commit SHA or a tag). A
// version reaches deploy commands as BAKERY_VERSION and often as an argument
// or a path element of theirs (`git checkout "$BAKERY_VERSION"`,
// `releases/$BAKERY_VERSION`), so besides the character set it may not start
// with "-" (read as an option) and may not be "." or ".." (a directory).
func ValidateVersion(v string) error {
	if !versionPattern.MatchString(v) {
		if v == "" {
			return fmt.Errorf("version is empty: give a commit SHA or tag of 1-128 characters from A-Z a-z 0-9 . _ -")
		}
		if len(v) > 128 {
			return fmt.Errorf("version is %d characters long: use at most 128 characters from A-Z a-z 0-9 . _ -", len(v))
		}
		return fmt.Errorf("version %q has characters other than A-Z a-z 0-9 . _ -: use a commit SHA or a tag", v)
	}
	if v[0] == '-' {
		return fmt.Errorf("version %q starts with \"-\", which commands read as an option: use a commit SHA or a tag such as v1.2.3", v)
	}
	if v == "." || v == ".." {
		return fmt.Errorf("version %q names a directory: use a commit SHA or a tag such as v1.2.3", v)
	}
	return nil
}

// Clock tells the time. The engine reads time only through it so that tests
// can move time instead of sleeping.
type Clock interface {
	Now() time.Time
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now() }
