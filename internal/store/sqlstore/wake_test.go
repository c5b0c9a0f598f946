package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

type wakeArgs struct{}

func (wakeArgs) Kind() string { return "test_wake" }

type wakeWorker struct {
	river.WorkerDefaults[wakeArgs]
	ran chan struct{}
}

func (w *wakeWorker) Work(context.Context, *river.Job[wakeArgs]) error {
	w.ran <- struct{}{}
	return nil
}

// TestSQLiteWakesProducersAfterCommit: a transaction that enqueued a job
// wakes this process's producers of the job's queue once it has committed
// (not before, and not when it rolled back), and the job runs although the
// producers would not poll for an hour.
func TestSQLiteWakesProducersAfterCommit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	workers := river.NewWorkers()
	worker := &wakeWorker{ran: make(chan struct{}, 1)}
	river.AddWorker(workers, worker)
	// With an hour's poll, only the wake-up can bring the job to its worker.
	st, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), Options{Workers: workers, fetchPoll: time.Hour})
	require.NoError(t, err)
	s := st.(*sqliteStore)
	t.Cleanup(func() { _ = s.Close(context.Background()) })

	var mu sync.Mutex
	var woken []string
	forward := s.pilot.notify
	require.NotNil(t, forward, "River gave the pilot its wake-up hook")
	s.pilot.notify = func(ctx context.Context, res []*rivertype.JobInsertResult) {
		mu.Lock()
		for _, r := range res {
			woken = append(woken, r.Job.Queue)
		}
		mu.Unlock()
		forward(ctx, res)
	}
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), woken...)
	}
	require.NoError(t, s.Start(ctx))
	require.ElementsMatch(t, s.queues, seen(), "start wakes every queue (jobs rescued before River started)")
	mu.Lock()
	woken = nil
	mu.Unlock()

	errRolledBack := errors.New("rolled back")
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		require.NoError(t, tx.JobInsert(ctx, store.Job{Kind: "test_wake", Args: struct{}{}, Queue: QueueDefault}))
		return errRolledBack
	})
	require.ErrorIs(t, err, errRolledBack)
	require.Empty(t, seen(), "a rolled-back transaction wakes nobody")

	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		require.NoError(t, tx.JobInsert(ctx, store.Job{Kind: "test_wake", Args: struct{}{}, Queue: QueueDefault}))
		require.Empty(t, seen(), "nobody is woken before the commit")
		return nil
	}))
	require.Equal(t, []string{QueueDefault}, seen(), "the commit wakes the job's queue, once")

	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return nil }))
	require.Equal(t, []string{QueueDefault}, seen(), "a transaction without jobs wakes nobody")

	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.JobInsert(ctx, store.Job{Kind: "test_wake", Args: struct{}{}, Queue: QueueDeploy, ScheduledAt: time.Now().Add(time.Hour)})
	}))
	require.Equal(t, []string{QueueDefault}, seen(), "a job scheduled for later wakes nobody: a fetch now would not find it")

	select {
	case <-worker.ran:
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not run: the wake-up did not reach the producer")
	}
}

type laterArgs struct{ Mode string }

func (laterArgs) Kind() string { return "test_later" }

// laterWorker fails ("fail") or snoozes ("snooze") a job's first attempt
// and reports the attempt that finished it.
type laterWorker struct {
	river.WorkerDefaults[laterArgs]
	ran     chan int
	snoozed atomic.Bool
}

func (w *laterWorker) Work(_ context.Context, job *river.Job[laterArgs]) error {
	if job.Attempt == 1 && job.Args.Mode == "fail" {
		return errors.New("the first attempt fails")
	}
	if job.Args.Mode == "snooze" && !w.snoozed.Swap(true) {
		return river.JobSnooze(200 * time.Millisecond)
	}
	w.ran <- job.Attempt
	return nil
}

// TestSQLiteWakesProducersForLaterJobs: with River's poll set to an hour,
// a job scheduled for later, a job retried after a failure (River's
// retry policy) and a job its worker snoozed (store.Waker) all run: the
// store wakes the producers at their time, and again once River's
// scheduler must have made them available.
func TestSQLiteWakesProducersForLaterJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	workers := river.NewWorkers()
	worker := &laterWorker{ran: make(chan int, 3)}
	river.AddWorker(workers, worker)
	st, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), Options{Workers: workers, fetchPoll: time.Hour})
	require.NoError(t, err)
	s := st.(*sqliteStore)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	require.NoError(t, s.Start(ctx))

	for _, mode := range []string{"later", "fail", "snooze"} {
		t.Run(mode, func(t *testing.T) {
			job := store.Job{Kind: "test_later", Args: laterArgs{Mode: mode}, Queue: QueueDefault}
			if mode == "later" {
				job.ScheduledAt = time.Now().Add(300 * time.Millisecond)
			}
			require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.JobInsert(ctx, job) }))
			select {
			case attempt := <-worker.ran:
				if mode == "fail" {
					require.Equal(t, 2, attempt, "the job ran again after its failure")
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("the %s job did not run: nothing woke its producer", mode)
			}
		})
	}
}
