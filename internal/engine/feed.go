package engine

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// A Subscriber follows the event log: notifications, GitHub statuses,
// anything that tells the world what bakery did. Every event reaches it
// once and in order, in the transaction that moves its cursor past the
// event, where it enqueues the durable jobs that act on it
// (tx.JobInsert). So what it has to say is never lost (the cursor and the
// jobs commit together, rule 10) and never slows the pipeline: a decision
// only writes its event, the subscriber's jobs do the talking later, on
// their own queue.
type Subscriber interface {
	// Name names the subscriber's cursor; it must stay the same across
	// restarts and versions.
	Name() string
	// Handle is given the events after the cursor, oldest first. An error
	// rolls back everything it wrote, and the same events come again.
	Handle(ctx context.Context, tx store.Tx, events []pipeline.Event) error
}

// A WorkerRegistrar is a Subscriber with River workers of its own (the
// jobs its Handle enqueues); Subscribe registers them with the engine's.
type WorkerRegistrar interface {
	RegisterWorkers(w *river.Workers)
}

// feedBatch is how many events one pass hands a subscriber at most.
const feedBatch = 500

// feedGapWait is how long the feed waits for a missing event ID on
// PostgreSQL before passing it: IDs are taken when an event is written but
// become visible when its transaction commits, so a gap can be a
// transaction still open (its event will appear) or one that rolled back
// (it never will). Decisions' transactions last milliseconds.
const feedGapWait = 5 * time.Second

// feedService hands the event log to the subscribers, on the leader: at
// once after a change (kicked by the unit of work) and each second for
// events written elsewhere (another replica, a token command); on SQLite,
// which one process owns, every dutyRest.
type feedService struct {
	duty
	e *Engine

	mu   sync.Mutex
	subs []Subscriber
	// gaps remembers, per subscriber, when the feed first saw a missing
	// event ID after its cursor (wall time: it is about transactions).
	gaps map[string]gap
}

type gap struct {
	after int64
	seen  time.Time
}

func newFeedService(e *Engine) *feedService {
	f := &feedService{e: e, gaps: map[string]gap{}}
	f.duty = newDuty("feed", e.IsLeader, f.runOnce)
	return f
}

// Subscribe adds a follower of the event log. Call it before the store is
// opened with Workers (its workers are registered now) and before Start.
// A new subscriber starts at the end of the log: it hears of what happens
// from now on, not of the history.
func (e *Engine) Subscribe(s Subscriber) {
	if r, ok := s.(WorkerRegistrar); ok {
		r.RegisterWorkers(e.workers)
	}
	e.feed.mu.Lock()
	e.feed.subs = append(e.feed.subs, s)
	e.feed.mu.Unlock()
}

func (f *feedService) subscribers() []Subscriber {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Subscriber(nil), f.subs...)
}

func (f *feedService) runOnce(ctx context.Context) {
	// One process owns a SQLite database, and its every change kicks the
	// feed: a quiet log is looked at again in dutyRest, not each second.
	// On PostgreSQL other replicas write events too.
	quiet := f.e.store.Kind() == "sqlite"
	defer func() {
		if quiet {
			f.rest()
		}
	}()
	for _, s := range f.subscribers() {
		for {
			n, err := f.pass(ctx, s)
			if n > 0 || err != nil {
				quiet = false
			}
			if err != nil {
				if ctx.Err() == nil {
					f.e.log.Warn("event subscriber failed; it will be given the same events again", "subscriber", s.Name(), "err", err)
				}
				break
			}
			if n < feedBatch {
				break
			}
		}
	}
}

// pass hands s the next batch of events and reports how many it read. It
// reads outside a transaction first, so that a quiet log costs a read and
// no write.
func (f *feedService) pass(ctx context.Context, s Subscriber) (int, error) {
	st := f.e.store
	name := s.Name()
	at, ok, err := st.CursorGet(ctx, name)
	if err != nil {
		return 0, err
	}
	if !ok {
		last, err := st.EventLastID(ctx)
		if err != nil {
			return 0, err
		}
		err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.CursorCreate(ctx, name, last, f.e.clock.Now())
		})
		if errors.Is(err, store.ErrConflict) {
			err = nil // another leader placed it
		}
		return 0, err
	}
	events, err := st.EventList(ctx, &store.EventListParams{AfterID: at, Limit: feedBatch})
	if err != nil || len(events) == 0 {
		return 0, err
	}
	n := len(events)
	events = f.untilGap(name, at, events, st.Kind() == "postgres", time.Now())
	if len(events) == 0 {
		return 0, nil
	}
	to := events[len(events)-1].ID
	err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		// Moving the cursor first makes a second process that read the
		// same events wait here and then fail, before it enqueues anything.
		if err := tx.CursorMove(ctx, name, at, to, f.e.clock.Now()); err != nil {
			return err
		}
		return s.Handle(ctx, tx, events)
	})
	if errors.Is(err, store.ErrConflict) {
		return 0, nil // another process took these events
	}
	if err != nil {
		return 0, err
	}
	if len(events) < n {
		return 0, nil // wait for the gap
	}
	return n, nil
}

// untilGap cuts events (IDs after at, ascending) before the first missing
// ID that may still appear: on PostgreSQL, one first seen less than
// feedGapWait ago. SQLite has one writer, whose commits are in ID order.
func (f *feedService) untilGap(name string, at int64, events []pipeline.Event, postgres bool, now time.Time) []pipeline.Event {
	if !postgres {
		return events
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prev := at
	for i, ev := range events {
		if ev.ID != prev+1 {
			g, ok := f.gaps[name]
			if !ok || g.after != prev {
				g = gap{after: prev, seen: now}
				f.gaps[name] = g
			}
			if now.Sub(g.seen) < feedGapWait {
				return events[:i]
			}
		}
		prev = ev.ID
	}
	delete(f.gaps, name)
	return events
}
