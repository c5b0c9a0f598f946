package check

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNew(t *testing.T) {
	t.Parallel()
	prom := &PrometheusSpec{URL: "http://127.0.0.1:9090", Query: "up", Max: ptr(1)}
	tests := []struct {
		name string
		spec Spec
		err  string // "" = valid
	}{
		{"http", Spec{Name: "c", HTTP: &HTTPSpec{URL: "https://staging.example.com/healthz"}}, ""},
		{"prometheus", Spec{Name: "c", Prometheus: prom}, ""},
		{"datadog", Spec{Name: "c", Datadog: &DatadogSpec{Query: "avg:x{*}", Min: ptr(0)}}, ""},
		{"command", Spec{Name: "c", Command: &CommandSpec{Command: []string{"./smoke.sh"}}}, ""},
		{"none", Spec{Name: "c"}, "check c: set one of http, prometheus, datadog or command"},
		{"two", Spec{Name: "c", HTTP: &HTTPSpec{URL: "http://x"}, Prometheus: prom}, "check c: set only one of http, prometheus, datadog or command, not http and prometheus"},
		{"no name", Spec{HTTP: &HTTPSpec{URL: "http://x"}}, "check (unnamed): a check needs a name"},
		{"negative timeout", Spec{Name: "c", Timeout: -time.Second, Prometheus: prom}, "check c: timeout -1s is negative"},
		{"min_samples on http", Spec{Name: "c", MinSamples: 5, HTTP: &HTTPSpec{URL: "http://x"}}, "min_samples applies to prometheus and datadog checks only"},
		{"relative http url", Spec{Name: "c", HTTP: &HTTPSpec{URL: "/healthz"}}, "must be an absolute http:// or https:// URL"},
		{"bad status", Spec{Name: "c", HTTP: &HTTPSpec{URL: "http://x", ExpectStatus: 2000}}, "expect_status 2000"},
		{"prometheus without bound", Spec{Name: "c", Prometheus: &PrometheusSpec{URL: "http://x", Query: "up"}}, "set max, min or both"},
		{"prometheus min above max", Spec{Name: "c", Prometheus: &PrometheusSpec{URL: "http://x", Query: "up", Min: ptr(2), Max: ptr(1)}}, "min 2 is above max 1"},
		{"prometheus NaN bound", Spec{Name: "c", Prometheus: &PrometheusSpec{URL: "http://x", Query: "up", Max: ptr(math.NaN())}}, "cannot be NaN"},
		{"prometheus no query", Spec{Name: "c", Prometheus: &PrometheusSpec{URL: "http://x", Max: ptr(1)}}, "prometheus query is empty"},
		{"prometheus no url", Spec{Name: "c", Prometheus: &PrometheusSpec{Query: "up", Max: ptr(1)}}, "prometheus url"},
		{"datadog no query", Spec{Name: "c", Datadog: &DatadogSpec{Max: ptr(1)}}, "datadog query is empty"},
		{"datadog bad site", Spec{Name: "c", Datadog: &DatadogSpec{Site: "ftp://x", Query: "q", Max: ptr(1)}}, "datadog site"},
		{"empty command", Spec{Name: "c", Command: &CommandSpec{}}, "check c: command is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := New(tt.spec)
			if tt.err == "" {
				require.NoError(t, err)
				require.Equal(t, tt.spec.Name, c.Name())
				return
			}
			require.ErrorContains(t, err, tt.err)
			require.Nil(t, c)
		})
	}
}

// New copies what it keeps: changing the spec afterwards changes nothing.
func TestNewCopiesTheSpec(t *testing.T) {
	t.Parallel()
	maxV := 1.0
	spec := Spec{Name: "c", Prometheus: &PrometheusSpec{URL: "http://127.0.0.1:9090", Query: "up", Max: &maxV}}
	c, err := New(spec)
	require.NoError(t, err)
	maxV = 5
	require.Equal(t, "max 1", c.(*prometheusChecker).bounds.String())
	require.Equal(t, DefaultTimeout, c.(*prometheusChecker).timeout)
}

func TestFormatValue(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0: "0", 0.5: "0.5", 200: "200", 0.8333333333: "0.8333", 1.0e-5: "1e-05",
		12345.678: "12345.7", math.Inf(1): "+Inf", math.NaN(): "NaN", -3: "-3",
	} {
		require.Equal(t, want, formatValue(v))
	}
}

