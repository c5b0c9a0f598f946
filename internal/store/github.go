package store

import (
	"context"
	"time"
)

// GitHubReader is what the GitHub integration (internal/github) reads of
// its own tables.
type GitHubReader interface {
	// GitHubDeliveryList lists webhook deliveries, newest first.
	GitHubDeliveryList(ctx context.Context, p *GitHubDeliveryListParams) ([]GitHubDelivery, error)
	// GitHubReleaseGet returns what GitHub told about a release it
	// created; ErrNotFound for a release that did not come from GitHub.
	GitHubReleaseGet(ctx context.Context, service, version string) (GitHubRelease, error)
	// GitHubSyncList returns what was last sent to GitHub about a release,
	// one row per environment.
	GitHubSyncList(ctx context.Context, service, version string) ([]GitHubSync, error)
	// GitHubHealthList returns the services GitHub is behind on (rows
	// with a zero BehindSince are up to date and left out).
	GitHubHealthList(ctx context.Context) ([]GitHubHealth, error)
	// GitHubCompareGet returns a cached compare; ErrNotFound if absent.
	GitHubCompareGet(ctx context.Context, repository, base, head string) (GitHubCompare, error)
	// GitHubPRCommentGet returns the comment bakery keeps on a pull
	// request; ErrNotFound if it has none yet.
	GitHubPRCommentGet(ctx context.Context, repository string, pr int64) (GitHubPRComment, error)
}

// GitHubWriter is what the GitHub integration writes, in a transaction.
type GitHubWriter interface {
	// GitHubDeliveryInsert records a delivery and returns its row ID. An
	// accepted delivery whose GitHub ID was accepted before is ErrConflict.
	GitHubDeliveryInsert(ctx context.Context, d *GitHubDelivery) (int64, error)
	// GitHubDeliveryFinish records what came of an accepted delivery.
	GitHubDeliveryFinish(ctx context.Context, p *GitHubDeliveryFinishParams) error
	// GitHubReleasePut records what GitHub told about a release, once
	// (a second put of the same release is a no-op).
	GitHubReleasePut(ctx context.Context, r *GitHubRelease) error
	// GitHubSyncPut records what was sent about a release in an
	// environment.
	GitHubSyncPut(ctx context.Context, s *GitHubSync) error
	// GitHubHealthPut records whether GitHub is behind on a service.
	GitHubHealthPut(ctx context.Context, h *GitHubHealth) error
	// GitHubComparePut caches a compare.
	GitHubComparePut(ctx context.Context, c *GitHubCompare) error
	// GitHubPRCommentPut records the comment kept on a pull request.
	GitHubPRCommentPut(ctx context.Context, c *GitHubPRComment) error
}

// GitHubDelivery is one webhook delivery on the record (never its body).
type GitHubDelivery struct {
	ID         int64
	DeliveryID string // X-GitHub-Delivery
	Event      string // X-GitHub-Event
	Action     string
	// Accepted is false for a delivery refused before it was read (a
	// missing or wrong signature).
	Accepted   bool
	Outcome    string
	Detail     string
	ReceivedAt time.Time
}

// GitHubDeliveryFinishParams records what came of a delivery. Release
// gives its GitHub ID back (a delivery that failed may come again).
type GitHubDeliveryFinishParams struct {
	ID      int64
	Outcome string
	Detail  string
	Release bool
}

// GitHubDeliveryListParams filters deliveries.
type GitHubDeliveryListParams struct {
	Limit int // 0 = 100
}

// GitHubRelease is what a webhook told about a release it created.
type GitHubRelease struct {
	Service    string
	Version    string
	Repository string
	PRs        []int64
	Event      string
	CreatedAt  time.Time
}

// GitHubSync is what bakery last sent GitHub about a release in one
// environment.
type GitHubSync struct {
	Service           string
	Version           string
	Environment       string
	DeploymentID      int64  // the GitHub Deployment's id (0: none yet)
	DeploymentState   string // its last status sent
	StatusState       string // the commit status's last state sent
	StatusDescription string
	UpdatedAt         time.Time
}

// GitHubHealth says whether GitHub is behind on a service.
type GitHubHealth struct {
	Service     string
	BehindSince time.Time // zero: up to date
	LastError   string
	UpdatedAt   time.Time
}

// GitHubCompare is the compare API's answer (JSON) between two commits.
type GitHubCompare struct {
	Repository string
	Base, Head string
	Body       []byte
	FetchedAt  time.Time
}

// GitHubPRComment is the comment bakery keeps on a pull request.
type GitHubPRComment struct {
	Repository string
	PR         int64
	CommentID  int64
	BodyHash   string
	UpdatedAt  time.Time
}
