package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/store"
)

// GitHubDeliveryInsert records a webhook delivery.
func (s queries) GitHubDeliveryInsert(ctx context.Context, d *store.GitHubDelivery) (int64, error) {
	var id int64
	err := s.q.queryRow(ctx, `INSERT INTO github_deliveries (delivery_id, event, action, accepted, outcome, detail, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		d.DeliveryID, d.Event, d.Action, boolInt(d.Accepted), d.Outcome, d.Detail, micros(d.ReceivedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("error recording the GitHub delivery %s: %w", d.DeliveryID, err)
	}
	return id, nil
}

// GitHubDeliveryFinish records what came of a delivery.
func (s queries) GitHubDeliveryFinish(ctx context.Context, p *store.GitHubDeliveryFinishParams) error {
	q := `UPDATE github_deliveries SET outcome = ?, detail = ? WHERE id = ?`
	if p.Release {
		q = `UPDATE github_deliveries SET outcome = ?, detail = ?, accepted = 0 WHERE id = ?`
	}
	if _, err := s.q.exec(ctx, q, p.Outcome, p.Detail, p.ID); err != nil {
		return fmt.Errorf("error recording the outcome of GitHub delivery %d: %w", p.ID, err)
	}
	return nil
}

// GitHubDeliveryList lists deliveries, newest first.
func (s queries) GitHubDeliveryList(ctx context.Context, p *store.GitHubDeliveryListParams) ([]store.GitHubDelivery, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = 100
	}
	rs, err := s.q.query(ctx, `SELECT id, delivery_id, event, action, accepted, outcome, detail, received_at
		FROM github_deliveries ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("error listing GitHub deliveries: %w", err)
	}
	defer rs.Close()
	var out []store.GitHubDelivery
	for rs.Next() {
		var d store.GitHubDelivery
		var accepted, at int64
		if err := rs.Scan(&d.ID, &d.DeliveryID, &d.Event, &d.Action, &accepted, &d.Outcome, &d.Detail, &at); err != nil {
			return nil, fmt.Errorf("error reading a GitHub delivery: %w", err)
		}
		d.Accepted, d.ReceivedAt = accepted == 1, fromMicros(at)
		out = append(out, d)
	}
	return out, rs.Err()
}

// GitHubReleasePut records what GitHub told about a release, once.
func (s queries) GitHubReleasePut(ctx context.Context, r *store.GitHubRelease) error {
	prs := r.PRs
	if prs == nil {
		prs = []int64{}
	}
	b, _ := json.Marshal(prs)
	_, err := s.q.exec(ctx, `INSERT INTO github_releases (service, version, repository, prs, event, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (service, version) DO NOTHING`, r.Service, r.Version, r.Repository, string(b), r.Event, micros(r.CreatedAt))
	if err != nil {
		return fmt.Errorf("error recording GitHub's view of release %s of %s: %w", r.Version, r.Service, err)
	}
	return nil
}

// GitHubReleaseGet returns what GitHub told about a release.
func (s queries) GitHubReleaseGet(ctx context.Context, service, version string) (store.GitHubRelease, error) {
	r := store.GitHubRelease{Service: service, Version: version}
	var prs string
	var at int64
	err := s.q.queryRow(ctx, `SELECT repository, prs, event, created_at FROM github_releases WHERE service = ? AND version = ?`,
		service, version).Scan(&r.Repository, &prs, &r.Event, &at)
	if err != nil {
		return r, fmt.Errorf("error reading GitHub's view of release %s of %s: %w", version, service, err)
	}
	r.CreatedAt = fromMicros(at)
	if err := json.Unmarshal([]byte(prs), &r.PRs); err != nil {
		return r, fmt.Errorf("error decoding the pull requests of release %s of %s: %w", version, service, err)
	}
	return r, nil
}

// GitHubSyncPut records what was sent about a release in an environment.
func (s queries) GitHubSyncPut(ctx context.Context, g *store.GitHubSync) error {
	_, err := s.q.exec(ctx, `INSERT INTO github_sync (service, version, environment, deployment_id, deployment_state, status_state, status_description, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (service, version, environment) DO UPDATE SET deployment_id = excluded.deployment_id,
			deployment_state = excluded.deployment_state, status_state = excluded.status_state,
			status_description = excluded.status_description, updated_at = excluded.updated_at`,
		g.Service, g.Version, g.Environment, g.DeploymentID, g.DeploymentState, g.StatusState, g.StatusDescription, micros(g.UpdatedAt))
	if err != nil {
		return fmt.Errorf("error recording what GitHub was told about %s of %s in %s: %w", g.Version, g.Service, g.Environment, err)
	}
	return nil
}

