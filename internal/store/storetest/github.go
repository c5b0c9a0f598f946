package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

// testGitHub covers the GitHub integration's tables: a delivery ID is
// taken once by an accepted delivery and never by a rejected one, and what
// was sent survives a restart.
func testGitHub(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	insert := func(d store.GitHubDelivery) (int64, error) {
		var id int64
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			id, err = tx.GitHubDeliveryInsert(ctx, &d)
			return err
		})
		return id, err
	}
	// A forged delivery (bad signature) is on the record but takes no ID.
	_, err := insert(store.GitHubDelivery{DeliveryID: "d-1", Event: "push", Outcome: "rejected", ReceivedAt: t0})
	require.NoError(t, err)
	id, err := insert(store.GitHubDelivery{DeliveryID: "d-1", Event: "push", Accepted: true, Outcome: "processing", ReceivedAt: t0.Add(time.Second)})
	require.NoError(t, err, "a rejected delivery does not block the real one with its ID")
	_, err = insert(store.GitHubDelivery{DeliveryID: "d-1", Event: "push", Accepted: true, Outcome: "processing", ReceivedAt: t0.Add(2 * time.Second)})
	require.ErrorIs(t, err, store.ErrConflict, "an accepted delivery ID is processed once")
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.GitHubDeliveryFinish(ctx, &store.GitHubDeliveryFinishParams{ID: id, Outcome: "created", Detail: "web"}); err != nil {
			return err
		}
		if err := tx.GitHubReleasePut(ctx, &store.GitHubRelease{Service: "web", Version: "abc", Repository: "o/r", PRs: []int64{7, 9}, Event: "workflow_run", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.GitHubReleasePut(ctx, &store.GitHubRelease{Service: "web", Version: "abc", Repository: "o/r", Event: "push", CreatedAt: t0}); err != nil {
			return err
		}
		if err := tx.GitHubSyncPut(ctx, &store.GitHubSync{Service: "web", Version: "abc", Environment: "staging", DeploymentID: 42, DeploymentState: "queued", UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.GitHubSyncPut(ctx, &store.GitHubSync{Service: "web", Version: "abc", Environment: "staging", DeploymentID: 42, DeploymentState: "success",
			StatusState: "pending", StatusDescription: "baking", UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.GitHubHealthPut(ctx, &store.GitHubHealth{Service: "web", BehindSince: t0, LastError: "503", UpdatedAt: t0}); err != nil {
			return err
		}
		if err := tx.GitHubHealthPut(ctx, &store.GitHubHealth{Service: "api", UpdatedAt: t0}); err != nil {
			return err
		}
		return tx.GitHubComparePut(ctx, &store.GitHubCompare{Repository: "o/r", Base: "a", Head: "b", Body: []byte(`{"commits":[]}`), FetchedAt: t0})
	}))
	s = reopen(t, s)
	ds, err := s.GitHubDeliveryList(ctx, &store.GitHubDeliveryListParams{})
	require.NoError(t, err)
	require.Len(t, ds, 2)
	// A delivery that failed gives its ID back, so a redelivery is tried.
	failed, err := insert(store.GitHubDelivery{DeliveryID: "d-2", Event: "push", Accepted: true, Outcome: "processing", ReceivedAt: t0})
	require.NoError(t, err)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.GitHubDeliveryFinish(ctx, &store.GitHubDeliveryFinishParams{ID: failed, Outcome: "failed", Release: true})
	}))
	_, err = insert(store.GitHubDelivery{DeliveryID: "d-2", Event: "push", Accepted: true, Outcome: "processing", ReceivedAt: t0})
	require.NoError(t, err)
	require.Equal(t, store.GitHubDelivery{ID: id, DeliveryID: "d-1", Event: "push", Accepted: true, Outcome: "created", Detail: "web", ReceivedAt: t0.Add(time.Second)}, ds[0])
	require.False(t, ds[1].Accepted)
	rel, err := s.GitHubReleaseGet(ctx, "web", "abc")
	require.NoError(t, err)
	require.Equal(t, []int64{7, 9}, rel.PRs, "the first event's view is kept")
	require.Equal(t, "workflow_run", rel.Event)
	_, err = s.GitHubReleaseGet(ctx, "web", "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	syncs, err := s.GitHubSyncList(ctx, "web", "abc")
	require.NoError(t, err)
	require.Equal(t, []store.GitHubSync{{Service: "web", Version: "abc", Environment: "staging", DeploymentID: 42, DeploymentState: "success",
		StatusState: "pending", StatusDescription: "baking", UpdatedAt: t0}}, syncs)
	hs, err := s.GitHubHealthList(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.GitHubHealth{{Service: "web", BehindSince: t0, LastError: "503", UpdatedAt: t0}}, hs, "only services GitHub is behind on")
	c, err := s.GitHubCompareGet(ctx, "o/r", "a", "b")
	require.NoError(t, err)
	require.JSONEq(t, `{"commits":[]}`, string(c.Body))
}