// No provider ever returns Healthy when it had nothing to judge (SPEC rule
// 9). For metric providers that is Inconclusive; for http and command, whose
// subject is the release itself, it is Failing (see the package doc).
func TestNoDataIsNeverHealthy(t *testing.T) {
	t.Parallel()
	now := time.Now()
	refused := closedURL(t)
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Reading the body (the Prometheus client POSTs a form) lets the
		// server notice when the client gives up and hangs up.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(hang.Close)
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(empty.Close)

	ddWith := func(t *testing.T, body string, tc ddCase) Checker {
		f := newFakeDatadog(t, now, 5*time.Minute, http.StatusOK, body)
		return newDatadogCheck(t, f.srv.URL, now, tc)
	}
	ddMax := ddCase{spec: DatadogSpec{Max: ptr(1)}}

	tests := []struct {
		name    string
		checker func(t *testing.T) Checker
		want    Outcome
	}{
		{"http: connection refused", func(t *testing.T) Checker { return newHTTPCheck(t, refused, HTTPSpec{}, 0) }, Failing},
		{"http: no answer", func(t *testing.T) Checker { return newHTTPCheck(t, hang.URL, HTTPSpec{}, 100*time.Millisecond) }, Failing},
		{"http: empty body", func(t *testing.T) Checker { return newHTTPCheck(t, empty.URL, HTTPSpec{BodyContains: "ok"}, 0) }, Failing},

		{"prometheus: unreachable", func(t *testing.T) Checker { return newPromCheck(t, refused, "up", ptr(1), nil, 0) }, Inconclusive},
		{"prometheus: empty vector", func(t *testing.T) Checker {
			return newPromCheck(t, fakePrometheus(t, http.StatusOK, promVector()), "up", ptr(1), nil, 0)
		}, Inconclusive},
		{"prometheus: empty vector, min bound", func(t *testing.T) Checker {
			return newPromCheck(t, fakePrometheus(t, http.StatusOK, promVector()), "up", nil, ptr(1), 0)
		}, Inconclusive},
		{"prometheus: NaN", func(t *testing.T) Checker {
			return newPromCheck(t, fakePrometheus(t, http.StatusOK, promVector(promSample("a", "NaN"))), "up", ptr(1), nil, 0)
		}, Inconclusive},
		{"prometheus: too few series", func(t *testing.T) Checker {
			return newPromCheck(t, fakePrometheus(t, http.StatusOK, promVector(promSample("a", "0"))), "up", ptr(1), nil, 2)
		}, Inconclusive},
		{"prometheus: hangs", func(t *testing.T) Checker {
			c := newPromCheck(t, hang.URL, "up", ptr(1), nil, 0)
			c.(*prometheusChecker).timeout = 100 * time.Millisecond
			return c
		}, Inconclusive},

		{"datadog: unreachable", func(t *testing.T) Checker { return newDatadogCheck(t, refused, now, ddMax) }, Inconclusive},
		{"datadog: no series", func(t *testing.T) Checker { return ddWith(t, ddAnswer("[]"), ddMax) }, Inconclusive},
		{"datadog: only null points", func(t *testing.T) Checker {
			return ddWith(t, ddAnswer("["+ddOneSeries("env:staging", `[[1700000000000, null]]`)+"]"), ddMax)
		}, Inconclusive},
		{"datadog: empty pointlist", func(t *testing.T) Checker {
			return ddWith(t, ddAnswer("["+ddOneSeries("env:staging", `[]`)+"]"), ddMax)
		}, Inconclusive},
		{"datadog: too few points", func(t *testing.T) Checker {
			return ddWith(t, ddAnswer("["+ddOneSeries("env:staging", `[[1700000000000, 0]]`)+"]"),
				ddCase{spec: DatadogSpec{Max: ptr(1)}, minSamples: 2})
		}, Inconclusive},
		{"datadog: no keys", func(t *testing.T) Checker {
			return ddWith(t, ddAnswer("["+ddOneSeries("env:staging", `[[1700000000000, 0]]`)+"]"),
				ddCase{spec: DatadogSpec{Max: ptr(1)}, env: map[string]string{}})
		}, Inconclusive},

		{"command: not found", func(t *testing.T) Checker {
			c, err := New(Spec{Name: "smoke", Command: &CommandSpec{Command: []string{"bakery-no-such-smoke-test"}}})
			require.NoError(t, err)
			return c
		}, Failing},
		{"command: never finishes", func(t *testing.T) Checker {
			c, err := New(Spec{Name: "smoke", Timeout: 100 * time.Millisecond, Command: &CommandSpec{Command: []string{"sleep", "30"}}})
			require.NoError(t, err)
			return c
		}, Failing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := tt.checker(t)
			r := c.Check(context.Background())
			require.NotEqual(t, Healthy, r.Outcome, "no data must never be healthy: %s", r.Reason)
			require.Equal(t, tt.want, r.Outcome, r.Reason)
			require.True(t, strings.HasPrefix(r.Reason, c.Name()+": "), r.Reason)
			require.False(t, r.At.IsZero())
			require.NotEmpty(t, r.Bound)
			if r.Outcome == Inconclusive {
				require.Nil(t, r.Value, "an inconclusive result has no value")
			}
			t.Log(r.Reason)
		})
	}
}
