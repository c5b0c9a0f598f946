package sqlstore

import (
	"context"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/store"
)

const defaultPruneLimit = 500

// eventPrune deletes the longest prefix of the log (by id, at most limit
// events) whose events are all older than before. The delete trigger
// allows it only up to the horizon this transaction raises and lowers
// again (migration 013).
func (s queries) eventPrune(ctx context.Context, p *store.EventPruneParams) (int, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPruneLimit
	}
	rs, err := s.q.query(ctx, `SELECT id, at FROM events ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return 0, fmt.Errorf("error reading the oldest events: %w", err)
	}
	var upto int64
	before := micros(p.Before)
	for rs.Next() {
		var id, at int64
		if err := rs.Scan(&id, &at); err != nil {
			rs.Close()
			return 0, err
		}
		if at >= before {
			break
		}
		upto = id
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return 0, err
	}
	if upto == 0 {
		return 0, nil
	}
	if _, err := s.q.exec(ctx, `UPDATE retention_horizon SET upto_id = ? WHERE name = 'events'`, upto); err != nil {
		return 0, fmt.Errorf("error raising the retention horizon: %w", err)
	}
	n, err := s.q.exec(ctx, `DELETE FROM events WHERE id <= ?`, upto)
	if err != nil {
		return 0, fmt.Errorf("error deleting events up to %d: %w", upto, err)
	}
	if _, err := s.q.exec(ctx, `UPDATE retention_horizon SET upto_id = 0 WHERE name = 'events'`); err != nil {
		return 0, fmt.Errorf("error lowering the retention horizon: %w", err)
	}
	return int(n), nil
}

// deploymentOutputPrune clears the output of old finished deployments,
// except each environment's newest succeeded one (what it runs now).
func (s queries) deploymentOutputPrune(ctx context.Context, p *store.DeploymentOutputPruneParams) (int, error) {
	limit := p.Limit
	if limit <= 0 {
		limit = defaultPruneLimit
	}
	n, err := s.q.exec(ctx, `UPDATE deployments SET output = '' WHERE id IN (
		SELECT d.id FROM deployments d
		WHERE d.output <> '' AND d.finished_at IS NOT NULL AND d.finished_at < ?
		  AND d.state IN ('succeeded', 'failed', 'cancelled')
		  AND (d.state <> 'succeeded' OR EXISTS (SELECT 1 FROM deployments n
		       WHERE n.service = d.service AND n.environment = d.environment AND n.state = 'succeeded' AND n.id > d.id))
		ORDER BY d.finished_at LIMIT ?)`, micros(p.FinishedBefore), limit)
	if err != nil {
		return 0, fmt.Errorf("error clearing old deployment output: %w", err)
	}
	return int(n), nil
}

func (s *sqliteStore) EventPrune(ctx context.Context, p *store.EventPruneParams) (n int, err error) {
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		n, err = tx.(*sqliteTx).eventPrune(ctx, p)
		return err
	})
	return n, err
}

func (s *sqliteStore) DeploymentOutputPrune(ctx context.Context, p *store.DeploymentOutputPruneParams) (n int, err error) {
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		n, err = tx.(*sqliteTx).deploymentOutputPrune(ctx, p)
		return err
	})
	return n, err
}

func (s *pgStore) EventPrune(ctx context.Context, p *store.EventPruneParams) (n int, err error) {
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		n, err = tx.(*pgTx).eventPrune(ctx, p)
		return err
	})
	return n, err
}

func (s *pgStore) DeploymentOutputPrune(ctx context.Context, p *store.DeploymentOutputPruneParams) (n int, err error) {
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		n, err = tx.(*pgTx).deploymentOutputPrune(ctx, p)
		return err
	})
	return n, err
}

var (
	_ store.Pruner   = (*sqliteStore)(nil)
	_ store.Pruner   = (*pgStore)(nil)
	_ store.Backuper = (*sqliteStore)(nil)
	_ store.Backuper = (*pgStore)(nil)
)
