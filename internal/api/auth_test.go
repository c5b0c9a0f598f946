package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

type testBundle struct {
	e     *engine.Engine
	s     *Server
	clock *testutil.Clock
	ids   map[string]int64
}

func setup(t *testing.T, mutate func(*config.Config)) *testBundle {
	t.Helper()
	ctx := context.Background()
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	cfg := &config.Config{Services: []config.Service{
		{Name: "web", Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}},
	}}
	if mutate != nil {
		mutate(cfg)
	}
	clock := testutil.NewClock(t0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(engine.Options{Config: cfg, Clock: clock, Logger: log})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	b := &testBundle{e: e, s: New(e, log, prometheus.NewRegistry()), clock: clock, ids: map[string]int64{}}
	for _, role := range []string{"banner", "viewer", "deployer", "admin"} {
		tok, err := e.CreateToken(ctx, "test", engine.TokenParams{Name: role, Role: role, Hash: HashToken(role + "-secret")})
		require.NoError(t, err)
		b.ids[role] = tok.ID
	}
	return b
}

// do sends a request from addr with the bearer secret ("" for none).
func (b *testBundle) do(t *testing.T, addr, secret, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.RemoteAddr = addr + ":40000"
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	b.s.ServeHTTP(rec, req)
	return rec
}

func errorOf(t *testing.T, rec *httptest.ResponseRecorder) (msg, detail string) {
	t.Helper()
	var e struct{ Error, Detail string }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), rec.Body.String())
	return e.Error, e.Detail
}

