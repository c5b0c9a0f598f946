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
	v1 := mustRelease(t, s, "web", "v1")
	v2 := mustRelease(t, s, "web", "v2")
	v3 := mustRelease(t, s, "web", "v3")
	mustRelease(t, s, "web", "v4")
	rng, err := s.ReleaseList(ctx, &store.ReleaseListParams{Service: "web", AfterID: v1.ID, UpToID: v3.ID})
	require.NoError(t, err)
	require.Len(t, rng, 2, "a bisect's range: after v1, up to v3")
	require.Equal(t, v3.ID, rng[0].ID)
	require.Equal(t, v2.ID, rng[1].ID)
	var b pipeline.Bisect
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		b, err = tx.BisectInsert(ctx, &pipeline.Bisect{Service: "web", Environment: "staging", Good: "v1", Bad: "v8",
			Check: "smoke", Repeat: 3, ReturnTo: "v8", State: pipeline.BisectRunning, StartedBy: "ana", CreatedAt: t0})
		return err
	}))
	require.NotZero(t, b.ID)
	require.Empty(t, b.Tried)
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
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

// testApprovals: approvals are kept once per person, release and
// environment; fix and creator survive on the release; ServiceState
// carries the approvals Decide counts.
func testApprovals(t *testing.T, open Factory) {
	s, reopen := open(t)
	ctx := context.Background()
	var fix pipeline.Release
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, "web", t0); err != nil {
			return err
		}
		var err error
		fix, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "fix1", CreatedAt: t0, Fix: true,
			FixReason: "INC-1 revert", Creator: "ana", CreatorTokenID: 7})
		return err
	}))
	require.True(t, fix.Fix)
	approve := func(actor string, token int64) error {
		return s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.ApprovalInsert(ctx, &pipeline.Approval{Service: "web", Environment: "production", ReleaseID: fix.ID,
				Actor: actor, TokenID: token, Reason: "ok", CreatedAt: t0})
			return err
		})
	}
	require.NoError(t, approve("bo", 8))
	require.True(t, errors.Is(approve("bo", 8), store.ErrConflict), "once per person")
	s = reopen(t, s)
	got, err := s.ReleaseGet(ctx, "web", "fix1")
	require.NoError(t, err)
	require.Equal(t, "INC-1 revert", got.FixReason)
	require.Equal(t, "ana", got.Creator)
	require.Equal(t, int64(7), got.CreatorTokenID)
	st, err := s.ServiceState(ctx, "web", []pipeline.EnvSpec{{Name: "staging"}, {Name: "production"}})
	require.NoError(t, err)
	require.Len(t, st.Approvals, 1)
	require.Equal(t, "bo", st.Approvals[0].Actor)
	require.Equal(t, int64(8), st.Approvals[0].TokenID)
}
