package api

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
)

// TestPileUpWarning: a lock held over 12 hours is flagged with the number
// of releases piled up behind it; a younger one is not.
func TestPileUpWarning(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	svc := &config.Service{Name: "web", Environments: []config.Environment{{Name: "staging"}, {Name: "production", Bake: time.Hour}}}
	m := func(now time.Time) readmodel.Service {
		return readmodel.Service{At: now, Environments: []readmodel.Environment{
			{EnvStatus: pipeline.EnvStatus{Name: "staging", Wait: pipeline.Wait{Kind: pipeline.WaitNothing}}, State: readmodel.StateIdle},
			{EnvStatus: pipeline.EnvStatus{Name: "production", Locks: []pipeline.Lock{{ID: 1, Service: "web", Environment: "production", Actor: "ana", Reason: "incident", CreatedAt: t0}},
				Queue: []pipeline.Release{{Version: "a"}, {Version: "b"}, {Version: "c"}}, Wait: pipeline.Wait{Kind: pipeline.WaitLock}},
				Index: 1, Lower: "staging", Bake: time.Hour, State: readmodel.StateLocked},
		}}
	}
	young := serviceView(svc, m(t0.Add(12*time.Hour)))
	require.True(t, young.Environments[1].Locked)
	require.Equal(t, "locked", young.Environments[1].State)
	require.Nil(t, young.Environments[1].PileUp)
	require.Equal(t, 3, young.Environments[1].Queue)

	old := serviceView(svc, m(t0.Add(13*time.Hour)))
	p := old.Environments[1].PileUp
	require.NotNil(t, p)
	require.Equal(t, 3, p.Releases)
	require.Equal(t, "13h0m0s", p.LockedFor)
	require.Contains(t, p.Message, "3 release(s) piled up")
	require.False(t, old.Environments[0].Locked, "staging is not locked")
}
