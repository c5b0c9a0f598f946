package engine

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

func promExposureConfig(url string) *config.Config {
	cfg := testConfig()
	cfg.Services[0].Environments[1].Exposure = &config.Exposure{Requests: 500, AfterMaxWait: config.AfterMaxWaitHold,
		Prometheus: &config.ExposurePrometheus{URL: url, Query: `sum(app_requests_total{version="{version}"})`, Min: 500}}
	return cfg
}

func (b *testBundle) prodWait(t *testing.T) pipeline.Wait {
	t.Helper()
	_, d, err := b.e.Status(context.Background(), "web")
	require.NoError(t, err)
	return d.Environments[1].Wait
}

// TestExposurePrometheus: the leader reads a release's requests from a
// real Prometheus with {version} substituted; the gate promotes once the
// value reaches requests.
func TestExposurePrometheus(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	served.Store(200)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE app_requests_total counter\napp_requests_total{version=\"a\"} %d\napp_requests_total{version=\"other\"} 100000\n", served.Load())
	}))
	t.Cleanup(app.Close)
	prom := testutil.StartPrometheus(t, strings.TrimPrefix(app.URL, "http://"))
	b := setup(t, "sqlite", promExposureConfig(prom.URL))
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	require.Equal(t, "a", b.version(t, "web", "staging"))
	b.clock.Set(start.Add(2 * testBake))

	// The first scrape comes after about 6 s: read until Prometheus has it.
	require.Eventually(t, func() bool {
		b.e.exposure.readPrometheus(ctx)
		return strings.Contains(b.prodWait(t).Message, "200 of 500 requests")
	}, 30*time.Second, 200*time.Millisecond, "the wait names what Prometheus counted: %s", b.prodWait(t).Message)
	require.Equal(t, pipeline.WaitExposure, b.prodWait(t).Kind)
	require.Equal(t, "", b.version(t, "web", "production"))

	served.Store(600)
	require.Eventually(t, func() bool {
		b.e.exposure.readPrometheus(ctx)
		b.settle(t, "web")
		return b.version(t, "web", "production") == "a"
	}, 30*time.Second, 200*time.Millisecond, "600 requests complete the gate")
}

// TestExposurePrometheusUnreachable: a Prometheus that cannot be reached
// writes nothing; the gate waits and says what it has (rule 9).
func TestExposurePrometheusUnreachable(t *testing.T) {
	t.Parallel()
	b := setup(t, "sqlite", promExposureConfig("http://127.0.0.1:1"))
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "a"})
	require.NoError(t, err)
	b.settle(t, "web")
	b.clock.Set(start.Add(48 * time.Hour))
	b.e.exposure.readPrometheus(ctx)
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	b.settle(t, "web")
	require.Equal(t, "", b.version(t, "web", "production"), "no data is no exposure")
	w := b.prodWait(t)
	require.Equal(t, pipeline.WaitExposure, w.Kind)
	require.Contains(t, w.Message, "a baked 1h; 0 of 500 requests in staging")
}