func TestBadTokensAreRateLimited(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const a, other = "192.0.2.1", "192.0.2.2"
	for i := 0; i < 10; i++ {
		rec := b.do(t, a, "guess-"+strconv.Itoa(i), "GET", "/api/v1/whoami", "")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "failure %d", i+1)
		b.clock.Add(time.Second)
	}
	rec := b.do(t, a, "guess-10", "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.Equal(t, "50", rec.Header().Get("Retry-After"), "a minute after the first failure")
	msg, _ := errorOf(t, rec)
	require.Equal(t, "too many failed attempts", msg)

	rec = b.do(t, a, "viewer-secret", "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusTooManyRequests, rec.Code, "while blocked, a good token is refused too")
	require.NotEmpty(t, rec.Header().Get("Retry-After"))

	rec = b.do(t, other, "viewer-secret", "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusOK, rec.Code, "another address is unaffected")

	b.clock.Add(50 * time.Second)
	rec = b.do(t, a, "viewer-secret", "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusOK, rec.Code, "after the window it works again")
}

func TestSuccessIsNotCounted(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const a = "198.51.100.7"
	for i := 0; i < 9; i++ {
		require.Equal(t, http.StatusUnauthorized, b.do(t, a, "guess", "GET", "/api/v1/whoami", "").Code)
	}
	for i := 0; i < 20; i++ {
		require.Equal(t, http.StatusOK, b.do(t, a, "viewer-secret", "GET", "/api/v1/whoami", "").Code,
			"below the limit, successes pass and do not count")
	}
	require.Equal(t, http.StatusUnauthorized, b.do(t, a, "guess", "GET", "/api/v1/whoami", "").Code, "the 10th failure")
	require.Equal(t, http.StatusTooManyRequests, b.do(t, a, "viewer-secret", "GET", "/api/v1/whoami", "").Code)
}

func TestRevokedAndExpiredTokensAreRefused(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rec := b.do(t, "192.0.2.1", "admin-secret", "POST", "/api/v1/tokens", `{"name":"ci","role":"deployer","expires_in":"1h"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var created struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &created))
	require.Equal(t, t0.Add(time.Hour), created.ExpiresAt)
	require.Equal(t, http.StatusOK, b.do(t, "192.0.2.1", created.Token, "GET", "/api/v1/whoami", "").Code)

	b.clock.Add(time.Hour)
	rec = b.do(t, "192.0.2.1", created.Token, "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	msg, detail := errorOf(t, rec)
	require.Equal(t, "token expired", msg)
	require.Contains(t, detail, "ci expired at")

	rec = b.do(t, "192.0.2.1", "admin-secret", "DELETE", "/api/v1/tokens/deployer", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	rec = b.do(t, "192.0.2.1", "deployer-secret", "GET", "/api/v1/whoami", "")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	msg, detail = errorOf(t, rec)
	require.Equal(t, "token revoked", msg)
	require.Contains(t, detail, "deployer was revoked at")
	rec = b.do(t, "192.0.2.1", "deployer-secret", "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"x"}`)
	require.Equal(t, http.StatusUnauthorized, rec.Code, "revoke then use refused")
}

func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	const addr = "192.0.2.1"
	admin := func(method, path, body string) *httptest.ResponseRecorder {
		return b.do(t, addr, "admin-secret", method, path, body)
	}
	for body, want := range map[string]string{
		`{"name":"bakery","role":"viewer"}`:                                               "reserved",
		`{"name":"BaKeRy","role":"viewer"}`:                                               "reserved",
		`{"name":"x","role":"root"}`:                                                      "use banner, viewer, deployer or admin",
		`{"name":"x","role":"viewer","expires_in":"soon"}`:                                "invalid lifetime",
		`{"name":"x","role":"viewer","expires":"tomorrow"}`:                               "RFC 3339",
		`{"name":"x","role":"viewer","expires":"2020-01-01T00:00:00Z"}`:                   "not in the future",
		`{"name":"x","role":"viewer","expires":"2030-01-01T00:00:00Z","expires_in":"1d"}`: "not both",
		`{"name":"x","role":"banner","emergency":true}`:                                   "emergency applies to deployer tokens",
	} {
		rec := admin("POST", "/api/v1/tokens", body)
		require.Equal(t, http.StatusBadRequest, rec.Code, body)
		_, detail := errorOf(t, rec)
		require.Contains(t, detail, want, body)
	}
	rec := admin("POST", "/api/v1/tokens", `{"name":"ci","role":"deployer","expires_in":"90d"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = admin("POST", "/api/v1/tokens", `{"name":"ci","role":"deployer"}`)
	require.Equal(t, http.StatusConflict, rec.Code)
	rec = admin("POST", "/api/v1/tokens", `{"name":"q","role":"viewer","expires":"2027-03-01T00:00:00Z"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())

	// Last use is recorded, at most once a minute.
	lastUsed := func(name string) time.Time {
		tok, err := b.e.Store().TokenGetByName(context.Background(), name)
		require.NoError(t, err)
		return tok.LastUsedAt
	}
	require.True(t, lastUsed("viewer").IsZero())
	b.clock.Add(time.Second)
	require.Equal(t, http.StatusOK, b.do(t, addr, "viewer-secret", "GET", "/api/v1/whoami", "").Code)
	require.Equal(t, t0.Add(time.Second), lastUsed("viewer"))
	b.clock.Add(30 * time.Second)
	require.Equal(t, http.StatusOK, b.do(t, addr, "viewer-secret", "GET", "/api/v1/whoami", "").Code)
	require.Equal(t, t0.Add(time.Second), lastUsed("viewer"), "not written again within a minute")
	b.clock.Add(31 * time.Second)
	require.Equal(t, http.StatusOK, b.do(t, addr, "viewer-secret", "GET", "/api/v1/whoami", "").Code)
	require.Equal(t, t0.Add(62*time.Second), lastUsed("viewer"))

	rec = admin("GET", "/api/v1/tokens", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var list struct{ Tokens []TokenView }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	byName := map[string]TokenView{}
	for _, tv := range list.Tokens {
		byName[tv.Name] = tv
	}
	require.Len(t, byName, 6)
	require.Equal(t, "deployer", byName["ci"].Role)
	require.Equal(t, t0.Add(90*24*time.Hour), *byName["ci"].ExpiresAt)
	require.Equal(t, "active", byName["ci"].State)
	require.Nil(t, byName["ci"].LastUsedAt)
	require.Equal(t, t0.Add(62*time.Second), *byName["viewer"].LastUsedAt)
	require.Nil(t, byName["viewer"].ExpiresAt)
	require.NotContains(t, rec.Body.String(), HashToken("viewer-secret"), "never the hash")

	rec = admin("DELETE", "/api/v1/tokens/ci?reason=rotated", "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"state": "revoked"`)
	require.Equal(t, http.StatusConflict, admin("DELETE", "/api/v1/tokens/ci", "").Code)
	require.Equal(t, http.StatusNotFound, admin("DELETE", "/api/v1/tokens/nobody", "").Code)
	for _, who := range []string{"viewer", "deployer", "banner"} {
		require.Equal(t, http.StatusForbidden, b.do(t, addr, who+"-secret", "GET", "/api/v1/tokens", "").Code, who)
		require.Equal(t, http.StatusForbidden, b.do(t, addr, who+"-secret", "DELETE", "/api/v1/tokens/admin", "").Code, who)
	}

	// The revocation is on the record, with the revoking token's id.
	events, err := b.e.Store().EventList(context.Background(), &store.EventListParams{})
	require.NoError(t, err)
	var found bool
	for _, e := range events {
		if e.Type == pipeline.EventTokenRevoked {
			found = true
			require.Equal(t, "admin", e.Actor)
			require.Equal(t, b.ids["admin"], e.ActorTokenID)
			require.Contains(t, e.Reason, "rotated")
		}
	}
	require.True(t, found)
}

func TestEventsExposeTheActorsTokenID(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	rec := b.do(t, "192.0.2.1", "deployer-secret", "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"incident"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	rec = b.do(t, "192.0.2.1", "viewer-secret", "GET", "/api/v1/services/web/events", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var out struct{ Events []EventView }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.NotEmpty(t, out.Events)
	last := out.Events[len(out.Events)-1]
	require.Equal(t, "deployer", last.Actor)
	require.Equal(t, b.ids["deployer"], last.ActorTokenID)
	require.Contains(t, rec.Body.String(), `"actor_token_id": `+strconv.FormatInt(b.ids["deployer"], 10))
}

// filled is a route's pattern with its path parameters filled in.
func filled(pattern string) string {
	return strings.NewReplacer("{service}", "web", "{env}", "production", "{version}", "v1", "{id}", "1", "{name}", "viewer").Replace(pattern)
}

func TestBannerTokenReadsOnlyTheBanner(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	banner := filled(bannerPattern)
	rec := b.do(t, "192.0.2.1", "banner-secret", "GET", banner, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"newer_in": "staging"`)
	require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))

	n := 0
	for _, rt := range b.s.apiRoutes() {
		if rt.pattern == bannerPattern || rt.pattern == beaconPattern {
			continue // the banner's own routes: reading it and its beacon (beacon_test.go)
		}
		body := ""
		if rt.method == "POST" {
			body = `{}`
		}
		rec := b.do(t, "192.0.2.1", "banner-secret", rt.method, filled(rt.pattern), body)
		require.Equal(t, http.StatusForbidden, rec.Code, "%s %s: %s", rt.method, rt.pattern, rec.Body.String())
		_, detail := errorOf(t, rec)
		require.Contains(t, detail, "role banner")
		n++
	}
	require.Greater(t, n, 20)
	// Nothing was done in its name.
	events, err := b.e.Store().EventList(context.Background(), &store.EventListParams{})
	require.NoError(t, err)
	for _, e := range events {
		require.NotEqual(t, "banner", e.Actor)
	}
}

func TestPublicBanner(t *testing.T) {
	t.Parallel()
	private := setup(t, nil)
	banner := filled(bannerPattern)
	require.Equal(t, http.StatusUnauthorized, private.do(t, "192.0.2.1", "", "GET", banner, "").Code, "off by default")

	b := setup(t, func(c *config.Config) { c.Server.Banner.Public = true })
	_, err := b.e.CreateRelease(context.Background(), "test", engine.ReleaseParams{Service: "web", Version: "0123456789abcdef"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rec := b.do(t, "192.0.2.1", "banner-secret", "GET", filled("/api/v1/services/{service}/environments/staging/banner"), "")
		return strings.Contains(rec.Body.String(), "0123456789abcdef")
	}, 20*time.Second, 10*time.Millisecond, "staging runs the release")
	rec := b.do(t, "192.0.2.1", "", "GET", filled("/api/v1/services/{service}/environments/staging/banner"), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Contains(t, rec.Body.String(), `"version": null`, "counts only, no versions")
	require.NotContains(t, rec.Body.String(), "0123456789abcdef")
	rec = b.do(t, "192.0.2.1", "", "GET", banner, "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "*", rec.Header().Get("Access-Control-Allow-Origin"))

	// With a token, it is the usual banner.
	rec = b.do(t, "192.0.2.1", "banner-secret", "GET", filled("/api/v1/services/{service}/environments/staging/banner"), "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "0123456789abcdef")

	// An unknown service says nothing about the others.
	rec = b.do(t, "192.0.2.1", "", "GET", "/api/v1/services/nope/environments/production/banner", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.NotContains(t, rec.Body.String(), "web")

	// Nothing else is public.
	for _, rt := range b.s.apiRoutes() {
		if rt.pattern == bannerPattern || rt.pattern == beaconPattern {
			continue // the beacon is public with the banner; its ticket decides (beacon_test.go)
		}
		rec := b.do(t, "192.0.2.1", "", rt.method, filled(rt.pattern), "")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "%s %s", rt.method, rt.pattern)
	}
}

func TestCheckBootstrapToken(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"q0cK8m2v4N9xR3tY7uB1wE5zL6pA8sD0fG2hJ4kM6n8=", // openssl rand -base64 32
		NewTokenSecret(),
		"7f3a9c0e1b5d2f8a4c6e0b9d3f7a1c5e8b2d6f0a4c9e3b7d1f5a8c2e6b0d4f9a", // 32 bytes in hex
	} {
		require.NoError(t, CheckBootstrapToken(ok), ok)
	}
	for bad, want := range map[string]string{
		"secret":                               "at least 32",
		"demo-bootstrap-token":                 "at least 32",
		strings.Repeat("a", 64):                "only 1 different characters",
		strings.Repeat("abc123", 8):            "only 6 different characters",
		"abcdefghijabcdefghijabcdefghij12":     "a pattern",
		"aaaaaaaaaaaaaaaaaaaaabcdefghijkz":     "bits of randomness",
		"0123456789abcdef0123456789abcdef":     "a pattern",
		"abcdefghijklmnopqrstuvwxyz0123456789": "a pattern",
	} {
		err := CheckBootstrapToken(bad)
		require.ErrorContains(t, err, want, bad)
		require.ErrorContains(t, err, "openssl rand -base64 32", "the error says how to make one")
	}
}

func TestParseExpiry(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute, "0d1s": time.Second,
	} {
		got, err := ParseExpiry(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "d", "0", "0d", "-1d", "1.5d", "1w", "d1h", "99999999d", "1d-5h"} {
		_, err := ParseExpiry(bad)
		require.Error(t, err, bad)
	}
}
