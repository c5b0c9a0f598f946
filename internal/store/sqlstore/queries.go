package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// queries holds every query, for a pool or a transaction of either database.
type queries struct {
	q        querier
	postgres bool
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(t), Valid: true}
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

// inList is the placeholder list "(?, ?, ...)" for values and the
// arguments that fill it.
func inList[S ~string](values []S) (string, []any) {
	ph := make([]string, len(values))
	args := make([]any, len(values))
	for i, v := range values {
		ph[i], args[i] = "?", string(v)
	}
	return "(" + strings.Join(ph, ", ") + ")", args
}

func limitOr(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

const releaseCols = `id, service, version, artifact, message, author, created_at, rejected, committed_at, fix, fix_reason, creator, creator_token_id`

func scanRelease(r row) (pipeline.Release, error) {
	var rel pipeline.Release
	var created, rejected, committed, fix int64
	if err := r.Scan(&rel.ID, &rel.Service, &rel.Version, &rel.Artifact, &rel.Message, &rel.Author, &created, &rejected, &committed,
		&fix, &rel.FixReason, &rel.Creator, &rel.CreatorTokenID); err != nil {
		return pipeline.Release{}, err
	}
	rel.CreatedAt = fromMicros(created)
	if committed != 0 {
		rel.CommittedAt = fromMicros(committed)
	}
	rel.Rejected = rejected != 0
	rel.Fix = fix != 0
	return rel, nil
}

func (s queries) ReleaseGet(ctx context.Context, service, version string) (pipeline.Release, error) {
	rel, err := scanRelease(s.q.queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE service = ? AND version = ?`, service, version))
	if err != nil {
		return rel, fmt.Errorf("error getting release %s of %s: %w", version, service, err)
	}
	return rel, nil
}

func (s queries) ReleaseGetByID(ctx context.Context, id int64) (pipeline.Release, error) {
	rel, err := scanRelease(s.q.queryRow(ctx, `SELECT `+releaseCols+` FROM releases WHERE id = ?`, id))
	if err != nil {
		return rel, fmt.Errorf("error getting release %d: %w", id, err)
	}
	return rel, nil
}

func (s queries) ReleaseList(ctx context.Context, p *store.ReleaseListParams) ([]pipeline.Release, error) {
	q, args := `SELECT `+releaseCols+` FROM releases WHERE service = ?`, []any{p.Service}
	if p.AfterID > 0 {
		q, args = q+` AND id > ?`, append(args, p.AfterID)
	}
	if p.UpToID > 0 {
		q, args = q+` AND id <= ?`, append(args, p.UpToID)
	}
	rs, err := s.q.query(ctx, q+` ORDER BY id DESC LIMIT ?`, append(args, limitOr(p.Limit, 100))...)
	if err != nil {
		return nil, fmt.Errorf("error listing releases: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Release
	for rs.Next() {
		rel, err := scanRelease(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading release: %w", err)
		}
		out = append(out, rel)
	}
	return out, rs.Err()
}

func (s queries) ReleaseInsert(ctx context.Context, p *store.ReleaseInsertParams) (pipeline.Release, error) {
	rel, err := scanRelease(s.q.queryRow(ctx, `
		INSERT INTO releases (service, version, artifact, message, author, created_at, committed_at, fix, fix_reason, creator, creator_token_id)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING `+releaseCols,
		p.Service, p.Version, p.Artifact, p.Message, p.Author, micros(p.CreatedAt), nullMicros(p.CommittedAt).Int64, boolInt(p.Fix), p.FixReason, p.Creator, p.CreatorTokenID))
	if err != nil {
		return rel, fmt.Errorf("error inserting release %s of %s: %w", p.Version, p.Service, err)
	}
	for _, id := range p.Migrations {
		if _, err := s.q.exec(ctx, `INSERT INTO release_migrations (release_id, migration_id) VALUES (?, ?) ON CONFLICT DO NOTHING`, rel.ID, id); err != nil {
			return rel, fmt.Errorf("error recording migration %s of release %s: %w", id, p.Version, err)
		}
	}
	return rel, nil
}

func (s queries) ReleaseMigrations(ctx context.Context, releaseID int64) ([]string, error) {
	rs, err := s.q.query(ctx, `SELECT migration_id FROM release_migrations WHERE release_id = ? ORDER BY migration_id`, releaseID)
	if err != nil {
		return nil, fmt.Errorf("error listing migrations of release %d: %w", releaseID, err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var id string
		if err := rs.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rs.Err()
}

func (s queries) MigrationsSeen(ctx context.Context, service string) (map[string]map[string]time.Time, error) {
	rs, err := s.q.query(ctx, `SELECT environment, migration_id, first_seen FROM migrations_seen WHERE service = ?`, service)
	if err != nil {
		return nil, fmt.Errorf("error listing migrations seen for %s: %w", service, err)
	}
	defer rs.Close()
	out := map[string]map[string]time.Time{}
	for rs.Next() {
		var env, id string
		var at int64
		if err := rs.Scan(&env, &id, &at); err != nil {
			return nil, err
		}
		if out[env] == nil {
			out[env] = map[string]time.Time{}
		}
		out[env][id] = fromMicros(at)
	}
	return out, rs.Err()
}

func (s queries) MigrationsSeenRecord(ctx context.Context, service, env string, ids []string, at time.Time) error {
	for _, id := range ids {
		if _, err := s.q.exec(ctx, `INSERT INTO migrations_seen (service, environment, migration_id, first_seen) VALUES (?, ?, ?, ?)
			ON CONFLICT (service, environment, migration_id) DO NOTHING`, service, env, id, micros(at)); err != nil {
			return fmt.Errorf("error recording migration %s seen in %s/%s: %w", id, service, env, err)
		}
	}
	return nil
}

const deploymentCols = `d.id, d.service, d.environment, d.release_id, r.version, d.state, d.attempt, d.kind, d.actor, d.reason,
	d.created_at, d.started_at, d.finished_at, d.heartbeat_at, d.error, d.output`

const deploymentFrom = ` FROM deployments d JOIN releases r ON r.id = d.release_id`

func scanDeployment(r row) (pipeline.Deployment, error) {
	var d pipeline.Deployment
	var created int64
	var started, finished, heartbeat sql.NullInt64
	var state string
	if err := r.Scan(&d.ID, &d.Service, &d.Environment, &d.ReleaseID, &d.Version, &state, &d.Attempt, &d.Kind, &d.Actor, &d.Reason,
		&created, &started, &finished, &heartbeat, &d.Error, &d.Output); err != nil {
		return d, err
	}
	d.State = pipeline.DeploymentState(state)
	d.CreatedAt = fromMicros(created)
	d.StartedAt = fromNullMicros(started)
	d.FinishedAt = fromNullMicros(finished)
	d.Heartbeat = fromNullMicros(heartbeat)
	return d, nil
}

func (s queries) DeploymentGet(ctx context.Context, id int64) (pipeline.Deployment, error) {
	d, err := scanDeployment(s.q.queryRow(ctx, `SELECT `+deploymentCols+deploymentFrom+` WHERE d.id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("error getting deployment %d: %w", id, err)
	}
	return d, nil
}

func (s queries) DeploymentList(ctx context.Context, p *store.DeploymentListParams) ([]pipeline.Deployment, error) {
	var where []string
	var args []any
	if p.Service != "" {
		where, args = append(where, "d.service = ?"), append(args, p.Service)
	}
	if p.Environment != "" {
		where, args = append(where, "d.environment = ?"), append(args, p.Environment)
	}
	if p.ReleaseID != 0 {
		where, args = append(where, "d.release_id = ?"), append(args, p.ReleaseID)
	}
	if len(p.States) > 0 {
		in, vals := inList(p.States)
		where, args = append(where, "d.state IN "+in), append(args, vals...)
	}
	if !p.HeartbeatBefore.IsZero() {
		where, args = append(where, "d.state = 'running' AND d.heartbeat_at < ? AND NOT EXISTS "+
			"(SELECT 1 FROM canaries c WHERE c.deployment_id = d.id AND c.state = 'running')"), append(args, micros(p.HeartbeatBefore))
	}
	q := `SELECT ` + deploymentCols + deploymentFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, limitOr(p.Limit, 100))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing deployments: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Deployment
	for rs.Next() {
		d, err := scanDeployment(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading deployment: %w", err)
		}
		out = append(out, d)
	}
	return out, rs.Err()
}

