package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

const bisectCols = `id, service, environment, good, bad, check_name, repeat_count, restore_good, return_to, state, probe,
	probe_deployment, tried, culprit, deploys, started_by, reason, result, created_at, updated_at, ended_at`

func scanBisect(r row) (pipeline.Bisect, error) {
	var b pipeline.Bisect
	var state, tried string
	var restore, created, updated int64
	var ended sql.NullInt64
	if err := r.Scan(&b.ID, &b.Service, &b.Environment, &b.Good, &b.Bad, &b.Check, &b.Repeat, &restore, &b.ReturnTo, &state,
		&b.Probe, &b.ProbeDeployment, &tried, &b.Culprit, &b.Deploys, &b.StartedBy, &b.Reason, &b.Result,
		&created, &updated, &ended); err != nil {
		return b, err
	}
	b.State = pipeline.BisectState(state)
	b.RestoreGood = restore != 0
	b.CreatedAt, b.UpdatedAt, b.EndedAt = fromMicros(created), fromMicros(updated), fromNullMicros(ended)
	if err := json.Unmarshal([]byte(tried), &b.Tried); err != nil {
		return b, fmt.Errorf("error decoding the probes of bisect %d: %w", b.ID, err)
	}
	return b, nil
}

func triedJSON(b *pipeline.Bisect) (string, error) {
	tried := b.Tried
	if tried == nil {
		tried = []pipeline.BisectProbe{}
	}
	out, err := json.Marshal(tried)
	return string(out), err
}

func (s queries) BisectInsert(ctx context.Context, b *pipeline.Bisect) (pipeline.Bisect, error) {
	tried, err := triedJSON(b)
	if err != nil {
		return pipeline.Bisect{}, err
	}
	restore := 0
	if b.RestoreGood {
		restore = 1
	}
	out, err := scanBisect(s.q.queryRow(ctx, `
		INSERT INTO bisects (service, environment, good, bad, check_name, repeat_count, restore_good, return_to, state, probe,
			probe_deployment, tried, culprit, deploys, started_by, reason, result, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+bisectCols,
		b.Service, b.Environment, b.Good, b.Bad, b.Check, b.Repeat, restore, b.ReturnTo, string(b.State), b.Probe,
		b.ProbeDeployment, tried, b.Culprit, b.Deploys, b.StartedBy, b.Reason, b.Result, micros(b.CreatedAt), micros(b.CreatedAt)))
	if err != nil {
		return out, fmt.Errorf("error recording a bisect of %s: %w", b.Service, err)
	}
	return out, nil
}

func (s queries) BisectUpdate(ctx context.Context, b *pipeline.Bisect) (pipeline.Bisect, error) {
	tried, err := triedJSON(b)
	if err != nil {
		return pipeline.Bisect{}, err
	}
	var ended any
	if !b.EndedAt.IsZero() {
		ended = micros(b.EndedAt)
	}
	n, err := s.q.exec(ctx, `UPDATE bisects SET state = ?, probe = ?, probe_deployment = ?, tried = ?, culprit = ?, deploys = ?,
		result = ?, return_to = ?, updated_at = ?, ended_at = ? WHERE id = ? AND state = 'running'`,
		string(b.State), b.Probe, b.ProbeDeployment, tried, b.Culprit, b.Deploys, b.Result, b.ReturnTo, micros(b.UpdatedAt), ended, b.ID)
	if err != nil {
		return pipeline.Bisect{}, fmt.Errorf("error updating bisect %d: %w", b.ID, err)
	}
	if n == 0 {
		return pipeline.Bisect{}, fmt.Errorf("error updating bisect %d: it is not running: %w", b.ID, store.ErrNotFound)
	}
	return s.BisectGet(ctx, b.ID)
}

func (s queries) BisectGet(ctx context.Context, id int64) (pipeline.Bisect, error) {
	b, err := scanBisect(s.q.queryRow(ctx, `SELECT `+bisectCols+` FROM bisects WHERE id = ?`, id))
	if err != nil {
		return b, fmt.Errorf("error reading bisect %d: %w", id, err)
	}
	return b, nil
}

func (s queries) BisectList(ctx context.Context, p *store.BisectListParams) ([]pipeline.Bisect, error) {
	q := `SELECT ` + bisectCols + ` FROM bisects WHERE 1 = 1`
	var args []any
	if p.Service != "" {
		q, args = q+" AND service = ?", append(args, p.Service)
	}
	if p.Running {
		q += " AND state = 'running'"
	}
	q, args = q+" ORDER BY id DESC LIMIT ?", append(args, limitOr(p.Limit, 100))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing bisects: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Bisect
	for rs.Next() {
		b, err := scanBisect(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading bisect: %w", err)
		}
		out = append(out, b)
	}
	return out, rs.Err()
}
