package engine

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// recordingSubscriber remembers every event it was handed, and fails while
// fail is set.
type recordingSubscriber struct {
	mu     sync.Mutex
	events []pipeline.Event
	fail   bool
	calls  int
}

func (s *recordingSubscriber) Name() string { return "test" }

func (s *recordingSubscriber) Handle(ctx context.Context, tx store.Tx, events []pipeline.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail {
		return errors.New("the destination is down")
	}
	s.events = append(s.events, events...)
	return nil
}

func (s *recordingSubscriber) ids() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int64
	for _, ev := range s.events {
		out = append(out, ev.ID)
	}
	return out
}

// TestFeedHandsEveryEventOnceInOrder: a subscriber starts at the end of
// the log, then gets every later event exactly once and in order, again
// after a failure (nothing it did is kept, nothing is skipped), and once
// only when two passes race for the same events.
func TestFeedHandsEveryEventOnceInOrder(t *testing.T) {
	forBoth(t, func(t *testing.T, db string) {
		b := setup(t, db, testConfig())
		ctx := context.Background()
		b.e.feed.Stop() // the test drives the feed
		sub := &recordingSubscriber{}
		b.e.Subscribe(sub)
		_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v1"})
		require.NoError(t, err)
		b.settle(t, "web")

		b.e.feed.runOnce(ctx)
		require.Empty(t, sub.ids(), "a new subscriber hears of what happens from now on, not of the history")
		last, err := b.st.EventLastID(ctx)
		require.NoError(t, err)
		at, ok, err := b.st.CursorGet(ctx, "test")
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, last, at)

		all := func() []int64 {
			evs, err := b.st.EventList(ctx, &store.EventListParams{AfterID: at, Limit: 10000})
			require.NoError(t, err)
			var ids []int64
			for _, ev := range evs {
				ids = append(ids, ev.ID)
			}
			return ids
		}

		_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v2"})
		require.NoError(t, err)
		b.settle(t, "web")
		sub.fail = true
		b.e.feed.runOnce(ctx)
		require.Empty(t, sub.ids(), "a failed pass keeps nothing")
		got, _, err := b.st.CursorGet(ctx, "test")
		require.NoError(t, err)
		require.Equal(t, at, got, "and does not move the cursor")

		sub.fail = false
		b.e.feed.runOnce(ctx)
		require.Equal(t, all(), sub.ids(), "the same events come again, each once, in order")
		require.NotEmpty(t, sub.ids())

		// Many events, and passes racing for them: each event once.
		for i := 0; i < 20; i++ {
			_, err := b.e.Lock(ctx, "ana", LockParams{Service: "api", Environment: "production", Reason: "r"})
			require.NoError(t, err)
			_, err = b.e.Unlock(ctx, "ana", "api", "production", "r")
			require.NoError(t, err)
		}
		var wg sync.WaitGroup
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b.e.feed.runOnce(ctx)
			}()
		}
		wg.Wait()
		require.Eventually(t, func() bool {
			b.e.feed.runOnce(ctx)
			return len(sub.ids()) == len(all())
		}, 2*feedGapWait, 50*time.Millisecond)
		require.Equal(t, all(), sub.ids(), "every event once, in order, however the passes raced")
	})
}

// TestFeedWaitsForAGapThenPassesIt: on PostgreSQL a missing event ID may be
// a transaction still open; the feed stops before it until feedGapWait has
// passed since it first saw it, then goes on (it was a rollback).
func TestFeedWaitsForAGapThenPassesIt(t *testing.T) {
	f := &feedService{gaps: map[string]gap{}}
	evs := func(ids ...int64) []pipeline.Event {
		var out []pipeline.Event
		for _, id := range ids {
			out = append(out, pipeline.Event{ID: id})
		}
		return out
	}
	t0 := time.Unix(1000, 0)
	require.Len(t, f.untilGap("n", 10, evs(11, 13, 14), false, t0), 3, "SQLite commits in ID order: no gap to wait for")
	require.Equal(t, evs(11), f.untilGap("n", 10, evs(11, 13, 14), true, t0), "12 may still commit")
	require.Equal(t, evs(11), f.untilGap("n", 10, evs(11, 13, 14), true, t0.Add(feedGapWait-time.Millisecond)))
	require.Equal(t, evs(11, 12, 13, 14), f.untilGap("n", 10, evs(11, 12, 13, 14), true, t0.Add(time.Second)), "it did")
	require.Equal(t, evs(15), f.untilGap("n", 14, evs(15, 17), true, t0), "a new gap")
	require.Equal(t, evs(15, 17), f.untilGap("n", 14, evs(15, 17), true, t0.Add(feedGapWait)), "passed once it is old")
	require.Empty(t, f.untilGap("n", 17, evs(19), true, t0), "a gap right after the cursor")
}
