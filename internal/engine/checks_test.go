package engine

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// stagingApp is a real HTTP server standing in for the staging app that a
// health check watches; its status code can be changed.
func stagingApp(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var status atomic.Int64
	status.Store(http.StatusOK)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(srv.Close)
	return srv, &status
}

func closedPort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// TestChecksDuringBake covers rules 8 and 9 in the engine: a healthy check
// lets the bake complete; a failing one marks the release failed-bake and
// locks production with the check's name, value and bound; an
// inconclusive one (Prometheus unreachable) holds the bake and says why.
func TestChecksDuringBake(t *testing.T) {
	t.Parallel()
	app, status := stagingApp(t)
	max := 0.5
	cfg := testConfig()
	cfg.Services[0].Environments[1].Checks = []check.Spec{
		{Name: "staging-health", Interval: time.Second, HTTP: &check.HTTPSpec{URL: app.URL + "/healthz", ExpectStatus: 200}},
	}
	cfg.Services[1].Environments[1].Checks = []check.Spec{
		{Name: "staging-errors", Interval: time.Second, Prometheus: &check.PrometheusSpec{URL: "http://" + closedPort(t), Query: "up", Max: &max}},
	}
	b := setup(t, "sqlite", cfg)
	ctx := context.Background()

	// Healthy: the bake completes once the check has run since it started.
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(b.clock.Now().Add(testBake))
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	require.Equal(t, "", b.version(t, "web", "production"), "the check has not run since the bake started")
	_, d, err := b.e.Status(ctx, "web")
	require.NoError(t, err)
	require.Equal(t, pipeline.WaitChecks, d.Environments[1].Wait.Kind)
	res, err := b.e.CheckNow(ctx, "web", "production")
	require.NoError(t, err)
	require.Equal(t, pipeline.CheckHealthy, res[0].Outcome)
	b.settle(t, "web")
	require.Equal(t, "a", b.version(t, "web", "production"))

	// Failing: the release is marked failed-bake and production is locked.
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "b"})
	require.NoError(t, err)
	b.settle(t, "web")
	status.Store(http.StatusInternalServerError)
	res, err = b.e.CheckNow(ctx, "web", "production")
	require.NoError(t, err)
	require.Equal(t, pipeline.CheckFailing, res[0].Outcome)
	_, d, err = b.e.Status(ctx, "web")
	require.NoError(t, err)
	require.Len(t, d.Environments[1].Locks, 1)
	lock := d.Environments[1].Locks[0]
	require.Equal(t, pipeline.ActorSystem, lock.Actor)
	require.Contains(t, lock.Reason, "staging-health")
	require.Contains(t, lock.Reason, "500")
	// Even when the app recovers and someone unlocks, b stays out.
	status.Store(http.StatusOK)
	b.clock.Set(b.clock.Now().Add(testBake))
	_, err = b.e.CheckNow(ctx, "web", "production")
	require.NoError(t, err)
	_, err = b.e.Unlock(ctx, "ana", "web", "production", "app fixed")
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "a", b.version(t, "web", "production"), "a failed-bake release is never promoted")
	events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web"})
	require.NoError(t, err)
	var failed *pipeline.Event
	for i := range events {
		if events[i].Type == pipeline.EventCheckFailed {
			failed = &events[i]
		}
	}
	require.NotNil(t, failed)
	require.Equal(t, "b", failed.Version)

	// Inconclusive: Prometheus unreachable; the bake never completes.
	_, err = b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "api", Version: "x"})
	require.NoError(t, err)
	b.settle(t, "api")
	b.clock.Set(b.clock.Now().Add(testBake))
	for k := 0; k < 3; k++ {
		res, err = b.e.CheckNow(ctx, "api", "production")
		require.NoError(t, err)
		require.Equal(t, pipeline.CheckInconclusive, res[0].Outcome)
	}
	b.settle(t, "api")
	require.Equal(t, "", b.version(t, "api", "production"), "missing data is not good news")
	_, d, err = b.e.Status(ctx, "api")
	require.NoError(t, err)
	require.Equal(t, pipeline.WaitChecks, d.Environments[1].Wait.Kind)
	require.Contains(t, d.Environments[1].Wait.Message, "staging-errors is inconclusive")
	require.Empty(t, d.Environments[1].Locks, "inconclusive does not lock; it waits")
}
