package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/store"
)

// DrainArgs asks for a (destination, service) pair's pending deliveries to
// be sent, oldest first.
type DrainArgs struct {
	Destination string `json:"destination"`
	Service     string `json:"service"`
}

// Kind is River's name for the job.
func (DrainArgs) Kind() string { return "bakery_notify_drain" }

type drainWorker struct {
	river.WorkerDefaults[DrainArgs]
	n *Notifier
}

// NextRetry is the back-off after the job's attempt-th failure:
// BackoffBase doubling, at most BackoffMax.
func (w *drainWorker) NextRetry(job *river.Job[DrainArgs]) time.Time {
	return time.Now().Add(w.n.backoff(job.Attempt))
}

// snoozeBusy is how long a drain job waits for its destination's share of
// workers.
const snoozeBusy = 250 * time.Millisecond

func (n *Notifier) backoff(attempt int) time.Duration {
	d := n.opts.BackoffBase
	for i := 1; i < attempt && d < n.opts.BackoffMax; i++ {
		d *= 2
	}
	return min(d, n.opts.BackoffMax)
}

// Work sends the pair's pending deliveries in order. On a failure it
// records it on the delivery and returns an error, so that the queue tries
// again after the back-off; on the last attempt it marks the pair's
// pending deliveries failed (they can be re-sent).
func (w *drainWorker) Work(ctx context.Context, job *river.Job[DrainArgs]) error {
	if !w.n.acquire(job.Args.Destination) {
		// The destination has its share of workers busy (it is slow):
		// wait, without counting an attempt.
		return river.JobSnooze(snoozeBusy)
	}
	defer w.n.release(job.Args.Destination)
	return w.n.drain(ctx, job.Args, job.Attempt, job.MaxAttempts)
}

func (n *Notifier) drain(ctx context.Context, a DrainArgs, attempt, maxAttempts int) error {
	st := n.e.Store()
	var idleSince time.Time
	for {
		cfg := n.e.Config()
		dest, ok := destination(cfg, a.Destination)
		pending, err := st.DeliveryList(ctx, &store.DeliveryListParams{Destination: a.Destination, Service: a.Service,
			States: []string{store.DeliveryPending}, Limit: 50})
		if err != nil {
			return err
		}
		if len(pending) == 0 {
			// Linger a little: while this job runs, the pair's next
			// event gets no job of its own (see Run), so it is looked for
			// here, and bursts go out at once.
			if idleSince.IsZero() {
				idleSince = time.Now()
			}
			if time.Since(idleSince) < lingerFor {
				select {
				case <-ctx.Done():
					return nil // stopping; everything seen was sent
				case <-time.After(lingerPoll):
				}
				continue
			}
			select {
			case n.kick <- [2]string{a.Destination, a.Service}:
			default: // the sweeper is busy; its next sweep looks anyway
			}
			return nil
		}
		idleSince = time.Time{}
		for i := range pending {
			d := &pending[i]
			var sendErr error
			if !ok {
				sendErr = fmt.Errorf("the destination %s is no longer in the configuration", a.Destination)
			} else {
				sendErr = n.send(ctx, cfg, dest, d)
			}
			now := n.e.Now()
			d.Attempts++
			if sendErr == nil {
				d.State, d.DeliveredAt, d.LastError = store.DeliveryDelivered, now, ""
				if err := n.update(ctx, d); err != nil {
					return err
				}
				continue
			}
			if ctx.Err() != nil {
				return ctx.Err() // shutting down: the job runs again
			}
			d.LastError = n.redact(sendErr.Error())
			final := attempt >= maxAttempts || !ok
			if !final {
				d.NextAttemptAt = now.Add(n.backoff(attempt))
				if err := n.update(ctx, d); err != nil {
					return err
				}
				n.log.Warn("notification not delivered; trying again", "destination", a.Destination, "service", a.Service,
					"delivery", d.ID, "attempt", d.Attempts, "retry_in", n.backoff(attempt), "error", d.LastError)
				return fmt.Errorf("delivery %d to %s: %s", d.ID, a.Destination, d.LastError)
			}
			return n.failAll(ctx, a, pending[i:], d.LastError)
		}
	}
}

func (n *Notifier) update(ctx context.Context, d *store.Delivery) error {
	return n.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.DeliveryUpdate(ctx, d) })
}

// failAll gives up on a pair's pending deliveries after the last attempt.
func (n *Notifier) failAll(ctx context.Context, a DrainArgs, rest []store.Delivery, why string) error {
	n.log.Error("notifications given up after the last attempt; re-send them with 'bakery notifications resend ID'",
		"destination", a.Destination, "service", a.Service, "deliveries", len(rest), "error", why)
	return n.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := range rest {
			d := rest[i]
			d.State = store.DeliveryFailed
			if d.LastError == "" {
				d.LastError = "not sent: an earlier delivery to this destination failed: " + why
			}
			if err := tx.DeliveryUpdate(ctx, &d); err != nil {
				return err
			}
		}
		return nil
	})
}