func (s queries) DeploymentInsert(ctx context.Context, p *store.DeploymentInsertParams) (pipeline.Deployment, error) {
	var id int64
	err := s.q.queryRow(ctx, `
		INSERT INTO deployments (service, environment, release_id, state, attempt, kind, actor, reason, created_at)
		VALUES (?, ?, ?, 'pending', 1, ?, ?, ?, ?)
		RETURNING id`,
		p.Service, p.Environment, p.ReleaseID, p.Kind, p.Actor, p.Reason, micros(p.CreatedAt)).Scan(&id)
	if err != nil {
		return pipeline.Deployment{}, fmt.Errorf("error inserting deployment into %s/%s: %w", p.Service, p.Environment, err)
	}
	return s.DeploymentGet(ctx, id)
}

func (s queries) DeploymentUpdate(ctx context.Context, p *store.DeploymentUpdateParams) (pipeline.Deployment, error) {
	set := []string{"state = ?"}
	args := []any{string(p.State)}
	if p.NewAttempt != 0 {
		set, args = append(set, "attempt = ?"), append(args, p.NewAttempt)
	}
	if !p.StartedAt.IsZero() {
		set, args = append(set, "started_at = ?"), append(args, micros(p.StartedAt))
	}
	if !p.FinishedAt.IsZero() {
		set, args = append(set, "finished_at = ?"), append(args, micros(p.FinishedAt))
	}
	if !p.Heartbeat.IsZero() {
		set, args = append(set, "heartbeat_at = ?"), append(args, micros(p.Heartbeat))
	}
	if p.Error != nil {
		set, args = append(set, "error = ?"), append(args, *p.Error)
	}
	if p.Output != nil {
		set, args = append(set, "output = ?"), append(args, *p.Output)
	}
	q := "UPDATE deployments SET " + strings.Join(set, ", ") + " WHERE id = ? AND attempt = ?"
	args = append(args, p.ID, p.Attempt)
	if len(p.FromStates) > 0 {
		in, vals := inList(p.FromStates)
		q, args = q+" AND state IN "+in, append(args, vals...)
	}
	n, err := s.q.exec(ctx, q, args...)
	if err != nil {
		return pipeline.Deployment{}, fmt.Errorf("error updating deployment %d: %w", p.ID, err)
	}
	if n == 0 {
		return pipeline.Deployment{}, fmt.Errorf("error updating deployment %d: attempt %d in states %v: %w", p.ID, p.Attempt, p.FromStates, store.ErrNotFound)
	}
	return s.DeploymentGet(ctx, p.ID)
}

