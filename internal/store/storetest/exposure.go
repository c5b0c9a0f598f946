package storetest

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// testExposure: the exposure gate's counts reach ServiceState for the
// environment below a gate, from the gate's source only, people once each,
// and survive a restart; the beacon key is made once.
func testExposure(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	a := mustRelease(t, s, "web", "a")
	b := mustRelease(t, s, "web", "b")
	add := func(p store.ExposureAddParams) {
		t.Helper()
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.ExposureAdd(ctx, &p) }))
	}
	add(store.ExposureAddParams{Service: "web", Environment: "staging", ReleaseID: a.ID, Requests: 300, People: []string{"p1", "p2"}, At: t0})
	add(store.ExposureAddParams{Service: "web", Environment: "staging", ReleaseID: a.ID, Requests: 200, People: []string{"p2"}, At: t0})
	add(store.ExposureAddParams{Service: "web", Environment: "staging", ReleaseID: b.ID, Requests: 7, At: t0})
	add(store.ExposureAddParams{Service: "web", Environment: "production", ReleaseID: a.ID, Requests: 9000, At: t0})
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.ExposureSet(ctx, &store.ExposureSetParams{Service: "web", Environment: "staging", ReleaseID: a.ID, Requests: 42, At: t0})
	}))

	envs := func(source string) []pipeline.EnvSpec {
		return []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: time.Hour, Exposure: &pipeline.Exposure{Requests: 500, People: 3, Source: source}}}
	}
	s = reopen(t, s)
	st, err := s.ServiceState(ctx, "web", envs(store.ExposureRouter))
	require.NoError(t, err)
	got := map[int64]pipeline.ExposureCount{}
	for _, c := range st.Exposure {
		require.Equal(t, "staging", c.Environment, "only the environment below the gate")
		sort.Strings(c.People)
		got[c.ReleaseID] = c
	}
	require.EqualValues(t, 500, got[a.ID].Requests, "router batches add up")
	require.Equal(t, []string{"p1", "p2"}, got[a.ID].People, "a person is counted once")
	require.EqualValues(t, 7, got[b.ID].Requests)

	st, err = s.ServiceState(ctx, "web", envs(store.ExposurePrometheus))
	require.NoError(t, err)
	for _, c := range st.Exposure {
		if c.ReleaseID == a.ID {
			require.EqualValues(t, 42, c.Requests, "Prometheus's value, set, not added")
		}
	}
	st, err = s.ServiceState(ctx, "web", []pipeline.EnvSpec{{Name: "staging"}, {Name: "production"}})
	require.NoError(t, err)
	require.Empty(t, st.Exposure, "no gate, nothing loaded")

	var k1, k2 []byte
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		k1, err = tx.BeaconKey(ctx, []byte("first-key-000000"), t0)
		return err
	}))
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		k2, err = tx.BeaconKey(ctx, []byte("second-key-00000"), t0)
		return err
	}))
	require.Equal(t, []byte("first-key-000000"), k1)
	require.Equal(t, k1, k2, "every replica signs with the first key stored")
}
