package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
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
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// apiFixture is a real engine on SQLite behind the real API server.
type apiFixture struct {
	t   *testing.T
	e   *engine.Engine
	srv *httptest.Server
}

func testEnv(name string, bake time.Duration) config.Environment {
	return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
}

func newAPIFixture(t *testing.T) *apiFixture {
	t.Helper()
	return newAPIFixtureWith(t, &config.Config{Services: []config.Service{
		{Name: "web", Environments: []config.Environment{testEnv("staging", 0), testEnv("production", time.Hour)}},
	}})
}

// newAPIFixtureWith serves cfg, with the tokens admin-secret (admin) and
// eye-secret (viewer).
func newAPIFixtureWith(t *testing.T, cfg *config.Config) *apiFixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := engine.New(engine.Options{Config: cfg, Logger: log})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	srv := httptest.NewServer(New(e, log, prometheus.NewRegistry()))
	t.Cleanup(func() {
		srv.Close()
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	_, err = e.CreateToken(ctx, "test", engine.TokenParams{Name: "admin", Role: "admin", Hash: HashToken("admin-secret")})
	require.NoError(t, err)
	_, err = e.CreateToken(ctx, "test", engine.TokenParams{Name: "eye", Role: "viewer", Hash: HashToken("eye-secret")})
	require.NoError(t, err)
	return &apiFixture{t: t, e: e, srv: srv}
}

// errorBody is the API's JSON error.
type errorBody struct {
	Message string `json:"error"`
	Detail  string `json:"detail"`
}

// do sends body as the admin and returns the status and the decoded error body.
func (f *apiFixture) do(method, path, body string) (int, errorBody) {
	f.t.Helper()
	status, b := f.as("admin-secret", method, path, body)
	var e errorBody
	if status >= 300 {
		require.NoError(f.t, json.Unmarshal([]byte(b), &e), b)
	}
	return status, e
}

// as sends body with the token and returns the status and the raw body.
func (f *apiFixture) as(token, method, path, body string) (int, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	require.NoError(f.t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp.StatusCode, string(b)
}

// TestTextFieldsRefuseNUL: every text field of every command refuses a NUL
// (which would otherwise be stored and then break the deploy command's
// environment, or PostgreSQL), with 400 and a detail naming the field.
func TestTextFieldsRefuseNUL(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	const svc = "/api/v1/services/web"
	const env = svc + "/environments/production"
	for _, tc := range []struct{ name, method, path, body, field string }{
		{"release version", "POST", svc + "/releases", `{"version":"v1\u0000","artifact":"a"}`, "version"},
		{"release artifact", "POST", svc + "/releases", `{"version":"v1","artifact":"img\u0000"}`, "artifact"},
		{"release message", "POST", svc + "/releases", `{"version":"v1","artifact":"a","message":"fix\u0000"}`, "message"},
		{"release author", "POST", svc + "/releases", `{"version":"v1","artifact":"a","author":"ana\u0000"}`, "author"},
		{"lock reason", "POST", env + "/lock", `{"reason":"incident\u000042"}`, "reason"},
		{"lock reason of every service", "POST", "/api/v1/environments/production/lock", `{"reason":"\u0000"}`, "reason"},
		{"unlock reason", "DELETE", env + "/lock", `{"reason":"done\u0000"}`, "reason"},
		{"skip-bake reason", "POST", env + "/skip-bake", `{"reason":"copy\u0000"}`, "reason"},
		{"rollback reason", "POST", env + "/rollback", `{"reason":"bad\u0000"}`, "reason"},
		{"rollback to", "POST", env + "/rollback", `{"reason":"bad","to":"v1\u0000"}`, "to"},
		{"emergency reason", "POST", svc + "/emergency", `{"version":"v9","artifact":"a","reason":"fire\u0000"}`, "reason"},
		{"emergency version", "POST", svc + "/emergency", `{"version":"v9\u0000","artifact":"a","reason":"fire"}`, "version"},
		{"emergency artifact", "POST", svc + "/emergency", `{"version":"v9","artifact":"a\u0000","reason":"fire"}`, "artifact"},
		{"emergency message", "POST", svc + "/emergency", `{"version":"v9","artifact":"a","message":"m\u0000","reason":"fire"}`, "message"},
		{"emergency author", "POST", svc + "/emergency", `{"version":"v9","artifact":"a","author":"x\u0000","reason":"fire"}`, "author"},
		{"canary promote reason", "POST", env + "/canary/promote", `{"reason":"ok\u0000"}`, "reason"},
		{"canary abort reason", "POST", env + "/canary/abort", `{"reason":"no\u0000"}`, "reason"},
		{"token name", "POST", "/api/v1/tokens", `{"name":"ci\u0000","role":"viewer"}`, "token name"},
	} {
		status, e := f.do(tc.method, tc.path, tc.body)
		require.Equal(t, http.StatusBadRequest, status, "%s: %+v", tc.name, e)
		require.Equal(t, "invalid input", e.Message, tc.name)
		require.Contains(t, e.Detail, tc.field, tc.name)
		if tc.field != "token name" && tc.field != "version" {
			require.Contains(t, e.Detail, "NUL", tc.name)
		}
	}

	// Nothing was stored: no release, no lock, no token.
	for _, v := range []string{"v1", "v9"} {
		status, _ := f.do("GET", svc+"/releases/"+v, "")
		require.Equal(t, http.StatusNotFound, status, v)
	}
	status, e := f.do("POST", env+"/lock", `{"reason":"a real one"}`)
	require.Equal(t, http.StatusCreated, status, "%+v", e)
}

// TestVersionsThatLookLikeOptionsOrPaths: a version reaches deploy commands
// as an argument or a path element, so "-rf", "." and ".." are refused
// wherever a version is given; ordinary SHAs and tags still pass.
func TestVersionsThatLookLikeOptionsOrPaths(t *testing.T) {
	t.Parallel()
	f := newAPIFixture(t)
	const svc = "/api/v1/services/web"
	for _, v := range []string{"-rf", "--help", "-", ".", "..", "../x", "a/b", "v1\u001b[2J", "v1\n"} {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		for _, tc := range []struct{ method, path, body string }{
			{"POST", svc + "/releases", `{"version":` + string(b) + `,"artifact":"a"}`},
			{"POST", svc + "/emergency", `{"version":` + string(b) + `,"artifact":"a","reason":"fire"}`},
			{"POST", svc + "/environments/production/rollback", `{"to":` + string(b) + `,"reason":"bad"}`},
		} {
			status, e := f.do(tc.method, tc.path, tc.body)
			require.Equal(t, http.StatusBadRequest, status, "%s %q: %+v", tc.path, v, e)
			require.Contains(t, e.Detail, "version", "%s %q", tc.path, v)
		}
	}
	for _, v := range []string{"3f2c1ab", "v1.2.3", "release_2026-11-25", "v1.2.3-rc.1"} {
		status, e := f.do("POST", svc+"/releases", `{"version":"`+v+`","artifact":"a"}`)
		require.Equal(t, http.StatusCreated, status, "%s: %+v", v, e)
	}
}
