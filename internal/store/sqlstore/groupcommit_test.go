package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

func openGroupStore(t *testing.T) *sqliteStore {
	t.Helper()
	st, err := Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), Options{})
	require.NoError(t, err)
	s := st.(*sqliteStore)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		return tx.(*sqliteTx).RawExec(ctx, `CREATE TABLE unit_rows (n INTEGER NOT NULL)`)
	}))
	return s
}

func unitRows(t *testing.T, s *sqliteStore) map[int]int {
	t.Helper()
	rows, err := s.write.Query(`SELECT n FROM unit_rows`)
	require.NoError(t, err)
	defer rows.Close()
	got := map[int]int{}
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		got[n]++
	}
	require.NoError(t, rows.Err())
	return got
}

// TestSQLiteGroupCommitKeepsEachUnitsOutcome: units of work that wait for
// the writer together share a commit, and each still gets its own outcome:
// a unit that fails (after writing) leaves nothing, a unit that panics
// panics in its caller and leaves nothing, a unit whose context ended
// before its turn never runs, and every other unit's writes are committed
// when its InTx returns nil.
func TestSQLiteGroupCommitKeepsEachUnitsOutcome(t *testing.T) {
	t.Parallel()
	s := openGroupStore(t)
	ctx := context.Background()

	// The first unit holds the writer until the others are queued behind
	// it, so that they form groups.
	hold := make(chan struct{})
	held := make(chan struct{})
	go func() {
		_ = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			close(held)
			<-hold
			return tx.(*sqliteTx).RawExec(ctx, `INSERT INTO unit_rows (n) VALUES (-1)`)
		})
	}()
	<-held

	const units = 200
	errBoom := errors.New("boom")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	results := make([]error, units)
	panics := make([]any, units)
	var wg sync.WaitGroup
	for i := range units {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { panics[i] = recover() }()
			uctx := ctx
			if i%10 == 7 {
				uctx = cancelled
			}
			results[i] = s.InTx(uctx, func(ctx context.Context, tx store.Tx) error {
				if err := tx.(*sqliteTx).RawExec(ctx, fmt.Sprintf(`INSERT INTO unit_rows (n) VALUES (%d)`, i)); err != nil {
					return err
				}
				switch i % 10 {
				case 3:
					return errBoom
				case 5:
					panic(fmt.Sprintf("unit %d", i))
				}
				return nil
			})
		}()
	}
	close(hold)
	wg.Wait()

	got := unitRows(t, s)
	require.Equal(t, 1, got[-1], "the holding unit committed")
	for i := range units {
		switch i % 10 {
		case 3:
			require.ErrorIs(t, results[i], errBoom, "unit %d", i)
			require.Zero(t, got[i], "a failed unit's writes are rolled back (unit %d)", i)
		case 5:
			require.Equal(t, fmt.Sprintf("unit %d", i), panics[i], "a unit's panic reaches its caller")
			require.Zero(t, got[i], "a panicking unit's writes are rolled back (unit %d)", i)
		case 7:
			require.ErrorIs(t, results[i], context.Canceled, "unit %d", i)
			require.Zero(t, got[i], "a cancelled unit never runs (unit %d)", i)
		default:
			require.NoError(t, results[i], "unit %d", i)
			require.Equal(t, 1, got[i], "a unit's writes are committed once, when InTx returns (unit %d)", i)
		}
	}
	groups, ran := s.groupStats()
	t.Logf("FIGURE %d units of work in %d commits", ran, groups)
}

// TestSQLiteGroupCommitRerunsWhatAnAbandonedTransactionHadNotRun: when
// SQLite abandons the whole transaction (here a unit ends it with a
// ROLLBACK of its own, as an interrupted statement or a full disk does),
// the units that ran before it in the same commit get an error and wrote
// nothing, and the units after it run in a new transaction.
func TestSQLiteGroupCommitRerunsWhatAnAbandonedTransactionHadNotRun(t *testing.T) {
	t.Parallel()
	s := openGroupStore(t)
	ctx := context.Background()
	group := []*txReq{}
	add := func(fn func(context.Context, store.Tx) error) *txReq {
		r := &txReq{ctx: ctx, fn: fn, done: make(chan struct{})}
		group = append(group, r)
		return r
	}
	insert := func(n int) func(context.Context, store.Tx) error {
		return func(ctx context.Context, tx store.Tx) error {
			return tx.(*sqliteTx).RawExec(ctx, fmt.Sprintf(`INSERT INTO unit_rows (n) VALUES (%d)`, n))
		}
	}
	before := add(insert(1))
	breaker := add(func(ctx context.Context, tx store.Tx) error {
		if err := tx.(*sqliteTx).RawExec(ctx, `ROLLBACK`); err != nil {
			return err
		}
		return errors.New("the transaction was abandoned")
	})
	after := add(insert(3))
	// The committer is idle between InTx calls: run the group here, as
	// it would.
	s.runGroup(group)
	for _, r := range group {
		<-r.done
	}
	require.Error(t, before.err, "a unit that ran in the abandoned transaction is not reported committed")
	require.Error(t, breaker.err)
	require.NoError(t, after.err, "a unit after the abandonment ran in a new transaction")
	got := unitRows(t, s)
	require.Zero(t, got[1])
	require.Equal(t, 1, got[3])
}

// TestSQLiteReusesPreparedStatements: a statement run again on the same
// connection is not prepared again, and the same statement can be run
// while its rows from an earlier run are still being read (it gets a
// statement of its own then).
func TestSQLiteReusesPreparedStatements(t *testing.T) {
	t.Parallel()
	s := openGroupStore(t)
	ctx := context.Background()
	for i := range 50 {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.(*sqliteTx).q.exec(ctx, `INSERT INTO unit_rows (n) VALUES (?)`, i)
			return err
		}))
	}
	prepared0, reused0 := s.stmtCounts.prepared.Load(), s.stmtCounts.reused.Load()
	for i := range 50 {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.(*sqliteTx).q.exec(ctx, `INSERT INTO unit_rows (n) VALUES (?)`, 100+i)
			return err
		}))
	}
	prepared, reused := s.stmtCounts.prepared.Load()-prepared0, s.stmtCounts.reused.Load()-reused0
	t.Logf("FIGURE 50 transactions of one insert: %d statements prepared, %d reused", prepared, reused)
	require.Zero(t, prepared, "the insert was prepared once, in the first 50")
	require.GreaterOrEqual(t, reused, int64(50))

	// The same query inside the loop over its own rows.
	const q = `SELECT n FROM unit_rows WHERE n < ? ORDER BY n`
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		qq := tx.(*sqliteTx).q
		outer, err := qq.query(ctx, q, 5)
		if err != nil {
			return err
		}
		defer outer.Close()
		var seen []int
		for outer.Next() {
			var n, inner int
			require.NoError(t, outer.Scan(&n))
			require.NoError(t, qq.queryRow(ctx, `SELECT count(*) FROM (`+q+`)`, n).Scan(&inner))
			require.Equal(t, n, inner)
			in, err := qq.query(ctx, q, 2)
			require.NoError(t, err)
			var k int
			for in.Next() {
				k++
			}
			in.Close()
			require.Equal(t, 2, k)
			seen = append(seen, n)
		}
		require.Equal(t, []int{0, 1, 2, 3, 4}, seen, "the outer rows were read to the end, undisturbed")
		return outer.Err()
	}))
}
