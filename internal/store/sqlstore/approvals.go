package sqlstore

import (
	"context"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

const approvalCols = `id, service, environment, release_id, actor, token_id, reason, created_at`

func scanApproval(r row) (pipeline.Approval, error) {
	var a pipeline.Approval
	var at int64
	if err := r.Scan(&a.ID, &a.Service, &a.Environment, &a.ReleaseID, &a.Actor, &a.TokenID, &a.Reason, &at); err != nil {
		return a, err
	}
	a.CreatedAt = fromMicros(at)
	return a, nil
}

func (s queries) ApprovalInsert(ctx context.Context, a *pipeline.Approval) (pipeline.Approval, error) {
	out, err := scanApproval(s.q.queryRow(ctx, `
		INSERT INTO approvals (service, environment, release_id, actor, token_id, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING `+approvalCols,
		a.Service, a.Environment, a.ReleaseID, a.Actor, a.TokenID, a.Reason, micros(a.CreatedAt)))
	if err != nil {
		return out, fmt.Errorf("error recording %s's approval of release %d into %s: %w", a.Actor, a.ReleaseID, a.Environment, err)
	}
	return out, nil
}

func (s queries) ApprovalList(ctx context.Context, p *store.ApprovalListParams) ([]pipeline.Approval, error) {
	q := `SELECT ` + approvalCols + ` FROM approvals WHERE service = ?`
	args := []any{p.Service}
	if p.Environment != "" {
		q, args = q+" AND environment = ?", append(args, p.Environment)
	}
	if p.ReleaseID != 0 {
		q, args = q+" AND release_id = ?", append(args, p.ReleaseID)
	}
	if p.MinReleaseID != 0 {
		q, args = q+" AND release_id >= ?", append(args, p.MinReleaseID)
	}
	rs, err := s.q.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("error listing approvals: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Approval
	for rs.Next() {
		a, err := scanApproval(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading approval: %w", err)
		}
		out = append(out, a)
	}
	return out, rs.Err()
}
