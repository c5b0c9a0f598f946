package check

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Range queries against a real Prometheus scraping a real app: the values
// of one series come back in order; no series, several series and an
// unreachable server are errors (no data is not good news).
func TestPrometheusRangeServer(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	prom := startPrometheus(t, app.srv.Listener.Addr().String())
	ctx := context.Background()
	start := time.Now()
	var values []float64
	require.Eventually(t, func() bool {
		var err error
		values, err = PrometheusRange(ctx, prom.URL, `sum(app_requests_total{code="200"})`, start, time.Now(), time.Second)
		return err == nil && len(values) >= 3
	}, 30*time.Second, 250*time.Millisecond, "three seconds of samples")
	for i := 1; i < len(values); i++ {
		require.GreaterOrEqual(t, values[i], values[i-1], "a counter's samples in time order: %v", values)
	}

	_, err := PrometheusRange(ctx, prom.URL, `app_requests_total{code="404"}`, start, time.Now(), time.Second)
	require.ErrorContains(t, err, "returned no data")
	_, err = PrometheusRange(ctx, prom.URL, `app_requests_total`, start, time.Now(), time.Second)
	require.ErrorContains(t, err, "aggregate it to one")
	_, err = PrometheusRange(ctx, prom.URL, `sum(`, start, time.Now(), time.Second)
	require.ErrorContains(t, err, "rejected the query")
	prom.Stop()
	_, err = PrometheusRange(ctx, prom.URL, `sum(app_requests_total)`, start, time.Now(), time.Second)
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "unreachable"), err.Error())
	_, err = PrometheusRange(ctx, "ftp://x", `up`, start, time.Now(), time.Second)
	require.ErrorContains(t, err, "must be an absolute http")
}