// GitHubSyncList returns what was last sent about a release.
func (s queries) GitHubSyncList(ctx context.Context, service, version string) ([]store.GitHubSync, error) {
	rs, err := s.q.query(ctx, `SELECT environment, deployment_id, deployment_state, status_state, status_description, updated_at
		FROM github_sync WHERE service = ? AND version = ? ORDER BY environment`, service, version)
	if err != nil {
		return nil, fmt.Errorf("error reading what GitHub was told about %s of %s: %w", version, service, err)
	}
	defer rs.Close()
	var out []store.GitHubSync
	for rs.Next() {
		g := store.GitHubSync{Service: service, Version: version}
		var at int64
		if err := rs.Scan(&g.Environment, &g.DeploymentID, &g.DeploymentState, &g.StatusState, &g.StatusDescription, &at); err != nil {
			return nil, fmt.Errorf("error reading what GitHub was told about %s of %s: %w", version, service, err)
		}
		g.UpdatedAt = fromMicros(at)
		out = append(out, g)
	}
	return out, rs.Err()
}

// GitHubHealthPut records whether GitHub is behind on a service.
func (s queries) GitHubHealthPut(ctx context.Context, h *store.GitHubHealth) error {
	var since int64
	if !h.BehindSince.IsZero() {
		since = micros(h.BehindSince)
	}
	_, err := s.q.exec(ctx, `INSERT INTO github_health (service, behind_since, last_error, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (service) DO UPDATE SET behind_since = excluded.behind_since, last_error = excluded.last_error, updated_at = excluded.updated_at`,
		h.Service, since, h.LastError, micros(h.UpdatedAt))
	if err != nil {
		return fmt.Errorf("error recording GitHub's health for %s: %w", h.Service, err)
	}
	return nil
}

// GitHubHealthList returns the services GitHub is behind on.
func (s queries) GitHubHealthList(ctx context.Context) ([]store.GitHubHealth, error) {
	rs, err := s.q.query(ctx, `SELECT service, behind_since, last_error, updated_at FROM github_health WHERE behind_since <> 0 ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("error reading GitHub's health: %w", err)
	}
	defer rs.Close()
	var out []store.GitHubHealth
	for rs.Next() {
		var h store.GitHubHealth
		var since, at int64
		if err := rs.Scan(&h.Service, &since, &h.LastError, &at); err != nil {
			return nil, fmt.Errorf("error reading GitHub's health: %w", err)
		}
		h.BehindSince, h.UpdatedAt = fromMicros(since), fromMicros(at)
		out = append(out, h)
	}
	return out, rs.Err()
}

// GitHubComparePut caches a compare.
func (s queries) GitHubComparePut(ctx context.Context, c *store.GitHubCompare) error {
	_, err := s.q.exec(ctx, `INSERT INTO github_compares (repository, base, head, body, fetched_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repository, base, head) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at`,
		c.Repository, c.Base, c.Head, string(c.Body), micros(c.FetchedAt))
	if err != nil {
		return fmt.Errorf("error caching the compare %s...%s: %w", c.Base, c.Head, err)
	}
	return nil
}

// GitHubCompareGet returns a cached compare.
func (s queries) GitHubCompareGet(ctx context.Context, repository, base, head string) (store.GitHubCompare, error) {
	c := store.GitHubCompare{Repository: repository, Base: base, Head: head}
	var body string
	var at int64
	err := s.q.queryRow(ctx, `SELECT body, fetched_at FROM github_compares WHERE repository = ? AND base = ? AND head = ?`,
		repository, base, head).Scan(&body, &at)
	if err != nil {
		return c, fmt.Errorf("error reading the compare %s...%s: %w", base, head, err)
	}
	c.Body, c.FetchedAt = []byte(body), fromMicros(at)
	return c, nil
}

// GitHubPRCommentPut records the comment kept on a pull request.
func (s queries) GitHubPRCommentPut(ctx context.Context, c *store.GitHubPRComment) error {
	_, err := s.q.exec(ctx, `INSERT INTO github_pr_comments (repository, pr, comment_id, body_hash, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repository, pr) DO UPDATE SET comment_id = excluded.comment_id, body_hash = excluded.body_hash, updated_at = excluded.updated_at`,
		c.Repository, c.PR, c.CommentID, c.BodyHash, micros(c.UpdatedAt))
	if err != nil {
		return fmt.Errorf("error recording the comment on pull request %d: %w", c.PR, err)
	}
	return nil
}

// GitHubPRCommentGet returns the comment kept on a pull request.
func (s queries) GitHubPRCommentGet(ctx context.Context, repository string, pr int64) (store.GitHubPRComment, error) {
	c := store.GitHubPRComment{Repository: repository, PR: pr}
	var at int64
	err := s.q.queryRow(ctx, `SELECT comment_id, body_hash, updated_at FROM github_pr_comments WHERE repository = ? AND pr = ?`,
		repository, pr).Scan(&c.CommentID, &c.BodyHash, &at)
	if err != nil {
		return c, fmt.Errorf("error reading the comment on pull request %d: %w", pr, err)
	}
	c.UpdatedAt = fromMicros(at)
	return c, nil
}
