package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Group commit on SQLite.
//
// SQLite has one writer, and with synchronous(FULL) every commit waits for
// an fsync of the write-ahead log: under a burst (releases from many
// clients, deploy workers starting and finishing, deadline timers firing
// together) the commits, not the work inside them, are what queue up. The
// transactions wait for the one writer connection anyway, so the store
// runs the units of work that are waiting together in one SQLite
// transaction, each inside its own savepoint, and commits them with one
// fsync.
//
// The contract of InTx is unchanged for each caller:
//   - fn's writes are committed (durably, synchronous(FULL)) before InTx
//     returns nil; InTx never returns before the commit that holds them;
//   - fn's error rolls back fn's writes only (its savepoint), and InTx
//     returns that error; the other units in the group are not affected;
//   - units run one after another, each seeing the ones before it, as if
//     each had been its own transaction taken in that order.
//
// If SQLite abandons the whole transaction (it does for an interrupted
// statement, a full disk or an I/O error), the units that ran before in it
// get an error and the ones not yet run go on in a new transaction. If the
// commit fails, every unit in the group gets the error: none was reported
// committed.

// maxGroup bounds how many units share one commit, so that a unit's wait
// for its commit stays bounded under any burst.
const maxGroup = 64

// txReq is one caller's unit of work waiting for the writer.
type txReq struct {
	ctx      context.Context
	fn       func(context.Context, store.Tx) error
	err      error
	panicked any
	woken    []string
	wakeAll  bool
	later    []laterJob
	done     chan struct{}
}

// groupCounts count commits and the units of work they held (a test
// reads them through groupStats).
type groupCounts struct{ commits, units atomic.Int64 }

func (s *sqliteStore) groupStats() (commits, units int64) {
	return s.groups.commits.Load(), s.groups.units.Load()
}

// errStoreClosed is InTx's answer once Close began.
var errStoreClosed = errors.New("error starting transaction: the store is closed")

// committer runs the waiting units, a group at a time, on the writer.
func (s *sqliteStore) committer() {
	defer close(s.committerDone)
	for {
		var first *txReq
		select {
		case first = <-s.reqs:
		case <-s.quit:
			return
		}
		group := []*txReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r := <-s.reqs:
				group = append(group, r)
			default:
				break more
			}
		}
		s.runGroup(group)
	}
}

// runGroup runs group in one transaction and commits it.
func (s *sqliteStore) runGroup(group []*txReq) {
	for len(group) > 0 {
		group = s.runGroupOnce(group)
	}
}

// runGroupOnce runs group in one transaction; it returns the units not run
// because SQLite abandoned the transaction before their turn.
func (s *sqliteStore) runGroupOnce(group []*txReq) (rest []*txReq) {
	finish := func(rs []*txReq, err error) {
		for _, r := range rs {
			if err != nil && r.err == nil && r.panicked == nil {
				r.err = err
			}
			close(r.done)
		}
	}
	// The transaction is no caller's: one caller's context ending must
	// not roll back the others' work (database/sql rolls back a
	// transaction whose context ends). Each unit's statements run with its
	// own context.
	tx, err := s.write.BeginTx(context.Background(), nil)
	if err != nil {
		finish(group, fmt.Errorf("error starting transaction: %w", err))
		return nil
	}
	single := len(group) == 1
	var ran, failed []*txReq
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			r.err = fmt.Errorf("error starting transaction: %w", err)
			failed = append(failed, r)
			continue
		}
		if !single {
			if _, err := tx.Exec(`SAVEPOINT bakery_unit`); err != nil {
				_ = tx.Rollback()
				finish(ran, fmt.Errorf("error committing transaction: %w", err))
				finish(failed, nil)
				return group[i:]
			}
		}
		t := &sqliteTx{queries: queries{q: sqlQuerier{tx}}, tx: tx, river: s.river}
		r.err, r.panicked = runUnit(r.ctx, r.fn, t)
		if r.err == nil && r.panicked == nil {
			if !single {
				if _, err := tx.Exec(`RELEASE bakery_unit`); err != nil {
					_ = tx.Rollback()
					finish(ran, fmt.Errorf("error committing transaction: %w", mapErr(err)))
					finish(failed, nil)
					r.err = fmt.Errorf("error committing transaction: %w", mapErr(err))
					close(r.done)
					return group[i+1:]
				}
			}
			r.woken, r.wakeAll, r.later = t.woken, t.wakeAll, t.later
			ran = append(ran, r)
			continue
		}
		failed = append(failed, r)
		if single {
			_ = tx.Rollback()
			finish(failed, nil)
			return nil
		}
		// Undo this unit only. If SQLite already abandoned the whole
		// transaction, the savepoint is gone with it.
		_, rbErr := tx.Exec(`ROLLBACK TO bakery_unit`)
		if rbErr == nil {
			_, rbErr = tx.Exec(`RELEASE bakery_unit`)
		}
		if rbErr != nil {
			_ = tx.Rollback()
			finish(ran, fmt.Errorf("error committing transaction: it was rolled back with another unit of work in the same commit (%v)", r.err))
			finish(failed, nil)
			return group[i+1:]
		}
	}
	if len(ran) == 0 {
		_ = tx.Rollback()
		finish(failed, nil)
		return nil
	}
	if err := tx.Commit(); err != nil {
		finish(ran, fmt.Errorf("error committing transaction: %w", mapErr(err)))
		finish(failed, nil)
		return nil
	}
	// Wake the producers of the queues the committed units enqueued in,
	// once: a fetch now sees every job of the group.
	var queues []string
	all := false
	for _, r := range ran {
		all = all || r.wakeAll
		for _, q := range r.woken {
			if !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
		}
	}
	s.groups.commits.Add(1)
	s.groups.units.Add(int64(len(ran)))
	// Before the callers go on, as when each woke after its own commit: a
	// caller may start River next, which must not race with a wake-up.
	if all {
		s.pilot.wake(s.queues)
	} else {
		s.pilot.wake(queues)
	}
	for _, r := range ran {
		for _, l := range r.later {
			s.pilot.wakeAt(l.queue, l.at)
		}
	}
	finish(ran, nil)
	finish(failed, nil)
	return nil
}

// runUnit runs fn, turning a panic into a value the caller re-raises on its
// own goroutine.
func runUnit(ctx context.Context, fn func(context.Context, store.Tx) error, t *sqliteTx) (err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return fn(ctx, t), nil
}