// redact makes an error fit for the record: no secret, credentials,
// addresses or paths.
func (n *Notifier) redact(s string) string {
	s = n.e.Masker().Mask(s)
	if len(s) > 500 {
		s = s[:500]
	}
	return redact.ForViewers(s)
}

// send carries one delivery to its destination.
func (n *Notifier) send(ctx context.Context, cfg *config.Config, dest config.Notification, d *store.Delivery) error {
	switch {
	case dest.Webhook != nil:
		return n.sendWebhook(ctx, dest.Webhook, d.MsgID, d.Payload)
	case dest.Slack != nil:
		var b Body
		if err := json.Unmarshal(d.Payload, &b); err != nil {
			return fmt.Errorf("delivery %d has an unreadable payload: %w", d.ID, err)
		}
		return n.sendSlack(ctx, cfg, dest, b)
	}
	return fmt.Errorf("the destination %s has neither slack nor webhook", dest.Name)
}

// Run is the sweeper, until ctx ends: every SweepInterval it enqueues a
// drain job for each pair with a delivery due (one whose job ended just
// before the delivery was written, or whose job gave up), and
// re-announces locks that have held past PileUpAfter.
//
// A drain job that found its pair empty is still "running" for River
// until its completion is recorded, a few milliseconds later, and an
// event written meanwhile gets no job of its own (the pair's job is
// unique while it waits or runs). So such a pair is looked at again soon
// after (recheckAfter, three times), not only at the next sweep.
func (n *Notifier) Run(ctx context.Context) {
	t := time.NewTimer(n.sweepEvery())
	defer t.Stop()
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	rechecks := map[[2]string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-n.kick:
			if len(rechecks) == 0 {
				recheck.Reset(recheckAfter)
			}
			rechecks[p] = 3
			continue
		case <-recheck.C:
			for p, left := range rechecks {
				if err := n.recheck(ctx, p); err != nil && ctx.Err() == nil {
					n.log.Warn("notification recheck failed", "error", err)
				}
				if left <= 1 {
					delete(rechecks, p)
				} else {
					rechecks[p] = left - 1
				}
			}
			if len(rechecks) > 0 {
				recheck.Reset(2 * recheckAfter)
			}
			continue
		case <-t.C:
		}
		if err := n.sweep(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("notification sweep failed", "error", err)
		}
		t.Reset(n.sweepEvery())
	}
}

// sweepEvery is SweepInterval, or, while the configuration names no
// destination (nothing to sweep for), how often to look whether a reload
// added one.
func (n *Notifier) sweepEvery() time.Duration {
	if len(n.e.Config().Notifications) == 0 {
		return max(n.opts.SweepInterval, idleSweep)
	}
	return n.opts.SweepInterval
}

// idleSweep is how often the sweeper wakes without destinations.
const idleSweep = 5 * time.Second

// lingerFor is how long a drain job that sent everything keeps looking
// for more (every lingerPoll) before it ends.
const (
	lingerFor  = 250 * time.Millisecond
	lingerPoll = 10 * time.Millisecond
)

// recheckAfter is how long after a drain job ended its pair is looked at
// again.
const recheckAfter = 20 * time.Millisecond

// recheck enqueues p's drain job if its oldest pending delivery is due.
func (n *Notifier) recheck(ctx context.Context, p [2]string) error {
	st := n.e.Store()
	head, err := st.DeliveryList(ctx, &store.DeliveryListParams{Destination: p[0], Service: p[1], States: []string{store.DeliveryPending}, Limit: 1})
	if err != nil || len(head) == 0 || head[0].NextAttemptAt.After(n.e.Now()) {
		return err
	}
	return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return n.enqueue(ctx, tx, map[[2]string]bool{p: true}) })
}

func (n *Notifier) sweep(ctx context.Context) error {
	if len(n.e.Config().Notifications) == 0 {
		// Nothing to deliver to (deliveries to destinations that left the
		// configuration wait for them to come back).
		return nil
	}
	st := n.e.Store()
	// A pair whose head is waiting for its retry has a job (retryable);
	// one due for longer than a sweep may have lost its wake-up.
	due, err := st.DeliveryPairsDue(ctx, n.e.Now().Add(-n.opts.SweepInterval))
	if err != nil {
		return err
	}
	if len(due) > 0 {
		pairs := map[[2]string]bool{}
		for _, p := range due {
			pairs[p] = true
		}
		if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return n.enqueue(ctx, tx, pairs) }); err != nil {
			return err
		}
	}
	if n.e.IsLeader() {
		return n.pileUps(ctx)
	}
	return nil
}
