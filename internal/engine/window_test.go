package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/window"
)

// TestWindowAcrossFallBack is rule 4 with a real schedule and a fake clock:
// a release baked on Friday evening in New York waits over the weekend in
// which the clocks fall back, the engine's wake-up is set for Monday 09:00
// EST exactly, and at that moment the newest baked release is promoted.
func TestWindowAcrossFallBack(t *testing.T) {
	t.Parallel()
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	entry, err := window.ParseEntry("Mon-Fri 09:00-18:00")
	require.NoError(t, err)
	cfg := testConfig()
	cfg.Services[0].Environments[1].Window = window.New(ny, []window.Entry{entry}, nil)
	b := setup(t, "sqlite", cfg)
	ctx := context.Background()

	friday := time.Date(2026, 10, 30, 17, 30, 0, 0, ny) // EDT
	b.clock.Set(friday)
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(friday.Add(testBake)) // 18:30: baked, window closed
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "", b.version(t, "web", "production"))

	monday := time.Date(2026, 11, 2, 9, 0, 0, 0, ny) // EST, after the fall-back
	require.Equal(t, 14, monday.UTC().Hour())
	_, d, err := b.e.Status(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, pipeline.WaitWindow, d.Environments[1].Wait.Kind)
	require.True(t, d.Environments[1].Wait.Until.Equal(monday), "opens %s", d.Environments[1].Wait.Until)
	armed := b.e.timers.armed("web")
	require.False(t, armed.IsZero(), "a wake-up is armed for the opening: nobody has to act")
	require.True(t, armed.Equal(monday), "armed for %s", armed)

	// A newer release arrives over the weekend and bakes too.
	b.clock.Set(time.Date(2026, 10, 31, 12, 0, 0, 0, ny))
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "b"})
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "b", b.version(t, "web", "staging"), "staging deploys on weekends")

	b.clock.Set(monday.Add(-time.Second))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "", b.version(t, "web", "production"), "not a second early")
	b.clock.Set(monday)
	require.NoError(t, b.e.Reconcile(ctx, "web")) // what the armed timer does
	b.settle(t, "web")
	require.Equal(t, "b", b.version(t, "web", "production"), "the newest baked release goes at the opening")
}
