package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// setupCached is setup with n services and the view cache on, invalidated
// by the engine's OnChange as bakery serve wires it.
func setupCached(t *testing.T, n int) *testBundle {
	t.Helper()
	ctx := context.Background()
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	cfg := &config.Config{}
	for i := range n {
		team := "payments"
		if i%2 == 1 {
			team = "search"
		}
		cfg.Services = append(cfg.Services, config.Service{Name: fmt.Sprintf("svc-%d", i), Labels: map[string]string{"team": team, "tier": fmt.Sprint(i % 3)},
			Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}})
	}
	clock := testutil.NewClock(t0)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var srv atomic.Pointer[Server]
	e := engine.New(engine.Options{Config: cfg, Clock: clock, Logger: log, OnChange: func(s string) {
		if a := srv.Load(); a != nil {
			a.Invalidate(s)
		}
	}})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	b := &testBundle{e: e, s: New(e, log, prometheus.NewRegistry()), clock: clock, ids: map[string]int64{}}
	b.s.CacheViews(time.Hour)
	srv.Store(b.s)
	tok, err := e.CreateToken(ctx, "test", engine.TokenParams{Name: "viewer", Role: "viewer", Hash: HashToken("viewer-secret")})
	require.NoError(t, err)
	b.ids["viewer"] = tok.ID
	return b
}

func (b *testBundle) list(t *testing.T, query string) (int, ServiceList) {
	t.Helper()
	rec := b.do(t, "192.0.2.9", "viewer-secret", "GET", "/api/v1/services"+query, "")
	var l ServiceList
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &l), rec.Body.String())
	}
	return rec.Code, l
}

func names(l ServiceList) []string {
	var out []string
	for _, s := range l.Services {
		out = append(out, s.Service)
	}
	return out
}

// TestServiceListPages: the list comes in pages of ?limit in the
// configuration's order, next leads to the following page and is absent on
// the last; ?state filters, counts cover every service; a lock shows at
// once although the views are cached (OnChange invalidates them).
func TestServiceListPages(t *testing.T) {
	t.Parallel()
	b := setupCached(t, 5)
	code, l := b.list(t, "?limit=2")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, []string{"svc-0", "svc-1"}, names(l))
	require.Equal(t, 5, l.Total)
	require.Equal(t, "svc-1", l.Next)
	_, l = b.list(t, "?limit=2&after="+l.Next)
	require.Equal(t, []string{"svc-2", "svc-3"}, names(l))
	_, l = b.list(t, "?limit=2&after="+l.Next)
	require.Equal(t, []string{"svc-4"}, names(l))
	require.Empty(t, l.Next, "the last page has no next")
	_, l = b.list(t, "")
	require.Len(t, l.Services, 5, "the default page holds them all")
	require.Equal(t, 0, l.Counts[ListStateLocked])

	// Warm the cache, then lock: the list shows it at once.
	_, l = b.list(t, "?state=locked")
	require.Empty(t, l.Services)
	_, err := b.e.Lock(context.Background(), "ana", engine.LockParams{Service: "svc-3", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	_, l = b.list(t, "?state=locked")
	require.Equal(t, []string{"svc-3"}, names(l), "the change invalidated svc-3's cached view")
	require.Equal(t, 1, l.Total)
	require.Equal(t, 1, l.Counts[ListStateLocked])
	_, l = b.list(t, "?state=locked&after=svc-3")
	require.Empty(t, l.Services, "after a service the filter leaves out")

	rec := b.do(t, "192.0.2.9", "viewer-secret", "GET", "/api/v1/services/svc-3", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var one ServiceView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &one))
	require.True(t, one.Environments[1].Locked)

	// Selectors: every pair must hold.
	_, l = b.list(t, "?selector=team=payments")
	require.Equal(t, []string{"svc-0", "svc-2", "svc-4"}, names(l))
	require.Equal(t, map[string]string{"team": "payments", "tier": "0"}, l.Services[0].Labels)
	_, l = b.list(t, "?selector=team=payments,tier=1")
	require.Equal(t, []string{"svc-4"}, names(l))
	_, l = b.list(t, "?selector=team=search&state=locked")
	require.Equal(t, []string{"svc-3"}, names(l))
	_, l = b.list(t, "?selector=team=payments&state=locked")
	require.Empty(t, names(l))
	require.Equal(t, 0, l.Counts[ListStateLocked], "counts cover the selected services")

	for _, tc := range []struct{ query, want string }{
		{"?selector=team", `"team" is not key=value`},
		{"?limit=0", `limit "0" is not a number from 1 to 1000`},
		{"?limit=abc", `limit "abc" is not a number`},
		{"?limit=1001", `limit "1001" is not a number from 1 to 1000`},
		{"?after=nope", `after "nope" is not a configured service`},
		{"?state=sleepy", `state "sleepy" is not one the list filters on`},
	} {
		rec := b.do(t, "192.0.2.9", "viewer-secret", "GET", "/api/v1/services"+tc.query, "")
		require.Equal(t, http.StatusBadRequest, rec.Code, tc.query)
		msg, detail := errorOf(t, rec)
		require.Contains(t, msg, tc.want, tc.query)
		require.NotEmpty(t, detail, tc.query)
	}
	rec = b.do(t, "192.0.2.9", "viewer-secret", "GET", "/api/v1/services/nope", "")
	require.Equal(t, http.StatusNotFound, rec.Code)
}

// TestServiceStates: a service is in each state one of its environments
// is in; its newest release failing on staging (failed_below in
// production's list) counts as failed, an older one's failure does not.
func TestServiceStates(t *testing.T) {
	t.Parallel()
	env := func(e EnvironmentView) ServiceView {
		return ServiceView{Environments: []EnvironmentView{{Name: "staging"}, e}}
	}
	for _, tc := range []struct {
		name string
		view ServiceView
		want map[string]bool
	}{
		{"idle", env(EnvironmentView{Name: "production"}), map[string]bool{}},
		{"locked", env(EnvironmentView{Locked: true}), map[string]bool{ListStateLocked: true}},
		{"baking", env(EnvironmentView{Waiting: WaitView{Kind: "bake"}}), map[string]bool{ListStateBaking: true}},
		{"window", env(EnvironmentView{Waiting: WaitView{Kind: "window"}}), map[string]bool{ListStateWindow: true}},
		{"canary", env(EnvironmentView{State: "canary"}), map[string]bool{ListStateCanary: true}},
		{"failed in production", env(EnvironmentView{Releases: []QueuedReleaseView{{State: "failed"}}}), map[string]bool{ListStateFailed: true}},
		{"failed its bake", env(EnvironmentView{Releases: []QueuedReleaseView{{State: "failed_bake"}}}), map[string]bool{ListStateFailed: true}},
		{"failed on staging", env(EnvironmentView{Releases: []QueuedReleaseView{{State: "failed_below"}}}), map[string]bool{ListStateFailed: true}},
		{"an older release failed", env(EnvironmentView{Releases: []QueuedReleaseView{{State: "baking"}, {State: "failed_below"}}}), map[string]bool{}},
		{"locked and baking", env(EnvironmentView{Locked: true, Waiting: WaitView{Kind: "bake"}}), map[string]bool{ListStateLocked: true, ListStateBaking: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, ServiceStates(tc.view))
		})
	}
}
