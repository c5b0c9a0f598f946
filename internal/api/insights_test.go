package api

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSince(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"30d":                  now.Add(-30 * 24 * time.Hour),
		"12h":                  now.Add(-12 * time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"1.5d":                 now.Add(-36 * time.Hour),
		"2026-01-02T15:04:05Z": time.Date(2026, 1, 2, 15, 4, 5, 0, time.UTC),
	} {
		got, err := ParseSince(in, now)
		require.NoError(t, err, in)
		require.True(t, want.Equal(got), "%s: %s", in, got)
	}
	for _, bad := range []string{"", "30", "d", "-3d", "-1h", "yesterday", "2026-01-02", "9999d"} {
		_, err := ParseSince(bad, now)
		require.Error(t, err, bad)
	}
}

func TestInsightsEndpoint(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t)
	// A release with its commit time, and one whose commit time is bad.
	w := serve(s, "POST", "/api/v1/services/web/releases", "admin-secret",
		`{"version":"a1","committed_at":"2020-01-02T03:04:05Z"}`)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var rel ReleaseView
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rel))
	require.NotNil(t, rel.CommittedAt)
	require.Equal(t, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), *rel.CommittedAt)

	w = serve(s, "POST", "/api/v1/services/web/releases", "admin-secret", `{"version":"a2","committed_at":"yesterday"}`)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "committed_at")
	require.Contains(t, w.Body.String(), "RFC3339")
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	w = serve(s, "POST", "/api/v1/services/web/releases", "admin-secret", `{"version":"a2","committed_at":"`+future+`"}`)
	require.Equal(t, http.StatusBadRequest, w.Code)
	require.Contains(t, w.Body.String(), "in the future")
	w = serve(s, "GET", "/api/v1/services/web/releases/a2", "admin-secret", "")
	require.Equal(t, http.StatusNotFound, w.Code, "nothing half-applied: the refused release does not exist")

	w = serve(s, "GET", "/api/v1/insights?service=web&since=12h", "admin-secret", "")
	require.Equal(t, http.StatusOK, w.Code, w.Body.String())
	var rep map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &rep))
	for _, k := range []string{"since", "until", "deployments", "deployment_frequency_per_day", "lead_time_seconds",
		"lead_time_breakdown_seconds", "change_failure_rate", "caught_before_production", "failed_deployment_recovery_seconds",
		"rework_rate", "locks"} {
		require.Contains(t, rep, k)
	}
	require.Equal(t, "web", rep["service"])

	for _, c := range []struct {
		query  string
		status int
		want   string
	}{
		{"?since=yesterday", http.StatusBadRequest, "invalid parameter since"},
		{"?since=-3d", http.StatusBadRequest, "invalid parameter since"},
		{"?until=soon", http.StatusBadRequest, "invalid parameter until"},
		{"?since=1h&until=2h", http.StatusBadRequest, "not before until"},
		{"?failure_window=0s", http.StatusBadRequest, "invalid parameter failure_window"},
		{"?service=nope", http.StatusNotFound, "unknown service"},
	} {
		w := serve(s, "GET", "/api/v1/insights"+c.query, "admin-secret", "")
		require.Equal(t, c.status, w.Code, c.query+": "+w.Body.String())
		require.Contains(t, w.Body.String(), c.want, c.query)
		require.Equal(t, "application/json", w.Header().Get("Content-Type"))
	}
	w = serve(s, "GET", "/api/v1/insights", "", "")
	require.Equal(t, http.StatusUnauthorized, w.Code)
}
