package sqlstore

import (
	"context"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivershared/baseservice"
	"github.com/riverqueue/river/rivershared/riverpilot"
	"github.com/riverqueue/river/rivertype"
)

// River's SQLite driver has no notifications, and a job inserted inside a
// transaction (InsertManyTx, the only way bakery inserts, so that a job is
// never enqueued outside its decision's transaction) does not wake the
// local producers: they find it at their next poll. Polling every 10 ms
// cost 12 % of a core while idle at 1,000 services (each poll re-prepares
// its statement). bakery knows when a transaction that inserted jobs has
// committed, so it wakes its own producers then. A job scheduled for later
// wakes them at its time (wakeAt): when the store inserted it, and when
// River put it back after a failure or a snooze (wakeForOutcomes, from
// River's own job events). The poll is only the backstop for anything
// missed, every 5 s (open.go).
//
// River wakes its producers after a non-transactional insert through the
// hook it gives its pilot (PilotInitParams.NotifyNonTxJobInsert). A driver
// that implements River's plugin interface chooses the pilot; wakeDriver is
// River's own SQLite driver with River's own standard pilot, which only
// keeps that hook so that the store can call it after its commits. Nothing
// is written to wake a producer: the hook only triggers a fetch, debounced
// by FetchCooldown.

// wakeDriver is riversqlite's driver with a pilot that keeps the wake-up
// hook.
type wakeDriver struct {
	*riversqlite.Driver
	pilot *wakePilot
}

func newWakeDriver(d *riversqlite.Driver) *wakeDriver {
	return &wakeDriver{Driver: d, pilot: &wakePilot{}}
}

// SupportsListener is false: River's SQLite driver offers a listener (a
// notification table polled every 50 ms), which bakery does not use
// (PollOnly), and while the driver claims one River skips the wake-up of
// local producers after an insert.
func (d *wakeDriver) SupportsListener() bool { return false }

// SupportsListenNotify is false for the same reason: no notification is
// written to River's notification table in the inserting transaction
// (nobody listens), so waking costs no write.
func (d *wakeDriver) SupportsListenNotify() bool { return false }

// PluginInit is part of River's driver plugin interface; there is nothing
// to initialise.
func (d *wakeDriver) PluginInit(*baseservice.Archetype) {}

// PluginPilot is part of River's driver plugin interface: River's standard
// pilot, remembering the wake-up hook.
func (d *wakeDriver) PluginPilot() riverpilot.Pilot { return d.pilot }

// wakePilot is River's standard pilot that remembers the hook River gives
// it for waking producers.
type wakePilot struct {
	riverpilot.StandardPilot

	mu      sync.Mutex
	notify  func(context.Context, []*rivertype.JobInsertResult)
	timers  map[wakeKey]*time.Timer
	stopped bool
}

// PilotInit keeps River's wake-up hook.
func (p *wakePilot) PilotInit(archetype *baseservice.Archetype, params *riverpilot.PilotInitParams) {
	p.StandardPilot.PilotInit(archetype, params)
	p.mu.Lock()
	p.notify = params.NotifyNonTxJobInsert
	p.mu.Unlock()
}

// wake asks this process's producers of the named queues to fetch now. Only
// after the jobs' transaction committed: a fetch before would not see them.
func (p *wakePilot) wake(queues []string) {
	if len(queues) == 0 {
		return
	}
	p.mu.Lock()
	notify := p.notify
	p.mu.Unlock()
	if notify == nil {
		return
	}
	res := make([]*rivertype.JobInsertResult, len(queues))
	for i, q := range queues {
		res[i] = &rivertype.JobInsertResult{Job: &rivertype.JobRow{Queue: q}}
	}
	notify(context.Background(), res)
}

// wakeAt wakes the producers of queue when a job inserted for at can be
// fetched: the fetch poll is only a slow backstop on SQLite. Producers
// fetch only available jobs whose time has come, and River's scheduler
// makes a scheduled job available every schedulerInterval, looking that
// far ahead. So a job inserted at least that long before its time is
// available at its time, and a fetch just after at finds it; one due
// sooner may wait for the next run of the scheduler, which comes within
// schedulerInterval of at: its producers are woken again then. Timers are
// kept per queue and instant, so a thousand bake deadlines at the same
// moment are one timer.
func (p *wakePilot) wakeAt(queue string, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armLocked(queue, at.Add(wakeLate))
	if time.Until(at) < schedulerInterval {
		p.armLocked(queue, at.Add(schedulerInterval+wakeLate))
	}
}

// armLocked arms one wake-up of queue at at.
func (p *wakePilot) armLocked(queue string, at time.Time) {
	// Rounded up, never down: a fetch before the job's time finds nothing.
	at = at.Add(wakeGrain - 1).Truncate(wakeGrain)
	if p.stopped {
		return
	}
	if p.timers == nil {
		p.timers = map[wakeKey]*time.Timer{}
	}
	k := wakeKey{queue, at.UnixNano()}
	if _, ok := p.timers[k]; ok {
		return
	}
	p.timers[k] = time.AfterFunc(time.Until(at), func() {
		p.mu.Lock()
		delete(p.timers, k)
		stopped := p.stopped
		p.mu.Unlock()
		if !stopped {
			p.wake([]string{queue})
		}
	})
}

// stop cancels the wake-ups still to come (the store is closing).
func (p *wakePilot) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopped = true
	for k, t := range p.timers {
		t.Stop()
		delete(p.timers, k)
	}
}

type wakeKey struct {
	queue string
	at    int64
}

const (
	// wakeLate is how long after a job's time its producers are woken: a
	// fetch needs the job's time to have passed on the database's clock.
	wakeLate = 2 * time.Millisecond
	// wakeGrain groups the wake-ups of jobs due close together into one.
	wakeGrain = 5 * time.Millisecond
	// schedulerInterval is how often River's scheduler makes scheduled
	// jobs available (River's default, which its configuration does not
	// expose), and how far ahead it looks.
	schedulerInterval = 5 * time.Second
)

// wakeForOutcomes wakes the producers for the jobs River puts back for
// later: a failed job to be retried, a snoozed one. River tells of each
// once its new state is written (its completer writes in batches), with
// the job's queue, state and time; a job due within River's scheduler
// interval is written available at once, a later one is made available by
// the scheduler ahead of its time. It runs until events is closed.
func (p *wakePilot) wakeForOutcomes(events <-chan *river.Event) {
	for ev := range events {
		if ev == nil || ev.Job == nil {
			continue
		}
		switch ev.Job.State {
		case rivertype.JobStateAvailable:
			p.mu.Lock()
			p.armLocked(ev.Job.Queue, later(ev.Job.ScheduledAt, time.Now()).Add(wakeLate))
			p.mu.Unlock()
		case rivertype.JobStateRetryable, rivertype.JobStateScheduled:
			p.wakeAt(ev.Job.Queue, ev.Job.ScheduledAt)
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
