package check

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

const (
	testAPIKey = "api-key-1234"
	testAppKey = "app-key-5678"
	ddQuery    = "sum:trace.http.request.errors{env:staging}.as_rate()"
)

// fakeDatadog serves Datadog's "query timeseries points" API (v1) the way
// its documentation describes it, and checks every request it gets against
// what the check must send: the path, the from/to/query parameters and both
// key headers. A request that differs fails the test.
type fakeDatadog struct {
	t        *testing.T
	srv      *httptest.Server
	from, to int64
	status   int
	body     string
	requests chan struct{}
}

func newFakeDatadog(t *testing.T, now time.Time, window time.Duration, status int, body string) *fakeDatadog {
	f := &fakeDatadog{
		t: t, from: now.Add(-window).Unix(), to: now.Unix(),
		status: status, body: body, requests: make(chan struct{}, 100),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDatadog) serve(w http.ResponseWriter, r *http.Request) {
	f.requests <- struct{}{}
	q := r.URL.Query()
	want := map[string]string{
		"method":             http.MethodGet,
		"path":               "/api/v1/query",
		"from":               strconv.FormatInt(f.from, 10),
		"to":                 strconv.FormatInt(f.to, 10),
		"query":              ddQuery,
		"DD-API-KEY":         testAPIKey,
		"DD-APPLICATION-KEY": testAppKey,
	}
	got := map[string]string{
		"method":             r.Method,
		"path":               r.URL.Path,
		"from":               q.Get("from"),
		"to":                 q.Get("to"),
		"query":              q.Get("query"),
		"DD-API-KEY":         r.Header.Get("DD-API-KEY"),
		"DD-APPLICATION-KEY": r.Header.Get("DD-APPLICATION-KEY"),
	}
	if len(q) != 3 {
		f.t.Errorf("fake Datadog: want exactly from, to and query, got %v", q)
	}
	for k, v := range want {
		if got[k] != v {
			f.t.Errorf("fake Datadog: %s is %q, want %q", k, got[k], v)
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"errors":["the fake rejects this request"]}`))
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.status)
	_, _ = w.Write([]byte(f.body))
}

// ddSeries is the documented answer with the given series (a JSON array),
// in the shape Datadog sends: points as [ms, value-or-null].
func ddAnswer(series string) string {
	return `{
  "status": "ok", "res_type": "time_series", "resp_version": 1,
  "query": "` + ddQuery + `", "message": "", "error": "",
  "from_date": 1700000000000, "to_date": 1700000300000, "group_by": [],
  "series": ` + series + `
}`
}

func ddOneSeries(scope, points string) string {
	return `{"metric": "trace.http.request.errors", "display_name": "trace.http.request.errors", "scope": "` + scope + `",
    "expression": "sum:trace.http.request.errors{` + scope + `}.as_rate()", "unit": null, "aggr": "sum",
    "interval": 20, "length": 3, "start": 1700000000000, "end": 1700000300000, "tag_set": [],
    "pointlist": ` + points + `}`
}

type ddCase struct {
	spec       DatadogSpec
	minSamples int
	env        map[string]string
}

// newDatadogCheck builds a datadog check against f with a fixed clock and
// the given environment (nil: both keys set).
func newDatadogCheck(t *testing.T, siteURL string, now time.Time, tc ddCase) Checker {
	t.Helper()
	spec := tc.spec
	spec.apiURL = siteURL
	if spec.Query == "" {
		spec.Query = ddQuery
	}
	c, err := New(Spec{Name: "staging-errors", Timeout: 2 * time.Second, MinSamples: tc.minSamples, Datadog: &spec})
	require.NoError(t, err)
	env := tc.env
	if env == nil {
		env = map[string]string{"DD_API_KEY": testAPIKey, "DD_APP_KEY": testAppKey}
	}
	dd := c.(*datadogChecker)
	dd.now = func() time.Time { return now }
	dd.getenv = func(k string) string { return env[k] }
	return c
}

func TestDatadog(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	two := ddOneSeries("env:staging,host:a", `[[1700000000000, 0.1], [1700000020000, 0.2], [1700000040000, null]]`) + "," +
		ddOneSeries("env:staging,host:b", `[[1700000000000, 0.4], [1700000020000, null], [1700000040000, 0.3]]`)

	tests := []struct {
		name    string
		tc      ddCase
		status  int
		body    string
		outcome Outcome
		value   *float64
		samples int
		reason  []string
	}{
		{
			name: "healthy: last non-null point of each series, highest held against max",
			tc:   ddCase{spec: DatadogSpec{Max: ptr(0.5)}}, body: ddAnswer("[" + two + "]"),
			outcome: Healthy, value: ptr(0.3), samples: 4,
			reason: []string{"staging-errors: 0.3 within max 0.5 for trace.http.request.errors{env:staging,host:b}, the highest of 2 series"},
		},
		{
			name: "failing: beyond max",
			tc:   ddCase{spec: DatadogSpec{Max: ptr(0.25)}}, body: ddAnswer("[" + two + "]"),
			outcome: Failing, value: ptr(0.3), samples: 4,
			reason: []string{"0.3 > max 0.25", ddQuery},
		},
		{
			name: "failing: lowest series below min",
			tc:   ddCase{spec: DatadogSpec{Min: ptr(0.25)}}, body: ddAnswer("[" + two + "]"),
			outcome: Failing, value: ptr(0.2), samples: 4,
			reason: []string{"0.2 < min 0.25", "host:a}, the lowest of 2 series"},
		},
		{
			name:    "a null last point: the one before it counts",
			tc:      ddCase{spec: DatadogSpec{Max: ptr(1)}},
			body:    ddAnswer("[" + ddOneSeries("env:staging", `[[1700000000000, 0.9], [1700000020000, null]]`) + "]"),
			outcome: Healthy, value: ptr(0.9), samples: 1,
		},
		{
			name:    "only null points",
			tc:      ddCase{spec: DatadogSpec{Max: ptr(1)}},
			body:    ddAnswer("[" + ddOneSeries("env:staging", `[[1700000000000, null], [1700000020000, null]]`) + "]"),
			outcome: Inconclusive,
			reason:  []string{"no data", "all points null"},
		},
		{
			name: "empty series", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}}, body: ddAnswer("[]"),
			outcome: Inconclusive,
			reason:  []string{"query returned no data: no series in the last 5m0s"},
		},
		{
			name: "fewer points than min_samples", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}, minSamples: 5},
			body:    ddAnswer("[" + two + "]"),
			outcome: Inconclusive, samples: 4,
			reason: []string{"4 points", "fewer than min_samples 5"},
		},
		{
			name: "403", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}},
			status: http.StatusForbidden, body: `{"errors": ["Forbidden"]}`,
			outcome: Inconclusive,
			reason:  []string{"HTTP 403: Forbidden", "check DD_API_KEY/DD_APP_KEY"},
		},
		{
			name: "401 names the configured variables", tc: ddCase{
				spec: DatadogSpec{Max: ptr(1), APIKeyEnv: "STAGING_DD_API", AppKeyEnv: "STAGING_DD_APP"},
				env:  map[string]string{"STAGING_DD_API": testAPIKey, "STAGING_DD_APP": testAppKey},
			},
			status: http.StatusUnauthorized, body: `{"errors": ["Unauthorized"]}`,
			outcome: Inconclusive,
			reason:  []string{"check STAGING_DD_API/STAGING_DD_APP"},
		},
		{
			name: "query error in an ok answer", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}},
			body:    `{"status": "error", "error": "Error parsing query: unable to parse sum:trace: Rule 'scope_expr' didn't match", "series": []}`,
			outcome: Inconclusive,
			reason:  []string{"could not run the query", "Error parsing query"},
		},
		{
			name: "400", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}},
			status: http.StatusBadRequest, body: `{"errors": ["Invalid query input"]}`,
			outcome: Inconclusive,
			reason:  []string{"rejected the query", "Invalid query input"},
		},
		{
			name: "not JSON", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}},
			body: "<html>login</html>", outcome: Inconclusive,
			reason: []string{"not a timeseries query response"},
		},
		{
			name: "missing API key variable", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}, env: map[string]string{"DD_APP_KEY": testAppKey}},
			body: ddAnswer("[" + two + "]"), outcome: Inconclusive,
			reason: []string{"environment variable DD_API_KEY is not set"},
		},
		{
			name: "missing app key variable", tc: ddCase{spec: DatadogSpec{Max: ptr(1)}, env: map[string]string{"DD_API_KEY": testAPIKey}},
			body: ddAnswer("[" + two + "]"), outcome: Inconclusive,
			reason: []string{"environment variable DD_APP_KEY is not set"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			window := tt.tc.spec.Window
			if window == 0 {
				window = 5 * time.Minute
			}
			status := tt.status
			if status == 0 {
				status = http.StatusOK
			}
			f := newFakeDatadog(t, now, window, status, tt.body)
			c := newDatadogCheck(t, f.srv.URL, now, tt.tc)
			r := c.Check(context.Background())
			require.Equal(t, tt.outcome, r.Outcome, r.Reason)
			require.Equal(t, now, r.At)
			require.Equal(t, tt.samples, r.Samples)
			if tt.value != nil {
				require.NotNil(t, r.Value, r.Reason)
				require.InDelta(t, *tt.value, *r.Value, 1e-12)
			} else {
				require.Nil(t, r.Value)
			}
			for _, s := range tt.reason {
				require.Contains(t, r.Reason, s)
			}
			if tt.tc.env != nil && len(tt.tc.env) < 2 {
				require.Empty(t, f.requests, "the check must not call Datadog without both keys")
			}
		})
	}
}

// The window is the configured one: from=now-window, to=now.
func TestDatadogWindow(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)
	f := newFakeDatadog(t, now, 90*time.Second, http.StatusOK,
		ddAnswer("["+ddOneSeries("env:staging", `[[1700000000000, 2]]`)+"]"))
	c := newDatadogCheck(t, f.srv.URL, now, ddCase{spec: DatadogSpec{Min: ptr(1), Window: 90 * time.Second}})
	r := c.Check(context.Background())
	require.Equal(t, Healthy, r.Outcome, r.Reason)
	require.Equal(t, "min 1", r.Bound)
	require.Len(t, f.requests, 1)
}

// The keys are read from the process environment by default.
func TestDatadogReadsKeysFromTheEnvironment(t *testing.T) {
	t.Setenv("BAKERY_TEST_DD_API", testAPIKey)
	t.Setenv("BAKERY_TEST_DD_APP", testAppKey)
	f := newFakeDatadog(t, time.Now(), 5*time.Minute, http.StatusOK,
		ddAnswer("["+ddOneSeries("env:staging", `[[1700000000000, 0]]`)+"]"))
	// The fake expects from/to of the moment it was made: pin the clock.
	c, err := New(Spec{Name: "dd", Datadog: &DatadogSpec{
		apiURL: f.srv.URL, Query: ddQuery, APIKeyEnv: "BAKERY_TEST_DD_API", AppKeyEnv: "BAKERY_TEST_DD_APP", Max: ptr(1),
	}})
	require.NoError(t, err)
	fixed := time.Unix(f.to, 0)
	c.(*datadogChecker).now = func() time.Time { return fixed }
	r := c.Check(context.Background())
	require.Equal(t, Healthy, r.Outcome, r.Reason)
}

func TestDatadogUnreachableIsInconclusive(t *testing.T) {
	t.Parallel()
	c := newDatadogCheck(t, closedURL(t), time.Now(), ddCase{spec: DatadogSpec{Max: ptr(1)}})
	r := c.Check(context.Background())
	require.Equal(t, Inconclusive, r.Outcome, r.Reason)
	require.Contains(t, r.Reason, "unreachable: connection refused")
}

func TestDatadogSite(t *testing.T) {
	t.Parallel()
	for site, want := range map[string]string{
		"":                          "https://api.datadoghq.com/api/v1/query",
		"datadoghq.com":             "https://api.datadoghq.com/api/v1/query",
		"datadoghq.eu":              "https://api.datadoghq.eu/api/v1/query",
		"us3.datadoghq.com":         "https://api.us3.datadoghq.com/api/v1/query",
		"US5.datadoghq.com":         "https://api.us5.datadoghq.com/api/v1/query",
		"ap1.datadoghq.com":         "https://api.ap1.datadoghq.com/api/v1/query",
		"ap2.datadoghq.com":         "https://api.ap2.datadoghq.com/api/v1/query",
		"ddog-gov.com":              "https://api.ddog-gov.com/api/v1/query",
		"us2.ddog-gov.com":          "https://api.us2.ddog-gov.com/api/v1/query",
		"api.us5.datadoghq.com":     "https://api.us5.datadoghq.com/api/v1/query",
		"https://api.datadoghq.eu/": "https://api.datadoghq.eu/api/v1/query",
	} {
		c, err := New(Spec{Name: "dd", Datadog: &DatadogSpec{Site: site, Query: ddQuery, Max: ptr(1)}})
		require.NoError(t, err, site)
		require.Equal(t, want, c.(*datadogChecker).endpoint, site)
	}
}

// TestDatadogSiteRefusesOtherHosts: the request carries the API and
// application keys, so a site that is not one of Datadog's — another host,
// plain HTTP, a port, a path, credentials in the URL, a look-alike — is
// refused before any request is made, naming the allowed sites.
func TestDatadogSiteRefusesOtherHosts(t *testing.T) {
	t.Parallel()
	for _, site := range []string{
		"http://127.0.0.1:8126",
		"http://api.datadoghq.com",
		"https://api.datadoghq.com:8443",
		"https://user:pw@api.datadoghq.com",
		"https://api.datadoghq.com/api/v1",
		"https://api.datadoghq.com?x=1",
		"https://evil.example",
		"evil.example",
		"datadoghq.com.evil.example",
		"api.datadoghq.com.evil.example",
		"evil.example/datadoghq.com",
		"evildatadoghq.com",
		"app.datadoghq.com",
		"ftp://x",
		"us4.datadoghq.com",
	} {
		_, err := New(Spec{Name: "dd", Datadog: &DatadogSpec{Site: site, Query: ddQuery, Max: ptr(1)}})
		require.ErrorContains(t, err, "is not one of Datadog's sites", site)
		require.ErrorContains(t, err, "datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com", site)
	}
}
