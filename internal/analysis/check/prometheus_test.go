package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

// fakePrometheus answers every query with status and body, for the answers
// a real server is hard to make give (NaN, a string, an error).
func fakePrometheus(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			t.Errorf("fake Prometheus: unexpected path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newPromCheck(t *testing.T, url, query string, maxV, minV *float64, minSamples int) Checker {
	t.Helper()
	c, err := New(Spec{
		Name: "staging-errors", Timeout: 3 * time.Second, MinSamples: minSamples,
		Prometheus: &PrometheusSpec{URL: url, Query: query, Max: maxV, Min: minV},
	})
	require.NoError(t, err)
	return c
}

func promVector(samples ...string) string {
	s := ""
	for i, x := range samples {
		if i > 0 {
			s += ","
		}
		s += x
	}
	return `{"status":"success","data":{"resultType":"vector","result":[` + s + `]}}`
}

func promSample(instance, value string) string {
	return `{"metric":{"instance":"` + instance + `"},"value":[1764079200.5,"` + value + `"]}`
}

// The answers of the query API, one at a time, from a fake server.
func TestPrometheusAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		status     int
		body       string
		max, min   *float64
		minSamples int
		outcome    Outcome
		value      *float64
		samples    int
		reason     []string
	}{
		{
			name: "scalar within max", body: `{"status":"success","data":{"resultType":"scalar","result":[1764079200.5,"0.25"]}}`,
			max: ptr(0.5), outcome: Healthy, value: ptr(0.25), samples: 1,
			reason: []string{"staging-errors: 0.25 within max 0.5 (q)"},
		},
		{
			name: "one series beyond max", body: promVector(promSample("a", "0.8333")),
			max: ptr(0.5), outcome: Failing, value: ptr(0.8333), samples: 1,
			reason: []string{"staging-errors: 0.8333 > max 0.5 (q)"},
		},
		{
			name: "several series: the highest against max", body: promVector(promSample("a", "0.1"), promSample("b", "0.7"), promSample("c", "0.2")),
			max: ptr(0.5), outcome: Failing, value: ptr(0.7), samples: 3,
			reason: []string{`0.7 > max 0.5 for {instance="b"}, the highest of 3 series`},
		},
		{
			name: "several series: the lowest against min", body: promVector(promSample("a", "0.99"), promSample("b", "0.97")),
			min: ptr(0.98), outcome: Failing, value: ptr(0.97), samples: 2,
			reason: []string{`0.97 < min 0.98 for {instance="b"}, the lowest of 2 series`},
		},
		{
			name: "min and max both hold", body: promVector(promSample("a", "3"), promSample("b", "4")),
			min: ptr(1), max: ptr(5), outcome: Healthy, value: ptr(4), samples: 2,
		},
		{
			name: "+Inf beyond max", body: promVector(promSample("a", "+Inf")),
			max: ptr(0.5), outcome: Failing, samples: 1, reason: []string{"+Inf > max 0.5"},
		},
		{
			name: "NaN series are left out", body: promVector(promSample("a", "NaN"), promSample("b", "0.1")),
			max: ptr(0.5), outcome: Healthy, value: ptr(0.1), samples: 1,
		},
		{
			name: "empty vector", body: promVector(),
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"query returned no data (q)"},
		},
		{
			name: "NaN", body: promVector(promSample("a", "NaN")),
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"NaN"},
		},
		{
			name: "NaN scalar", body: `{"status":"success","data":{"resultType":"scalar","result":[1764079200.5,"NaN"]}}`,
			min: ptr(0.5), outcome: Inconclusive, reason: []string{"NaN"},
		},
		{
			name: "fewer series than min_samples", body: promVector(promSample("a", "0.1"), promSample("b", "0.1")),
			max: ptr(0.5), minSamples: 3, outcome: Inconclusive, samples: 2,
			reason: []string{"2 series with a value, fewer than min_samples 3"},
		},
		{
			name: "range vector", body: `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1764079200,"1"]]}]}}`,
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"range vector"},
		},
		{
			// client_golang v1.25 does not decode string results at all.
			name: "string", body: `{"status":"success","data":{"resultType":"string","result":[1764079200,"hello"]}}`,
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"Prometheus at "},
		},
		{
			name: "bad query", status: http.StatusBadRequest,
			body: `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`,
			max:  ptr(0.5), outcome: Inconclusive, reason: []string{"rejected the query q", "parse error"},
		},
		{
			name: "server error", status: http.StatusServiceUnavailable, body: "Service Unavailable",
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"answered with an error", "503"},
		},
		{
			name: "not Prometheus", body: "<html>Grafana</html>",
			max: ptr(0.5), outcome: Inconclusive, reason: []string{"not a Prometheus API response"},
		},
		{
			name: "warnings are shown", body: `{"status":"success","warnings":["partial response"],"data":{"resultType":"vector","result":[` + promSample("a", "0.1") + `]}}`,
			max: ptr(0.5), outcome: Healthy, value: ptr(0.1), samples: 1, reason: []string{"Prometheus warned: partial response"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			c := newPromCheck(t, fakePrometheus(t, status, tt.body), "q", tt.max, tt.min, tt.minSamples)
			r := c.Check(context.Background())
			require.Equal(t, tt.outcome, r.Outcome, r.Reason)
			require.Equal(t, tt.samples, r.Samples, r.Reason)
			if tt.value != nil {
				require.NotNil(t, r.Value, r.Reason)
				require.InDelta(t, *tt.value, *r.Value, 1e-12)
			}
			if tt.outcome == Inconclusive {
				require.Nil(t, r.Value, "an inconclusive result has no value")
			}
			for _, s := range tt.reason {
				require.Contains(t, r.Reason, s)
			}
		})
	}
}

