package web

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

// TestNotificationsPage: deployers see the deliveries with a Re-send
// button on the failed ones; viewers get 403 and no link.
func TestNotificationsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	now := time.Now()
	require.NoError(t, f.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for i, state := range []string{store.DeliveryDelivered, store.DeliveryFailed} {
			d, err := tx.DeliveryInsert(ctx, &store.Delivery{Destination: "audit", Service: "web", EventID: int64(i + 1), Type: "lock.placed",
				MsgID: "msg_" + state, Payload: []byte(`{}`), NextAttemptAt: now, CreatedAt: now})
			if err != nil {
				return err
			}
			d.State, d.Attempts, d.LastError = state, 3, "the endpoint answered 503 <script>"
			if err := tx.DeliveryUpdate(ctx, &d); err != nil {
				return err
			}
		}
		return nil
	}))
	c := f.client()
	f.signIn(c, "dev")
	resp, page := f.do(c, "GET", "/notifications", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, page, `id="delivery-1"`)
	require.Contains(t, page, `id="delivery-2"`)
	require.Contains(t, page, `id="resend-2"`, "a failed delivery can be re-sent")
	require.NotContains(t, page, `id="resend-1"`)
	require.Contains(t, page, "503 &lt;script&gt;", "errors are escaped")
	require.Contains(t, page, `href="/notifications"`)

	v := f.client()
	f.signIn(v, "eye")
	resp, _ = f.do(v, "GET", "/notifications", "", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	_, page = f.do(v, "GET", "/", "", nil)
	require.NotContains(t, page, `href="/notifications"`)
}
