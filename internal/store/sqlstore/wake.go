package sqlstore

import (
	"context"
	"sync"

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
// committed, so it wakes its own producers then, and polls only once a
// second as the backstop (jobs scheduled in the future, anything missed).
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

	mu     sync.Mutex
	notify func(context.Context, []*rivertype.JobInsertResult)
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
