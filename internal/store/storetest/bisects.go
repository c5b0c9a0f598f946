package storetest

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// testBisects: one running bisect per service; its probes survive a
// restart; ServiceState carries the running one (Decide's hold); an ended
// bisect is never written again.
func testBisects(t *testing.T, open Factory) {
	s, reopen := open(t)
	ctx := context.Background()
	mustRelease(t, s, "web", "v1")
	var b pipeline.Bisect
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		b, err = tx.BisectInsert(ctx, &pipeline.Bisect{Service: "web", Environment: "staging", Good: "v1", Bad: "v8",
			Check: "smoke", Repeat: 3, ReturnTo: "v8", State: pipeline.BisectRunning, StartedBy: "ana", CreatedAt: t0})
		return err
	}))
	require.NotZero(t, b.ID)
	require.Empty(t, b.Tried)
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.BisectInsert(ctx, &pipeline.Bisect{Service: "web", Environment: "staging", Good: "v1", Bad: "v8",
			Check: "smoke", Repeat: 1, State: pipeline.BisectRunning, StartedBy: "bo", CreatedAt: t0})
		return err
	})
	require.True(t, errors.Is(err, store.ErrConflict), "a second running bisect of web: %v", err)

	b.Tried = append(b.Tried, pipeline.BisectProbe{Version: "v8", Outcome: "failing", Runs: []string{"failing"}, Evidence: "exit 1"})
	b.Probe, b.Deploys, b.UpdatedAt = "v4", 1, t0
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.BisectUpdate(ctx, &b)
		return err
	}))
	s = reopen(t, s)
	got, err := s.BisectGet(ctx, b.ID)
	require.NoError(t, err)
	require.Equal(t, "v4", got.Probe)
	require.Equal(t, 3, got.Repeat)
	require.Equal(t, []pipeline.BisectProbe{{Version: "v8", Outcome: "failing", Runs: []string{"failing"}, Evidence: "exit 1"}}, got.Tried)
	st, err := s.ServiceState(ctx, "web", []pipeline.EnvSpec{{Name: "staging"}})
	require.NoError(t, err)
	require.NotNil(t, st.Bisect)
	require.Equal(t, b.ID, st.Bisect.ID)

	got.State, got.Culprit, got.EndedAt = pipeline.BisectFound, "v5", t0
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.BisectUpdate(ctx, &got)
		return err
	}))
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.BisectUpdate(ctx, &got)
		return err
	})
	require.True(t, errors.Is(err, store.ErrNotFound), "an ended bisect is not written again: %v", err)
	st, err = s.ServiceState(ctx, "web", []pipeline.EnvSpec{{Name: "staging"}})
	require.NoError(t, err)
	require.Nil(t, st.Bisect)
	list, err := s.BisectList(ctx, &store.BisectListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "v5", list[0].Culprit)
}
