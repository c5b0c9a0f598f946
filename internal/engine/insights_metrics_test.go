package engine

import (
	"context"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/require"
)

// TestInsightsMetrics: the delivery metrics on /metrics come from the
// insights computation: deployments by outcome, the lead time histogram,
// the queue in front of production and the held lock's age.
func TestInsightsMetrics(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	gather := func() map[string][]*dto.Metric {
		t.Helper()
		families, err := b.reg.Gather()
		require.NoError(t, err)
		out := map[string][]*dto.Metric{}
		for _, f := range families {
			out[f.GetName()] = f.GetMetric()
		}
		return out
	}
	labels := func(m *dto.Metric) map[string]string {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		return l
	}

	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "freeze"})
	require.NoError(t, err)
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "b"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(10 * time.Minute))

	m := gather()
	got := map[string]float64{}
	for _, d := range m["bakery_deployments_total"] {
		l := labels(d)
		require.Len(t, l, 3, "service, environment and outcome only")
		got[l["service"]+"/"+l["environment"]+"/"+l["outcome"]] = d.GetCounter().GetValue()
	}
	require.Equal(t, map[string]float64{"web/staging/succeeded": 2, "web/production/succeeded": 1}, got)
	require.Len(t, m["bakery_lead_time_seconds"], 1)
	h := m["bakery_lead_time_seconds"][0].GetHistogram()
	require.Empty(t, m["bakery_lead_time_seconds"][0].GetLabel(), "no service label")
	require.Equal(t, uint64(1), h.GetSampleCount())
	require.Equal(t, testBake.Seconds(), h.GetSampleSum(), "a's bake was all its lead time on the fake clock")
	waiting := map[string]float64{}
	for _, g := range m["bakery_releases_waiting"] {
		waiting[labels(g)["service"]+"/"+labels(g)["environment"]] = g.GetGauge().GetValue()
	}
	require.Equal(t, map[string]float64{"web/production": 1, "api/production": 0}, waiting)
	require.Len(t, m["bakery_lock_held_seconds"], 1)
	require.Equal(t, (10 * time.Minute).Seconds(), m["bakery_lock_held_seconds"][0].GetGauge().GetValue())

	// The next computation adds only what is new: the counters stay.
	_, err = b.e.Unlock(ctx, "ana", "web", "production", "done")
	require.NoError(t, err)
	b.clock.Set(b.clock.Now().Add(time.Minute))
	m = gather()
	require.Empty(t, m["bakery_lock_held_seconds"])
	for _, d := range m["bakery_deployments_total"] {
		if l := labels(d); l["environment"] == "staging" {
			require.Equal(t, 2.0, d.GetCounter().GetValue())
		}
	}
}

// TestInsightsSeeAnOldLock: a lock placed long before the history read
// (since minus InsightsLookback) and still held is reported with its full
// age; an unknown service is ErrUnknownService.
func TestInsightsSeeAnOldLock(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", testConfig())
	ctx := context.Background()
	_, err := b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "quarter-end freeze"})
	require.NoError(t, err)
	placed := b.clock.Now()
	b.clock.Set(placed.Add(60 * 24 * time.Hour))
	now := b.clock.Now()
	rep, err := b.e.Insights(ctx, InsightsParams{Service: "web", Since: now.Add(-7 * 24 * time.Hour)})
	require.NoError(t, err)
	require.Len(t, rep.Locks, 1)
	require.True(t, rep.Locks[0].Held)
	require.Equal(t, now.Sub(placed).Seconds(), rep.Locks[0].HeldSeconds)
	require.Equal(t, "quarter-end freeze", rep.Locks[0].Reason)
	require.Equal(t, "ana", rep.Locks[0].By)

	_, err = b.e.Insights(ctx, InsightsParams{Service: "nope", Since: now.Add(-time.Hour)})
	require.ErrorIs(t, err, ErrUnknownService)
	_, err = b.e.Insights(ctx, InsightsParams{Since: now.Add(time.Hour)})
	require.ErrorIs(t, err, ErrInvalid)
}

// TestInsightsFailureWindowFromConfig: with server.insights.failure_window
// 1h, an emergency deploy two hours after a production deployment does
// not make it a failed change; a request may still name a longer window.
func TestInsightsFailureWindowFromConfig(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Server.Insights.FailureWindow = time.Hour
	b := setup(t, "sqlite", cfg)
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "a", b.version(t, "web", "production"))
	b.clock.Set(b.clock.Now().Add(2 * time.Hour))
	_, err = b.e.Emergency(ctx, "ana", EmergencyParams{Service: "web", Version: "fix", Artifact: "img:fix", Reason: "revert"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(time.Minute))
	since := b.clock.Now().Add(-24 * time.Hour)

	rep, err := b.e.Insights(ctx, InsightsParams{Service: "web", Since: since})
	require.NoError(t, err)
	require.Equal(t, 2, rep.Deployments)
	require.Equal(t, 1, rep.EmergencyDeploys)
	require.Zero(t, rep.ChangeFailures, "the emergency came after the configured hour")
	rep, err = b.e.Insights(ctx, InsightsParams{Service: "web", Since: since, FailureWindow: 3 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, 1, rep.ChangeFailures, "within the three hours the request names")
}
