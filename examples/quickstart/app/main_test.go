package main

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testServer(t *testing.T, env, version string) *httptest.Server {
	t.Helper()
	a := &app{env: env, version: version, started: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC),
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func TestPageShowsEnvironmentAndVersion(t *testing.T) {
	staging := testServer(t, "staging", "v1.4.0")
	resp, body := get(t, staging.URL+"/")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, `<div class="env">staging</div>`)
	assert.Contains(t, body, `<div class="version">v1.4.0</div>`)
	assert.Contains(t, body, palette("staging").Background)
	assert.NotContains(t, body, "ZgotmplZ", "a template value was rejected as unsafe")
	assert.NotContains(t, body, "http://", "the page must be self-contained")
	assert.NotContains(t, body, "https://", "the page must be self-contained")

	_, prodBody := get(t, testServer(t, "production", "v1.4.0").URL+"/")
	assert.Contains(t, prodBody, palette("production").Background)
	assert.NotEqual(t, palette("staging"), palette("production"))

	resp, _ = get(t, staging.URL+"/nope")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestPageEscapes(t *testing.T) {
	_, body := get(t, testServer(t, "<b>x</b>", `v1"</script>`).URL+"/")
	assert.NotContains(t, body, "<b>x</b>")
	assert.NotContains(t, body, `v1"</script>`)
}

func TestHealthz(t *testing.T) {
	resp, body := get(t, testServer(t, "staging", "v1").URL+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
}

func TestVersion(t *testing.T) {
	resp, body := get(t, testServer(t, "production", "v2").URL+"/version")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &got))
	assert.Equal(t, map[string]any{"environment": "production", "version": "v2", "started_at": "2025-01-02T03:04:05Z"}, got)
}

func TestProbe(t *testing.T) {
	srv := testServer(t, "staging", "v3")
	assert.NoError(t, probe(srv.URL+"/healthz", "", time.Second))
	assert.NoError(t, probe(srv.URL+"/version", "v3", time.Second))

	err := probe(srv.URL+"/version", "v4", time.Second)
	assert.ErrorContains(t, err, `serves version "v3", not "v4"`)
	assert.ErrorContains(t, probe(srv.URL+"/missing", "", time.Second), "404")
	assert.ErrorContains(t, probe(srv.URL+"/healthz", "v3", time.Second), "did not answer JSON")

	srv.Close()
	assert.Error(t, probe(srv.URL+"/healthz", "", time.Second))
}

func TestRunNeedsPort(t *testing.T) {
	t.Setenv("PORT", "")
	err := run(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "PORT is not set"), err.Error())
}

func TestErrorRateFailsThatShareOfPages(t *testing.T) {
	a := &app{env: "production", version: "bad", errorRate: 0.3, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	failed := 0
	for i := 0; i < 100; i++ {
		resp, _ := get(t, srv.URL+"/")
		if resp.StatusCode == http.StatusInternalServerError {
			failed++
		}
	}
	assert.Equal(t, 30, failed, "exactly 30% of 100 page requests fail")
	resp, _ := get(t, srv.URL+"/healthz")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the health check still passes: a deploy succeeds, users see errors")
}

func TestLoadCountsAnswersPerTrack(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, loadAgent, r.UserAgent())
		w.Header().Set("X-Bakery-Track", "canary")
	}))
	t.Cleanup(srv.Close)
	var out strings.Builder
	require.NoError(t, generateLoad(srv.URL, 50, 5500*time.Millisecond, &out))
	assert.Contains(t, out.String(), "canary ")
	assert.Contains(t, out.String(), " ok 0 errors")
	assert.Error(t, generateLoad(srv.URL, 0, time.Second, &out), "rps must be positive")
}