func (s queries) MarkInsert(ctx context.Context, p *store.MarkInsertParams) error {
	_, err := s.q.exec(ctx, `
		INSERT INTO release_marks (release_id, environment, kind, actor, reason, created_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (release_id, environment, kind) DO NOTHING`,
		p.ReleaseID, p.Environment, p.Kind, p.Actor, p.Reason, micros(p.CreatedAt))
	if err != nil {
		return fmt.Errorf("error marking release %d %s in %s: %w", p.ReleaseID, p.Kind, p.Environment, err)
	}
	return nil
}

const eventCols = `id, at, type, service, environment, version, from_version, to_version, actor, actor_token_id, reason, deployment_id, data`

func (s queries) EventInsert(ctx context.Context, e *pipeline.Event) (pipeline.Event, error) {
	data := []byte("{}")
	if len(e.Data) > 0 {
		var err error
		if data, err = json.Marshal(e.Data); err != nil {
			return pipeline.Event{}, fmt.Errorf("error encoding event data: %w", err)
		}
	}
	var depID sql.NullInt64
	if e.DeploymentID != 0 {
		depID = sql.NullInt64{Int64: e.DeploymentID, Valid: true}
	}
	var tokID sql.NullInt64
	if e.ActorTokenID != 0 {
		tokID = sql.NullInt64{Int64: e.ActorTokenID, Valid: true}
	}
	out := *e
	err := s.q.queryRow(ctx, `
		INSERT INTO events (at, type, service, environment, version, from_version, to_version, actor, actor_token_id, reason, deployment_id, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		RETURNING id`,
		micros(e.At), e.Type, e.Service, e.Environment, e.Version, e.FromVersion, e.ToVersion, e.Actor, tokID, e.Reason, depID, string(data)).Scan(&out.ID)
	if err != nil {
		return pipeline.Event{}, fmt.Errorf("error recording event %s: %w", e.Type, err)
	}
	out.At = fromMicros(micros(e.At))
	return out, nil
}

