package notify

import (
	"context"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Deliveries lists deliveries, newest first; failed: only failed ones.
func (n *Notifier) Deliveries(ctx context.Context, failed bool, limit int) ([]store.Delivery, error) {
	p := &store.DeliveryListParams{Newest: true, Limit: limit}
	if failed {
		p.States = []string{store.DeliveryFailed}
	}
	return n.e.Store().DeliveryList(ctx, p)
}

// Resend puts a delivery back on its way (same webhook-id), whatever its
// state: pending again, due now, with its pair's drain job.
func (n *Notifier) Resend(ctx context.Context, id int64) (store.Delivery, error) {
	var d store.Delivery
	err := n.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		if d, err = tx.DeliveryGet(ctx, id); err != nil {
			return err
		}
		if _, ok := destination(n.e.Config(), d.Destination); !ok {
			return fmt.Errorf("%w: the destination %s of delivery %d is no longer in the configuration", ErrGone, d.Destination, id)
		}
		d.State, d.NextAttemptAt = store.DeliveryPending, n.e.Now()
		if err := tx.DeliveryUpdate(ctx, &d); err != nil {
			return err
		}
		return tx.JobInsert(ctx, n.drainJob(d.Destination, d.Service))
	})
	return d, err
}

// ErrGone is a delivery to a destination that is no longer configured.
var ErrGone = fmt.Errorf("gone")
