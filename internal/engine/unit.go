package engine

import (
	"context"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// unit is one pass of the engine's unit of work on one or more services:
// the transaction that holds their service locks, the time the pass
// acts at, and what is to happen once it commits.
//
// Every command and every automatic action that changes a service goes
// through mutate, which is what enforces rule 3 in one place: a promotion
// starts only in reconcileTx, which runs here inside the transaction that
// holds the service lock, the same lock Lock takes to write a lock. So a
// lock acknowledged to its caller is seen by every later decision, and no
// decision taken before it can still be about to start a promotion.
type unit struct {
	ctx context.Context
	e   *Engine
	tx  store.Tx
	now time.Time

	services []string
	decide   bool
	effects  []func(context.Context)
}

// event writes ev in the pass's transaction, at the pass's time unless ev
// has one.
func (u *unit) event(ev *pipeline.Event) error {
	if ev.At.IsZero() {
		ev.At = u.now
	}
	_, err := u.tx.EventInsert(u.ctx, ev)
	return err
}

// afterCommit runs fn once the pass has committed (never if it did not):
// side effects such as applying a canary's weight go here, so that they
// start only once the decision behind them is on the record (rule 10).
func (u *unit) afterCommit(fn func(ctx context.Context)) {
	u.effects = append(u.effects, fn)
}

// noDecision says the pass's change needs no new decision for its
// services (a canary step, a deployment starting): the commit still arms
// nothing new and notifies watchers.
func (u *unit) noDecision() { u.decide = false }

// mutate runs fn as one unit of work on service; see mutateAll.
func (e *Engine) mutate(ctx context.Context, service string, fn func(u *unit) error) error {
	return e.mutateAll(ctx, []string{service}, fn)
}

// mutateAll runs fn as one unit of work on services (in the order given,
// which callers keep sorted so that two such passes never deadlock): it
// takes the service locks, lets fn change state and write events, takes
// the decision for every configured service again in the same
// transaction (unless fn said noDecision), commits, and then runs fn's
// post-commit effects, arms the deadline timers and notifies watchers.
// fn's error is returned as it is and nothing is committed.
func (e *Engine) mutateAll(ctx context.Context, services []string, fn func(u *unit) error) error {
	var u *unit
	nexts := make([]time.Time, len(services))
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for _, s := range services {
			if err := tx.ServiceLock(ctx, s, e.clock.Now()); err != nil {
				return err
			}
		}
		u = &unit{ctx: ctx, e: e, tx: tx, now: e.clock.Now(), services: services, decide: true}
		if err := fn(u); err != nil {
			return err
		}
		if !u.decide {
			return nil
		}
		for i, s := range services {
			svc, ok := e.Config().Service(s)
			if !ok {
				continue // a service that left the configuration keeps its state, untouched
			}
			next, err := e.reconcileTx(ctx, tx, svc)
			if err != nil {
				return err
			}
			nexts[i] = next
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, fn := range u.effects {
		fn(ctx)
	}
	if u.decide {
		e.decisions.taken(services, u.now)
	}
	for i, s := range services {
		e.after(s, nexts[i])
	}
	return nil
}

// decisionTimes remembers, per service, when this process last took (and
// committed) a decision for it. A durable reconcile job asks for a
// decision at or after its time; one already taken since then saw every
// state the job could, so the job has nothing left to do. Under a burst of
// deadlines the timers get there first, and the jobs, coming a poll later,
// would decide every service a second time on the one SQLite writer.
type decisionTimes struct {
	mu sync.Mutex
	at map[string]time.Time
}

// taken records a decision for services at at.
func (d *decisionTimes) taken(services []string, at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.at == nil {
		d.at = map[string]time.Time{}
	}
	for _, s := range services {
		if at.After(d.at[s]) {
			d.at[s] = at
		}
	}
}

// since says whether a decision for service was taken at or after at.
func (d *decisionTimes) since(service string, at time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	last, ok := d.at[service]
	return ok && !last.Before(at)
}

// serviceNamesOf lists the names of services, in their order.
func serviceNamesOf(services []*config.Service) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.Name
	}
	return out
}
