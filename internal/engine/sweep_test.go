package engine

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
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

// TestReconcileJobAfterADecisionDecidesNothing: the durable reconcile job
// of a deadline decides nothing when this process has decided the service
// since the job's time (the deadline timer got there first), and decides
// when it has not.
func TestReconcileJobAfterADecisionDecidesNothing(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	require.Eventually(t, b.e.IsLeader, 10*time.Second, 5*time.Millisecond)
	b.e.sweep.Stop()
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	b.settle(t, "web")
	var deadline time.Time
	require.Eventually(t, func() bool {
		b.e.sweep.mu.Lock()
		defer b.e.sweep.mu.Unlock()
		deadline = b.e.sweep.next["web"]
		return !deadline.IsZero()
	}, 10*time.Second, 5*time.Millisecond)
	b.e.timers.stop()
	w := &reconcileWorker{e: b.e}
	job := func(at time.Time) *river.Job[ReconcileArgs] {
		return &river.Job[ReconcileArgs]{JobRow: &rivertype.JobRow{Kind: ReconcileArgs{}.Kind()}, Args: ReconcileArgs{Service: "web", At: at}}
	}

	// The deadline passed and nothing decided since: the job decides, and
	// promotes.
	b.clock.Set(deadline.Add(time.Second))
	taken := b.decisionsTaken(t)
	require.NoError(t, w.Work(ctx, job(deadline)))
	require.Equal(t, taken+1, b.decisionsTaken(t), "the job decided")
	b.settle(t, "web")
	require.Equal(t, "v1", b.version(t, "web", "production"))

	// Decided since its time (as after a timer): the job decides nothing.
	taken = b.decisionsTaken(t)
	require.NoError(t, w.Work(ctx, job(deadline.Add(time.Millisecond))))
	require.Equal(t, taken, b.decisionsTaken(t), "decided since the job's time: nothing to do")

	// A job for a time after the last decision decides.
	b.clock.Set(b.clock.Now().Add(time.Minute))
	require.NoError(t, w.Work(ctx, job(b.clock.Now())))
	require.Equal(t, taken+1, b.decisionsTaken(t), "nothing decided since the job's time: it decides")
}
