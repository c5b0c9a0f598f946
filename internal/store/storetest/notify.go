package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

// testDeliveries: notification deliveries are recorded once per message ID,
// listed in the order they are sent, updated with their outcome, and
// survive a restart; a release's Slack message is kept per destination.
func testDeliveries(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	ins := func(dest, svc string, ev int64, at time.Time) store.Delivery {
		var d store.Delivery
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			d, err = tx.DeliveryInsert(ctx, &store.Delivery{Destination: dest, Service: svc, EventID: ev, Type: "lock.placed",
				MsgID: "msg_" + dest + "_" + time.Duration(ev).String(), Payload: []byte(`{"a":1}`), NextAttemptAt: at, CreatedAt: t0})
			return err
		}))
		return d
	}
	a := ins("audit", "web", 1, t0)
	b := ins("audit", "web", 2, t0.Add(time.Minute))
	ins("audit", "api", 3, t0)
	require.Equal(t, store.DeliveryPending, a.State)
	require.Equal(t, []byte(`{"a":1}`), a.Payload)
	require.True(t, a.DeliveredAt.IsZero())

	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.DeliveryInsert(ctx, &store.Delivery{Destination: "audit", Service: "web", EventID: 1, Type: "x", MsgID: a.MsgID, Payload: []byte(`{}`), NextAttemptAt: t0, CreatedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict, "one delivery per message ID")

	due, err := s.DeliveryPairsDue(ctx, t0)
	require.NoError(t, err)
	require.Equal(t, [][2]string{{"audit", "api"}, {"audit", "web"}}, due)

	a.State, a.Attempts, a.DeliveredAt = store.DeliveryDelivered, 1, t0.Add(time.Second)
	b.Attempts, b.LastError, b.NextAttemptAt = 1, "HTTP 503", t0.Add(2*time.Minute)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.DeliveryUpdate(ctx, &a); err != nil {
			return err
		}
		if err := tx.DeliveryUpdate(ctx, &b); err != nil {
			return err
		}
		return tx.SlackMessagePut(ctx, &store.SlackMessage{Destination: "deploys", Service: "web", Version: "v1", Channel: "C1", TS: "1.1"})
	}))
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.SlackMessagePut(ctx, &store.SlackMessage{Destination: "deploys", Service: "web", Version: "v1", Channel: "C1", TS: "1.2"})
	}))

	due, err = s.DeliveryPairsDue(ctx, t0.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, [][2]string{{"audit", "api"}}, due, "a pair is due when its oldest pending delivery is (b waits for its retry)")

	s = reopen(t, s)
	pending, err := s.DeliveryList(ctx, &store.DeliveryListParams{Destination: "audit", Service: "web", States: []string{store.DeliveryPending}})
	require.NoError(t, err)
	require.Len(t, pending, 1)
	require.Equal(t, b.ID, pending[0].ID)
	require.Equal(t, "HTTP 503", pending[0].LastError)
	require.Equal(t, 1, pending[0].Attempts)
	got, err := s.DeliveryGet(ctx, a.ID)
	require.NoError(t, err)
	require.Equal(t, store.DeliveryDelivered, got.State)
	require.True(t, got.DeliveredAt.Equal(t0.Add(time.Second)))
	all, err := s.DeliveryList(ctx, &store.DeliveryListParams{Newest: true})
	require.NoError(t, err)
	require.Len(t, all, 3)
	require.Greater(t, all[0].ID, all[2].ID, "newest first")
	_, err = s.DeliveryGet(ctx, 9999)
	require.ErrorIs(t, err, store.ErrNotFound)

	m, err := s.SlackMessageGet(ctx, "deploys", "web", "v1")
	require.NoError(t, err)
	require.Equal(t, "1.2", m.TS, "the message is replaced, not duplicated")
	_, err = s.SlackMessageGet(ctx, "deploys", "web", "v2")
	require.ErrorIs(t, err, store.ErrNotFound)
}
