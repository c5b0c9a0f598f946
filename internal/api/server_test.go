package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// testServer is a real engine on SQLite behind the API, with an admin
// token whose secret is "admin-secret".
func testServer(t *testing.T) (*Server, *prometheus.Registry) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}}}}
	reg := prometheus.NewRegistry()
	e := engine.New(engine.Options{Config: cfg, Logger: log, Registerer: reg})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	_, err = e.CreateToken(ctx, "test", engine.TokenParams{Name: "admin", Role: "admin", Hash: HashToken("admin-secret")})
	require.NoError(t, err)
	return New(e, log, reg), reg
}

// serve runs one request through s in-process.
func serve(s http.Handler, method, target, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

// requestSeries counts the series of the request metric.
func requestSeries(t *testing.T, reg *prometheus.Registry) int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == "bakery_http_request_duration_seconds" {
			return len(mf.GetMetric())
		}
	}
	return 0
}

// TestOddRequestsDoNotGrowMetrics: made-up methods and paths, which anyone
// can send without a token, leave /metrics as it was (issue 10, item 3:
// 12,000 of them grew it from 121 KB to 19 MB).
func TestOddRequestsDoNotGrowMetrics(t *testing.T) {
	t.Parallel()
	s, reg := testServer(t)
	s.Mount(fakeUI{"GET /{$}", "GET /services/{service}", "GET /static/"})
	rng := rand.New(rand.NewPCG(10, 3))
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	paths := []func() string{
		func() string { return "/" + strings.ToLower(word(8)) },
		func() string { return "/api/v1/" + strings.ToLower(word(6)) + "/" + word(4) },
		func() string { return "/api/v1/services/" + strings.ToLower(word(5)) },
		func() string { return "/metrics/" + word(3) },
		func() string { return "/healthz" },
		func() string { return "/" + word(2) + "/../" + strings.ToLower(word(3)) }, // ServeMux redirects: cleaned path
		func() string { return "/api" },                                            // ServeMux redirects: to /api/
		func() string { return "/static" },                                         // to /static/
		func() string { return "/services/" + word(4) },
	}
	odd := func(n int) {
		for range n {
			method := word(3 + rng.IntN(8))
			switch rng.IntN(10) {
			case 0:
				method = "CONNECT"
			case 1:
				method = "GET" // for ServeMux's redirects
			}
			serve(s, method, paths[rng.IntN(len(paths))](), "", "")
		}
	}
	metricsSize := func() int {
		w := serve(s, "GET", "/metrics", "", "")
		require.Equal(t, http.StatusOK, w.Code)
		return w.Body.Len()
	}
	// Every label combination odd requests (and reading /metrics) can
	// reach, once.
	odd(500)
	metricsSize()
	before, beforeSize := requestSeries(t, reg), metricsSize()

	odd(5000)
	after, afterSize := requestSeries(t, reg), metricsSize()
	require.Equal(t, before, after, "5,000 odd requests added series to bakery_http_request_duration_seconds")
	require.InDelta(t, beforeSize, afterSize, 4<<10, "/metrics grew from %d to %d bytes", beforeSize, afterSize)

	mfs, err := reg.Gather()
	require.NoError(t, err)
	routes := map[string]bool{unmatchedRoute: true}
	for _, rt := range s.apiRoutes() {
		routes[rt.method+" "+rt.pattern] = true
	}
	for _, p := range []string{"/api/", "GET /metrics", "GET /healthz", "GET /api/v1/openapi.json", "OPTIONS " + bannerPattern,
		"GET /{$}", "GET /services/{service}", "GET /static/"} {
		routes[p] = true
	}
	for _, mf := range mfs {
		if mf.GetName() != "bakery_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "method":
					require.Contains(t, []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"}, l.GetValue())
				case "route":
					require.True(t, routes[l.GetValue()], "route label %q is not a registered pattern", l.GetValue())
				}
			}
		}
	}
}

func TestLabels(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"GET": "GET", "DELETE": "DELETE", "OPTIONS": "OPTIONS", "get": "OTHER",
		"PROPFIND": "OTHER", "CONNECT": "OTHER", "TRACE": "OTHER", "": "OTHER"} {
		require.Equal(t, want, methodLabel(in), in)
	}
	require.Equal(t, "200", statusLabel(200))
	require.Equal(t, "other", statusLabel(1000))
	require.Equal(t, "other", statusLabel(-1))
}

// TestAPIResponsesAreNotStored: no API answer may be kept by a cache: one
// carries a new token's secret, others deploy output.
func TestAPIResponsesAreNotStored(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t)
	cases := []struct {
		method, path, token, body string
		status                    int
	}{
		{"POST", "/api/v1/tokens", "admin-secret", `{"name": "ci", "role": "deployer"}`, http.StatusCreated},
		{"GET", "/api/v1/services/web", "admin-secret", "", http.StatusOK},
		{"GET", "/api/v1/services/web/deployments", "admin-secret", "", http.StatusOK},
		{"GET", "/api/v1/whoami", "admin-secret", "", http.StatusOK},
		{"GET", "/api/v1/whoami", "", "", http.StatusUnauthorized},
		{"GET", "/api/v1/deployments/999", "admin-secret", "", http.StatusNotFound},
		{"GET", "/api/v1/nothing", "", "", http.StatusNotFound},
		{"POST", "/api/v1/tokens", "admin-secret", `{"name": `, http.StatusBadRequest},
	}
	for _, tc := range cases {
		w := serve(s, tc.method, tc.path, tc.token, tc.body)
		require.Equal(t, tc.status, w.Code, "%s %s: %s", tc.method, tc.path, w.Body)
		require.Equal(t, "no-store", w.Header().Get("Cache-Control"), "%s %s", tc.method, tc.path)
	}
	w := serve(s, "GET", "/api/v1/openapi.json", "", "")
	require.Equal(t, "no-cache", w.Header().Get("Cache-Control"))
	body, _ := io.ReadAll(w.Body)
	require.True(t, bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")), fmt.Sprintf("%.40s", body))
}

// fakeUI stands in for the dashboard: its patterns answer 204.
type fakeUI []string

func (u fakeUI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusNoContent)
}
func (u fakeUI) Patterns() []string { return u }
func (u fakeUI) Session(*http.Request) (*store.Token, string, *Error) {
	return nil, "", nil
}
func (u fakeUI) TokenRevoked(int64) {}