// testApp is a tiny app whose /metrics counts requests by status code. Each
// scrape stands for ten requests served since the last one: all 200 while
// it is healthy, and as many 500s as well once it starts failing.
type testApp struct {
	failing atomic.Bool
	srv     *httptest.Server
}

func newTestApp(t *testing.T) *testApp {
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "app_requests_total", Help: "Requests served, by status code.",
	}, []string{"code"})
	reg.MustRegister(requests)
	// Without a 500 series at 0 the error-rate query of a healthy app would
	// return no data (inconclusive), not 0: apps should initialise it.
	requests.WithLabelValues("500")
	app := &testApp{}
	metrics := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	app.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.WithLabelValues("200").Add(10)
		if app.failing.Load() {
			requests.WithLabelValues("500").Add(10)
		}
		metrics.ServeHTTP(w, r)
	}))
	t.Cleanup(app.srv.Close)
	return app
}

// promServer is a real Prometheus process started for one test.
type promServer = testutil.Prometheus

func startPrometheus(t *testing.T, target string) *promServer {
	return testutil.StartPrometheus(t, target)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// pollUntil evaluates c every 250ms until it returns want or limit passes,
// calling each on every result on the way. It returns the result that
// matched.
func pollUntil(t *testing.T, c Checker, want Outcome, limit time.Duration, each func(Result)) Result {
	t.Helper()
	deadline := time.Now().Add(limit)
	var last Result
	for {
		last = c.Check(context.Background())
		each(last)
		if last.Outcome == want {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s within %s; last result: %s: %s", c.Name(), want, limit, last.Outcome, last.Reason)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A real Prometheus scraping a real app: a healthy app passes, an app that
// starts returning 5xx fails, a query with no series and Prometheus stopped
// are inconclusive — never healthy (SPEC rules 8 and 9).
func TestPrometheusServer(t *testing.T) {
	t.Parallel()
	start := time.Now()
	app := newTestApp(t)
	prom := startPrometheus(t, app.srv.Listener.Addr().String())
	t.Logf("prometheus ready after %s", time.Since(start).Round(time.Millisecond))

	const errorRate = `sum(rate(app_requests_total{code=~"5.."}[10s]))`
	errors := newPromCheck(t, prom.URL, errorRate, ptr(0.5), nil, 0)
	noSeries := newPromCheck(t, prom.URL, `sum(rate(app_requests_total{code="599"}[10s]))`, ptr(0.5), nil, 0)
	perCode := newPromCheck(t, prom.URL, `rate(app_requests_total[10s])`, ptr(1e9), nil, 3)

	// Healthy app: inconclusive until Prometheus has two scrapes, then
	// healthy with a rate of 0. Never failing.
	r := pollUntil(t, errors, Healthy, 20*time.Second, func(r Result) {
		require.NotEqual(t, Failing, r.Outcome, r.Reason)
		if r.Outcome == Inconclusive {
			require.Nil(t, r.Value)
		}
	})
	t.Logf("healthy after %s: %s", time.Since(start).Round(time.Millisecond), r.Reason)
	require.NotNil(t, r.Value)
	require.Zero(t, *r.Value)
	require.Equal(t, "max 0.5", r.Bound)
	require.Equal(t, 1, r.Samples)

	r = noSeries.Check(context.Background())
	require.Equal(t, Inconclusive, r.Outcome, r.Reason)
	require.Contains(t, r.Reason, "query returned no data")

	// Two series (200 and 500), min_samples 3.
	r = perCode.Check(context.Background())
	require.Equal(t, Inconclusive, r.Outcome, r.Reason)
	require.Equal(t, 2, r.Samples)

	// The app starts failing: the error rate passes the bound.
	app.failing.Store(true)
	failedAt := time.Now()
	r = pollUntil(t, errors, Failing, 15*time.Second, func(r Result) {
		require.NotEqual(t, Inconclusive, r.Outcome, r.Reason)
	})
	t.Logf("failing %s after the app started failing: %s", time.Since(failedAt).Round(time.Millisecond), r.Reason)
	require.NotNil(t, r.Value)
	require.Greater(t, *r.Value, 0.5)
	require.Contains(t, r.Reason, "staging-errors: ")
	require.Contains(t, r.Reason, "> max 0.5 ("+errorRate+")")

	// Prometheus goes away: inconclusive, for every check, never healthy.
	prom.Stop()
	for _, c := range []Checker{errors, noSeries, perCode} {
		r = c.Check(context.Background())
		require.Equal(t, Inconclusive, r.Outcome, r.Reason)
		require.Contains(t, r.Reason, "Prometheus at "+prom.URL+" unreachable: connection refused")
		require.Nil(t, r.Value)
	}
	t.Logf("whole test: %s", time.Since(start).Round(time.Millisecond))
}
