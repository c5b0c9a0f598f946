package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/bakery-deploy/bakery/internal/store"
)

// jobArgs carries a store.Job's kind and already-encoded arguments to River,
// which wants a JobArgs value: the engine's job types stay out of this
// package and River's types out of the store's interface.
type jobArgs struct {
	kind string
	args json.RawMessage
}

func (a jobArgs) Kind() string { return a.kind }

func (a jobArgs) MarshalJSON() ([]byte, error) { return a.args, nil }

// insertParams maps bakery's jobs onto River's insert parameters.
func insertParams(jobs []store.Job) ([]river.InsertManyParams, error) {
	params := make([]river.InsertManyParams, 0, len(jobs))
	for _, j := range jobs {
		if j.Kind == "" {
			return nil, fmt.Errorf("error enqueueing a job: it has no kind")
		}
		args, err := json.Marshal(j.Args)
		if err != nil {
			return nil, fmt.Errorf("error encoding the arguments of a %s job: %w", j.Kind, err)
		}
		opts := &river.InsertOpts{Queue: j.Queue, MaxAttempts: j.MaxAttempts, ScheduledAt: j.ScheduledAt}
		if j.UniqueByArgs {
			opts.UniqueOpts = river.UniqueOpts{ByArgs: true}
		}
		if j.UniqueWhileWaiting {
			opts.UniqueOpts = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
				rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateScheduled, rivertype.JobStateRetryable}}
		}
		params = append(params, river.InsertManyParams{Args: jobArgs{kind: j.Kind, args: args}, InsertOpts: opts})
	}
	return params, nil
}

// jobList reads River's job table. River keeps its arguments and holders as
// JSON(B) on SQLite and as jsonb and text[] on PostgreSQL; both come out as
// the JSON text and the last holder.
func (s queries) jobList(ctx context.Context, p *store.JobListParams) ([]store.JobRow, error) {
	q := `SELECT id, kind, json(args), state, COALESCE(json_extract(attempted_by, '$[#-1]'), '') FROM river_job WHERE 1 = 1`
	if s.postgres {
		q = `SELECT id, kind, args::text, state::text, COALESCE(attempted_by[array_upper(attempted_by, 1)], '') FROM river_job WHERE 1 = 1`
	}
	var args []any
	if len(p.Kinds) > 0 {
		in, a := inList(p.Kinds)
		q += ` AND kind IN ` + in
		args = append(args, a...)
	}
	if len(p.States) > 0 {
		in, a := inList(p.States)
		if s.postgres {
			q += ` AND state::text IN ` + in
		} else {
			q += ` AND state IN ` + in
		}
		args = append(args, a...)
	}
	q += ` ORDER BY id LIMIT ?`
	args = append(args, limitOr(p.Limit, 1000))
	r, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing jobs: %w", err)
	}
	defer r.Close()
	var out []store.JobRow
	for r.Next() {
		var j store.JobRow
		var body string
		if err := r.Scan(&j.ID, &j.Kind, &body, &j.State, &j.Holder); err != nil {
			return nil, fmt.Errorf("error reading a job: %w", err)
		}
		j.Args = []byte(body)
		out = append(out, j)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("error listing jobs: %w", err)
	}
	return out, nil
}

// JobList lists durable jobs.
func (s queries) JobList(ctx context.Context, p *store.JobListParams) ([]store.JobRow, error) {
	return s.jobList(ctx, p)
}

// jobRescue makes running jobs available again. River's own rescuer does
// the same to a job it considers stuck (River's JobRescueMany); bakery
// decides when from its replicas' heartbeats instead (see
// engine/recovery.go). The job keeps its scheduled time, which is past, so
// the next fetch takes it.
func (s queries) jobRescue(ctx context.Context, ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	ph := make([]string, len(ids))
	args := make([]any, len(ids))
	for i, id := range ids {
		ph[i], args[i] = "?", id
	}
	q := `UPDATE river_job SET state = 'available' WHERE state = 'running' AND id IN (` + strings.Join(ph, ", ") + `)`
	n, err := s.q.exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("error rescuing jobs: %w", err)
	}
	return int(n), nil
}

