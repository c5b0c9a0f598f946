package engine

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// decisionsTaken is how many decisions the engine has taken (its decision
// histogram's count).
func (b *testBundle) decisionsTaken(t *testing.T) uint64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, b.e.metrics.decisions.Write(&m))
	return m.GetHistogram().GetSampleCount()
}

// TestSweepDecidesOnlyWhatIsDue: after its first pass the sweep decides for
// no service whose wake-up is not due (an idle service has none; a baking
// one has its deadline), and for one whose wake-up is due, even when the
// deadline timer that should have woken it is gone.
func TestSweepDecidesOnlyWhatIsDue(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	require.Eventually(t, b.e.IsLeader, 10*time.Second, 5*time.Millisecond)
	b.e.sweep.Stop()
	ctx := context.Background()
	s := b.e.sweep

	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "staging"))
	var deadline time.Time
	apiListed := false
	// The deadline is recorded just after the commit settle waits for.
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		deadline = s.next["web"]
		_, apiListed = s.next["api"]
		return !deadline.IsZero()
	}, 10*time.Second, 5*time.Millisecond)
	require.False(t, deadline.IsZero(), "web's next wake-up is its bake deadline")
	require.False(t, apiListed, "an idle service has no wake-up")

	// Not due: a pass decides nothing.
	b.clock.Set(b.clock.Now().Add(sweepEvery + time.Second))
	taken := b.decisionsTaken(t)
	s.runOnce(ctx)
	require.Equal(t, taken, b.decisionsTaken(t), "nothing was due, nothing was decided")

	// Due, and the local timer lost (as if its reconcile had failed): the
	// sweep decides for web alone, which promotes it.
	b.e.timers.stop()
	b.clock.Set(deadline.Add(time.Second))
	taken = b.decisionsTaken(t)
	s.runOnce(ctx)
	require.Equal(t, taken+1, b.decisionsTaken(t), "one decision, for the due service only")
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "production"))
	require.Empty(t, s.due(b.clock.Now()), "web has no wake-up left")

	// A new leader sweeps every service again.
	s.forget()
	b.clock.Set(b.clock.Now().Add(sweepEvery + time.Second))
	taken = b.decisionsTaken(t)
	s.runOnce(ctx)
	require.Equal(t, taken+2, b.decisionsTaken(t), "the first pass after an election decides for every service")
}