func (s queries) EventList(ctx context.Context, p *store.EventListParams) ([]pipeline.Event, error) {
	q := `SELECT ` + eventCols + ` FROM events WHERE id > ?`
	args := []any{p.AfterID}
	if p.Service != "" {
		// A service's history includes what was done to every service.
		q, args = q+" AND service IN (?, ?)", append(args, p.Service, pipeline.AllServices)
	}
	if !p.Since.IsZero() {
		q, args = q+" AND at >= ?", append(args, micros(p.Since))
	}
	q += " ORDER BY id LIMIT ?"
	args = append(args, limitOr(p.Limit, 1000))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing events: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Event
	for rs.Next() {
		var e pipeline.Event
		var at int64
		var depID, tokID sql.NullInt64
		var data string
		if err := rs.Scan(&e.ID, &at, &e.Type, &e.Service, &e.Environment, &e.Version, &e.FromVersion, &e.ToVersion,
			&e.Actor, &tokID, &e.Reason, &depID, &data); err != nil {
			return nil, fmt.Errorf("error reading event: %w", err)
		}
		e.At = fromMicros(at)
		e.DeploymentID, e.ActorTokenID = depID.Int64, tokID.Int64
		if data != "" && data != "{}" {
			if err := json.Unmarshal([]byte(data), &e.Data); err != nil {
				return nil, fmt.Errorf("error decoding data of event %d: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, rs.Err()
}

// ServiceState loads the releases that can still matter: every release
// newer than or equal to the oldest release any environment runs (all of
// them if an environment runs nothing yet), their deployments, and every
// active deployment.
func (s queries) ServiceState(ctx context.Context, service string, envs []pipeline.EnvSpec) (pipeline.State, error) {
	st := pipeline.State{Service: service, Environments: envs}
	var floor int64 = -1
	for _, env := range envs {
		var rid int64
		err := s.q.queryRow(ctx, `SELECT release_id FROM deployments WHERE service = ? AND environment = ? AND state = 'succeeded' ORDER BY id DESC LIMIT 1`,
			service, env.Name).Scan(&rid)
		if err != nil && !isNotFound(err) {
			return st, fmt.Errorf("error reading what %s/%s runs: %w", service, env.Name, err)
		}
		if isNotFound(err) {
			rid = 0
		}
		if floor < 0 || rid < floor {
			floor = rid
		}
	}
	if floor < 0 {
		floor = 0
	}
	rs, err := s.q.query(ctx, `SELECT `+releaseCols+` FROM releases WHERE service = ? AND id >= ? ORDER BY id`, service, floor)
	if err != nil {
		return st, fmt.Errorf("error loading releases of %s: %w", service, err)
	}
	for rs.Next() {
		rel, err := scanRelease(rs)
		if err != nil {
			rs.Close()
			return st, fmt.Errorf("error reading release: %w", err)
		}
		st.Releases = append(st.Releases, rel)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return st, err
	}
	rs, err = s.q.query(ctx, `SELECT `+deploymentCols+deploymentFrom+`
		WHERE d.service = ? AND (d.release_id >= ? OR d.state IN ('pending', 'running')) ORDER BY d.id`, service, floor)
	if err != nil {
		return st, fmt.Errorf("error loading deployments of %s: %w", service, err)
	}
	for rs.Next() {
		d, err := scanDeployment(rs)
		if err != nil {
			rs.Close()
			return st, fmt.Errorf("error reading deployment: %w", err)
		}
		st.Deployments = append(st.Deployments, d)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return st, err
	}
	if st.Locks, err = s.LockList(ctx, &store.LockListParams{Service: service}); err != nil {
		return st, err
	}
	if st.Checks, err = s.CheckResultsLatest(ctx, service); err != nil {
		return st, err
	}
	if st.Approvals, err = s.ApprovalList(ctx, &store.ApprovalListParams{Service: service, MinReleaseID: floor}); err != nil {
		return st, err
	}
	if st.Canaries, err = s.CanaryList(ctx, &store.CanaryListParams{Service: service,
		States: []pipeline.CanaryState{pipeline.CanaryRunning, pipeline.CanaryPromoting}}); err != nil {
		return st, err
	}
	if bs, err := s.BisectList(ctx, &store.BisectListParams{Service: service, Running: true, Limit: 1}); err != nil {
		return st, err
	} else if len(bs) > 0 {
		st.Bisect = &bs[0]
	}
	rs, err = s.q.query(ctx, `SELECT m.release_id, m.environment, m.kind, m.created_at FROM release_marks m
		JOIN releases r ON r.id = m.release_id WHERE r.service = ? AND m.release_id >= ?`, service, floor)
	if err != nil {
		return st, fmt.Errorf("error loading marks of %s: %w", service, err)
	}
	defer rs.Close()
	for rs.Next() {
		var m pipeline.Mark
		var at int64
		if err := rs.Scan(&m.ReleaseID, &m.Environment, &m.Kind, &at); err != nil {
			return st, fmt.Errorf("error reading mark: %w", err)
		}
		m.CreatedAt = fromMicros(at)
		st.Marks = append(st.Marks, m)
	}
	if err := rs.Err(); err != nil {
		return st, err
	}
	return st, s.exposureState(ctx, &st, floor)
}

func (s queries) ServiceLock(ctx context.Context, service string, now time.Time) error {
	if _, err := s.q.exec(ctx, `INSERT INTO services (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		service, micros(now)); err != nil {
		return fmt.Errorf("error registering service %s: %w", service, err)
	}
	if s.postgres {
		var name string
		if err := s.q.queryRow(ctx, `SELECT name FROM services WHERE name = ? FOR UPDATE`, service).Scan(&name); err != nil {
			return fmt.Errorf("error locking service %s: %w", service, err)
		}
	}
	// SQLite runs one write transaction at a time: the transaction is the lock.
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

const lockCols = `id, service, selector, environment, actor, reason, created_at, expires_at`

func (s queries) LockList(ctx context.Context, p *store.LockListParams) ([]pipeline.Lock, error) {
	q := `SELECT ` + lockCols + ` FROM locks WHERE released_at IS NULL`
	var args []any
	if p.Service != "" {
		q, args = q+" AND (service IN (?, ?) OR selector <> '')", append(args, p.Service, pipeline.AllServices)
	}
	if p.Environment != "" {
		q, args = q+" AND environment = ?", append(args, p.Environment)
	}
	rs, err := s.q.query(ctx, q+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("error listing locks: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Lock
	for rs.Next() {
		l, err := scanLock(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading lock: %w", err)
		}
		out = append(out, l)
	}
	return out, rs.Err()
}

func scanLock(r row) (pipeline.Lock, error) {
	var l pipeline.Lock
	var created int64
	var expires sql.NullInt64
	if err := r.Scan(&l.ID, &l.Service, &l.Selector, &l.Environment, &l.Actor, &l.Reason, &created, &expires); err != nil {
		return l, err
	}
	l.CreatedAt = fromMicros(created)
	l.ExpiresAt = fromNullMicros(expires)
	return l, nil
}

func (s queries) LockInsert(ctx context.Context, p *store.LockInsertParams) (pipeline.Lock, error) {
	l, err := scanLock(s.q.queryRow(ctx, `
		INSERT INTO locks (service, selector, environment, actor, reason, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		RETURNING `+lockCols,
		p.Service, p.Selector, p.Environment, p.Actor, p.Reason, micros(p.CreatedAt), nullMicros(p.ExpiresAt)))
	if err != nil {
		scope := p.Service
		if p.Selector != "" {
			scope = p.Selector
		}
		return l, fmt.Errorf("error locking %s/%s: %w", scope, p.Environment, err)
	}
	return l, nil
}

func (s queries) LockRelease(ctx context.Context, p *store.LockReleaseParams) error {
	n, err := s.q.exec(ctx, `UPDATE locks SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ? AND released_at IS NULL`,
		micros(p.At), p.By, p.Reason, p.ID)
	if err != nil {
		return fmt.Errorf("error releasing lock %d: %w", p.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("error releasing lock %d: %w", p.ID, store.ErrNotFound)
	}
	return nil
}

func (s queries) CheckResultInsert(ctx context.Context, service string, r *pipeline.CheckResult) error {
	var rel sql.NullInt64
	if r.ReleaseID != 0 {
		rel = sql.NullInt64{Int64: r.ReleaseID, Valid: true}
	}
	var value sql.NullFloat64
	if r.Value != nil {
		value = sql.NullFloat64{Float64: *r.Value, Valid: true}
	}
	if _, err := s.q.exec(ctx, `INSERT INTO check_results (service, environment, check_name, release_id, outcome, value, reason, at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, service, r.Environment, r.Name, rel, r.Outcome, value, r.Reason, micros(r.At)); err != nil {
		return fmt.Errorf("error recording check %s of %s/%s: %w", r.Name, service, r.Environment, err)
	}
	return nil
}

func (s queries) CheckResultsLatest(ctx context.Context, service string) ([]pipeline.CheckResult, error) {
	rs, err := s.q.query(ctx, `SELECT environment, check_name, release_id, outcome, value, reason, at FROM check_results
		WHERE id IN (SELECT MAX(id) FROM check_results WHERE service = ? GROUP BY environment, check_name) ORDER BY id`, service)
	if err != nil {
		return nil, fmt.Errorf("error reading check results of %s: %w", service, err)
	}
	defer rs.Close()
	var out []pipeline.CheckResult
	for rs.Next() {
		var r pipeline.CheckResult
		var rel sql.NullInt64
		var value sql.NullFloat64
		var at int64
		if err := rs.Scan(&r.Environment, &r.Name, &rel, &r.Outcome, &value, &r.Reason, &at); err != nil {
			return nil, fmt.Errorf("error reading check result: %w", err)
		}
		r.ReleaseID, r.At = rel.Int64, fromMicros(at)
		if value.Valid {
			v := value.Float64
			r.Value = &v
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

func (s queries) ReleaseReject(ctx context.Context, id int64) error {
	n, err := s.q.exec(ctx, `UPDATE releases SET rejected = 1 WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("error rejecting release %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("error rejecting release %d: %w", id, store.ErrNotFound)
	}
	return nil
}

const tokenCols = `id, name, role, emergency, created_at, expires_at, last_used_at, revoked_at`

func scanToken(r row) (store.Token, error) {
	var t store.Token
	var at, emergency int64
	var expires, used, revoked sql.NullInt64
	if err := r.Scan(&t.ID, &t.Name, &t.Role, &emergency, &at, &expires, &used, &revoked); err != nil {
		return store.Token{}, err
	}
	t.CreatedAt = fromMicros(at)
	t.Emergency = emergency != 0
	t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromNullMicros(expires), fromNullMicros(used), fromNullMicros(revoked)
	return t, nil
}

func (s queries) TokenGetByHash(ctx context.Context, hash string) (store.Token, error) {
	t, err := scanToken(s.q.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE hash = ?`, hash))
	if err != nil {
		return t, fmt.Errorf("error looking up token: %w", err)
	}
	return t, nil
}

func (s queries) TokenGetByID(ctx context.Context, id int64) (store.Token, error) {
	t, err := scanToken(s.q.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE id = ?`, id))
	if err != nil {
		return t, fmt.Errorf("error looking up token %d: %w", id, err)
	}
	return t, nil
}

func (s queries) TokenGetByName(ctx context.Context, name string) (store.Token, error) {
	t, err := scanToken(s.q.queryRow(ctx, `SELECT `+tokenCols+` FROM tokens WHERE name = ?`, name))
	if err != nil {
		return t, fmt.Errorf("error looking up token %s: %w", name, err)
	}
	return t, nil
}

func (s queries) TokenList(ctx context.Context) ([]store.Token, error) {
	rs, err := s.q.query(ctx, `SELECT `+tokenCols+` FROM tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("error listing tokens: %w", err)
	}
	defer rs.Close()
	var out []store.Token
	for rs.Next() {
		t, err := scanToken(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading token: %w", err)
		}
		out = append(out, t)
	}
	return out, rs.Err()
}

func (s queries) TokenCount(ctx context.Context) (int, error) {
	var n int
	if err := s.q.queryRow(ctx, `SELECT COUNT(*) FROM tokens`).Scan(&n); err != nil {
		return 0, fmt.Errorf("error counting tokens: %w", err)
	}
	return n, nil
}

func (s queries) TokenInsert(ctx context.Context, p *store.TokenInsertParams) (store.Token, error) {
	t, err := scanToken(s.q.queryRow(ctx, `INSERT INTO tokens (name, role, emergency, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
		RETURNING `+tokenCols,
		p.Name, p.Role, boolInt(p.Emergency), p.Hash, micros(p.CreatedAt), nullMicros(p.ExpiresAt)))
	if err != nil {
		return t, fmt.Errorf("error creating token %s: %w", p.Name, err)
	}
	return t, nil
}

func (s queries) TokenRevoke(ctx context.Context, p *store.TokenRevokeParams) (store.Token, error) {
	t, err := scanToken(s.q.queryRow(ctx, `UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING `+tokenCols,
		micros(p.At), p.ID))
	if err != nil {
		return t, fmt.Errorf("error revoking token %d: %w", p.ID, err)
	}
	return t, nil
}

func (s queries) TokenTouch(ctx context.Context, p *store.TokenTouchParams) (bool, error) {
	n, err := s.q.exec(ctx, `UPDATE tokens SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`,
		micros(p.At), p.ID, micros(p.NotSince))
	if err != nil {
		return false, fmt.Errorf("error recording use of token %d: %w", p.ID, err)
	}
	return n > 0, nil
}

const sessionCols = `hash, token_id, created_at, expires_at, last_used_at, user_agent`

func scanSession(r row) (store.Session, error) {
	var ss store.Session
	var created, expires, used int64
	if err := r.Scan(&ss.Hash, &ss.TokenID, &created, &expires, &used, &ss.UserAgent); err != nil {
		return store.Session{}, err
	}
	ss.CreatedAt, ss.ExpiresAt, ss.LastUsedAt = fromMicros(created), fromMicros(expires), fromMicros(used)
	return ss, nil
}

func (s queries) SessionGetByHash(ctx context.Context, hash string) (store.Session, error) {
	ss, err := scanSession(s.q.queryRow(ctx, `SELECT `+sessionCols+` FROM sessions WHERE hash = ?`, hash))
	if err != nil {
		return ss, fmt.Errorf("error looking up session: %w", err)
	}
	return ss, nil
}

func (s queries) SessionInsert(ctx context.Context, p *store.SessionInsertParams) (store.Session, error) {
	ss, err := scanSession(s.q.queryRow(ctx, `INSERT INTO sessions (hash, token_id, created_at, expires_at, last_used_at, user_agent)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING `+sessionCols,
		p.Hash, p.TokenID, micros(p.CreatedAt), micros(p.ExpiresAt), micros(p.CreatedAt), p.UserAgent))
	if err != nil {
		return ss, fmt.Errorf("error creating session of token %d: %w", p.TokenID, err)
	}
	return ss, nil
}

func (s queries) SessionTouch(ctx context.Context, p *store.SessionTouchParams) (bool, error) {
	n, err := s.q.exec(ctx, `UPDATE sessions SET last_used_at = ? WHERE hash = ? AND last_used_at < ?`,
		micros(p.At), p.Hash, micros(p.NotSince))
	if err != nil {
		return false, fmt.Errorf("error recording use of a session: %w", err)
	}
	return n > 0, nil
}

func (s queries) SessionDelete(ctx context.Context, hash string) error {
	n, err := s.q.exec(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
	if err != nil {
		return fmt.Errorf("error ending a session: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("error ending a session: %w", store.ErrNotFound)
	}
	return nil
}

func (s queries) SessionDeleteByToken(ctx context.Context, tokenID int64) (int, error) {
	n, err := s.q.exec(ctx, `DELETE FROM sessions WHERE token_id = ?`, tokenID)
	if err != nil {
		return 0, fmt.Errorf("error ending the sessions of token %d: %w", tokenID, err)
	}
	return int(n), nil
}

func (s queries) SessionDeleteExpired(ctx context.Context, now time.Time) (int, error) {
	n, err := s.q.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("error removing expired sessions: %w", err)
	}
	return int(n), nil
}

func (s queries) leaderAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	n, err := s.q.exec(ctx, `
		INSERT INTO leader (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leader.holder = excluded.holder OR leader.expires_at < ?`,
		name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, fmt.Errorf("error electing leader: %w", err)
	}
	return n > 0, nil
}

func (s queries) leaderResign(ctx context.Context, name, holder string) error {
	if _, err := s.q.exec(ctx, `DELETE FROM leader WHERE name = ? AND holder = ?`, name, holder); err != nil {
		return fmt.Errorf("error resigning leadership: %w", err)
	}
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, store.ErrNotFound) }

const canaryCols = `id, deployment_id, service, environment, release_id, version, state, step, weight, applied_weight,
	started_at, step_started_at, finished_at, reason, cleaned_at`

func scanCanary(r row) (pipeline.Canary, error) {
	var c pipeline.Canary
	var state string
	var started, stepStarted int64
	var finished, cleaned sql.NullInt64
	if err := r.Scan(&c.ID, &c.DeploymentID, &c.Service, &c.Environment, &c.ReleaseID, &c.Version, &state, &c.Step,
		&c.Weight, &c.AppliedWeight, &started, &stepStarted, &finished, &c.Reason, &cleaned); err != nil {
		return c, err
	}
	c.State = pipeline.CanaryState(state)
	c.StartedAt, c.StepStartedAt, c.FinishedAt = fromMicros(started), fromMicros(stepStarted), fromNullMicros(finished)
	c.CleanedAt = fromNullMicros(cleaned)
	return c, nil
}

func (s queries) CanaryInsert(ctx context.Context, c *pipeline.Canary) (pipeline.Canary, error) {
	out, err := scanCanary(s.q.queryRow(ctx, `
		INSERT INTO canaries (deployment_id, service, environment, release_id, version, state, step, weight, applied_weight,
			started_at, step_started_at, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, -1, ?, ?, ?) RETURNING `+canaryCols,
		c.DeploymentID, c.Service, c.Environment, c.ReleaseID, c.Version, string(c.State), c.Step, c.Weight,
		micros(c.StartedAt), micros(c.StepStartedAt), c.Reason))
	if err != nil {
		return out, fmt.Errorf("error recording the canary of deployment %d: %w", c.DeploymentID, err)
	}
	return out, nil
}

func (s queries) CanaryGet(ctx context.Context, id int64) (pipeline.Canary, error) {
	c, err := scanCanary(s.q.queryRow(ctx, `SELECT `+canaryCols+` FROM canaries WHERE id = ?`, id))
	if err != nil {
		return c, fmt.Errorf("error reading canary %d: %w", id, err)
	}
	return c, nil
}

func (s queries) CanaryGetByDeployment(ctx context.Context, deploymentID int64) (pipeline.Canary, error) {
	c, err := scanCanary(s.q.queryRow(ctx, `SELECT `+canaryCols+` FROM canaries WHERE deployment_id = ?`, deploymentID))
	if err != nil {
		return c, fmt.Errorf("error reading the canary of deployment %d: %w", deploymentID, err)
	}
	return c, nil
}

func (s queries) CanaryList(ctx context.Context, p *store.CanaryListParams) ([]pipeline.Canary, error) {
	q := `SELECT ` + canaryCols + ` FROM canaries WHERE 1 = 1`
	var args []any
	if p.Service != "" {
		q, args = q+" AND service = ?", append(args, p.Service)
	}
	if p.Environment != "" {
		q, args = q+" AND environment = ?", append(args, p.Environment)
	}
	if len(p.States) > 0 {
		in, vals := inList(p.States)
		q, args = q+" AND state IN "+in, append(args, vals...)
	}
	q, args = q+" ORDER BY id DESC LIMIT ?", append(args, limitOr(p.Limit, 100))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing canaries: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Canary
	for rs.Next() {
		c, err := scanCanary(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading canary: %w", err)
		}
		out = append(out, c)
	}
	return out, rs.Err()
}

func (s queries) CanaryUpdate(ctx context.Context, p *store.CanaryUpdateParams) (pipeline.Canary, error) {
	set := []string{"state = ?"}
	args := []any{string(p.State)}
	if p.SetStep {
		set, args = append(set, "step = ?"), append(args, p.Step)
	}
	if p.SetWeight {
		set, args = append(set, "weight = ?"), append(args, p.Weight)
	}
	if !p.StepStartedAt.IsZero() {
		set, args = append(set, "step_started_at = ?"), append(args, micros(p.StepStartedAt))
	}
	if !p.FinishedAt.IsZero() {
		set, args = append(set, "finished_at = ?"), append(args, micros(p.FinishedAt))
	}
	if p.Reason != nil {
		set, args = append(set, "reason = ?"), append(args, *p.Reason)
	}
	q := "UPDATE canaries SET " + strings.Join(set, ", ") + " WHERE id = ?"
	args = append(args, p.ID)
	if len(p.FromStates) > 0 {
		in, vals := inList(p.FromStates)
		q, args = q+" AND state IN "+in, append(args, vals...)
	}
	n, err := s.q.exec(ctx, q, args...)
	if err != nil {
		return pipeline.Canary{}, fmt.Errorf("error updating canary %d: %w", p.ID, err)
	}
	if n == 0 {
		return pipeline.Canary{}, fmt.Errorf("error updating canary %d: not in states %v: %w", p.ID, p.FromStates, store.ErrNotFound)
	}
	return s.CanaryGet(ctx, p.ID)
}

func (s queries) CanaryCleaned(ctx context.Context, id int64, at time.Time) error {
	n, err := s.q.exec(ctx, `UPDATE canaries SET cleaned_at = ? WHERE id = ? AND cleaned_at IS NULL`, micros(at), id)
	if err != nil {
		return fmt.Errorf("error recording the cleanup of canary %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("error recording the cleanup of canary %d: not found or cleaned up already: %w", id, store.ErrNotFound)
	}
	return nil
}

func (s queries) CanaryWeightApplied(ctx context.Context, id int64, weight int) error {
	n, err := s.q.exec(ctx, `UPDATE canaries SET applied_weight = ? WHERE id = ?`, weight, id)
	if err != nil {
		return fmt.Errorf("error recording the weight of canary %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("error recording the weight of canary %d: %w", id, store.ErrNotFound)
	}
	return nil
}

const judgementCols = `id, canary_id, service, environment, version, step, weight, at, from_at, to_at, verdict, score, reason, detail`

func scanJudgement(r row) (pipeline.Judgement, error) {
	var j pipeline.Judgement
	var verdict string
	var at, from, to int64
	if err := r.Scan(&j.ID, &j.CanaryID, &j.Service, &j.Environment, &j.Version, &j.Step, &j.Weight, &at, &from, &to,
		&verdict, &j.Score, &j.Reason, &j.Detail); err != nil {
		return j, err
	}
	j.Verdict = pipeline.Verdict(verdict)
	j.At, j.From, j.To = fromMicros(at), fromMicros(from), fromMicros(to)
	return j, nil
}

func (s queries) JudgementInsert(ctx context.Context, j *pipeline.Judgement) (pipeline.Judgement, error) {
	out, err := scanJudgement(s.q.queryRow(ctx, `
		INSERT INTO judgements (canary_id, service, environment, version, step, weight, at, from_at, to_at, verdict, score, reason, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+judgementCols,
		j.CanaryID, j.Service, j.Environment, j.Version, j.Step, j.Weight, micros(j.At), micros(j.From), micros(j.To),
		string(j.Verdict), j.Score, j.Reason, j.Detail))
	if err != nil {
		return out, fmt.Errorf("error recording a judgement of canary %d: %w", j.CanaryID, err)
	}
	return out, nil
}

func (s queries) JudgementList(ctx context.Context, p *store.JudgementListParams) ([]pipeline.Judgement, error) {
	q := `SELECT ` + judgementCols + ` FROM judgements WHERE 1 = 1`
	var args []any
	if p.CanaryID != 0 {
		q, args = q+" AND canary_id = ?", append(args, p.CanaryID)
	}
	if p.Service != "" {
		q, args = q+" AND service = ?", append(args, p.Service)
	}
	if p.Environment != "" {
		q, args = q+" AND environment = ?", append(args, p.Environment)
	}
	q, args = q+" ORDER BY id DESC LIMIT ?", append(args, limitOr(p.Limit, 100))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing judgements: %w", err)
	}
	defer rs.Close()
	var out []pipeline.Judgement
	for rs.Next() {
		j, err := scanJudgement(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading judgement: %w", err)
		}
		out = append(out, j)
	}
	return out, rs.Err()
}