// ReplicaList lists the replicas that have beaten.
func (s queries) ReplicaList(ctx context.Context) ([]store.Replica, error) {
	r, err := s.q.query(ctx, `SELECT id, heartbeat FROM replicas ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("error listing replicas: %w", err)
	}
	defer r.Close()
	var out []store.Replica
	for r.Next() {
		var rep store.Replica
		var at int64
		if err := r.Scan(&rep.ID, &at); err != nil {
			return nil, fmt.Errorf("error reading a replica: %w", err)
		}
		rep.Heartbeat = fromMicros(at)
		out = append(out, rep)
	}
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("error listing replicas: %w", err)
	}
	return out, nil
}

// replicaForget is how long a silent replica's row is kept: long after
// anything it held was rescued.
const replicaForget = 24 * time.Hour

func (s queries) replicaBeat(ctx context.Context, id string, now time.Time) error {
	if _, err := s.q.exec(ctx, `INSERT INTO replicas (id, heartbeat) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat`, id, micros(now)); err != nil {
		return fmt.Errorf("error recording replica heartbeat: %w", err)
	}
	if _, err := s.q.exec(ctx, `DELETE FROM replicas WHERE heartbeat < ?`, micros(now.Add(-replicaForget))); err != nil {
		return fmt.Errorf("error forgetting silent replicas: %w", err)
	}
	return nil
}

// --- per database ---

// jobInsert enqueues jobs through River in the transaction tx, whichever
// database's it is, and returns the queues that got a job to run now and
// the jobs scheduled for later (for waking this process's producers once
// tx has committed: sqlstore/wake.go).
func jobInsert[TTx any](ctx context.Context, c *river.Client[TTx], tx TTx, jobs []store.Job) ([]string, []laterJob, error) {
	if len(jobs) == 0 {
		return nil, nil, nil
	}
	params, err := insertParams(jobs)
	if err != nil {
		return nil, nil, err
	}
	res, err := c.InsertManyTx(ctx, tx, params)
	if err != nil {
		return nil, nil, fmt.Errorf("error enqueueing jobs: %w", err)
	}
	// Only queues with a job to run now are woken now: a job scheduled for
	// later (a bake deadline's durable reconcile) is moved to its queue by
	// River's scheduler, up to 5 s before its time, and a fetch finds it
	// once its time has come; its producers are woken then.
	queues := make([]string, 0, 1)
	var later []laterJob
	for _, r := range res {
		switch {
		case r.Job == nil || r.UniqueSkippedAsDuplicate:
		case r.Job.State == rivertype.JobStateAvailable:
			if !slices.Contains(queues, r.Job.Queue) {
				queues = append(queues, r.Job.Queue)
			}
		case r.Job.State == rivertype.JobStateScheduled:
			later = append(later, laterJob{r.Job.Queue, r.Job.ScheduledAt})
		}
	}
	return queues, later, nil
}

func (s *sqliteStore) WorkerID() string { return s.river.ID() }

func (s *sqliteStore) ReplicaBeat(ctx context.Context, id string, now time.Time) error {
	return queries{q: sqlQuerier{s.write}}.replicaBeat(ctx, id, now)
}

func (t *sqliteTx) JobInsert(ctx context.Context, jobs ...store.Job) error {
	queues, later, err := jobInsert(ctx, t.river, t.tx, jobs)
	t.later = append(t.later, later...)
	for _, q := range queues {
		if !slices.Contains(t.woken, q) {
			t.woken = append(t.woken, q)
		}
	}
	return err
}

func (t *sqliteTx) JobRescue(ctx context.Context, ids ...int64) (int, error) {
	n, err := t.jobRescue(ctx, ids)
	if n > 0 {
		t.wakeAll = true
	}
	return n, err
}

func (s *pgStore) WorkerID() string { return s.river.ID() }

func (s *pgStore) ReplicaBeat(ctx context.Context, id string, now time.Time) error {
	return s.queries.replicaBeat(ctx, id, now)
}

func (t *pgTx) JobInsert(ctx context.Context, jobs ...store.Job) error {
	_, _, err := jobInsert(ctx, t.river, t.tx, jobs)
	return err
}

func (t *pgTx) JobRescue(ctx context.Context, ids ...int64) (int, error) {
	return t.jobRescue(ctx, ids)
}
