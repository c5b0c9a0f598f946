package e2e

import (
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

func forBothDatabases(t *testing.T, fn func(t *testing.T, postgres bool)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); fn(t, false) })
	t.Run("postgres", func(t *testing.T) { t.Parallel(); fn(t, true) })
}

// TestReleaseTravelsStagingBakeProduction is the heart of bakery: a release
// deploys to staging at once, bakes, and promotes itself to production.
func TestReleaseTravelsStagingBakeProduction(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		const bake = 2 * time.Second
		w := newWorld(t, worldOpts{postgres: postgres, bake: bake})
		w.start()

		before := w.status("web")
		require.Nil(t, before.Environments[0].Version, "version is null before the first deploy")
		require.False(t, before.Environments[1].Locked)

		w.release("web", "v1")
		w.eventually(30*time.Second, "v1 runs in production", func() bool { return w.version("web", "production") == "v1" })
		require.Equal(t, "v1", w.version("web", "staging"))

		// The deploy command ran once per environment, in order, with the
		// release in its environment.
		lines := w.deployLines()
		require.Len(t, lines, 4, w.deployLog())
		require.Equal(t, []string{"start staging v1", "end staging v1", "start production v1", "end production v1"}, []string{
			lines[0].what + " " + lines[0].env + " " + lines[0].version, lines[1].what + " " + lines[1].env + " " + lines[1].version,
			lines[2].what + " " + lines[2].env + " " + lines[2].version, lines[3].what + " " + lines[3].env + " " + lines[3].version})
		// Production started only after the bake.
		require.GreaterOrEqual(t, lines[2].at.Sub(lines[1].at), bake-100*time.Millisecond, "production must wait for the bake")

		// The event log tells the story with actors, versions and reasons.
		events := w.events("web")
		var types []string
		for _, e := range events {
			types = append(types, e.Type+":"+e.Environment)
		}
		require.Equal(t, []string{
			"release.created:", "promotion.decided:staging", "deployment.started:staging", "deployment.succeeded:staging",
			"promotion.decided:production", "deployment.started:production", "deployment.succeeded:production",
		}, types)
		require.Equal(t, "bootstrap", events[0].Actor)
		decided := findEvent(events, "promotion.decided", "production", "v1")
		require.Equal(t, "bakery", decided.Actor)
		require.Contains(t, decided.Reason, "baked in staging")
		require.Equal(t, "v1", decided.ToVersion)
		succeeded := findEvent(events, "deployment.succeeded", "staging", "v1")
		bakeStarted, err := time.Parse(time.RFC3339Nano, decided.Data["bake_started_at"].(string))
		require.NoError(t, err)
		deadline, err := time.Parse(time.RFC3339Nano, decided.Data["bake_deadline"].(string))
		require.NoError(t, err)
		require.Equal(t, bake, deadline.Sub(bakeStarted))
		require.WithinDuration(t, succeeded.At, bakeStarted, time.Millisecond, "the bake clock starts when staging succeeds")
		require.False(t, decided.At.Before(deadline), "no promotion before the deadline")

		// The deployment keeps the command's output.
		deps := w.deployments("web", "production")
		require.Len(t, deps, 1)
		var one api.DeploymentView
		require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/deployments/"+itoa(deps[0].ID), nil, &one))
		require.Contains(t, *one.Output, "deploying v1 (registry.example/web:v1) to production")

		// The other service was never touched.
		require.Nil(t, w.status("api").Environments[0].Version)
	})
}

// TestNoStarvation is rule 2: releases arriving faster than the bake still
// reach production, the newest baked one each time, and the ones skipped
// are marked superseded.
func TestNoStarvation(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		const bake = 3 * time.Second
		// Production deploys take long enough that several releases finish
		// their bake meanwhile: only the newest of those may go next.
		w := newWorld(t, worldOpts{postgres: postgres, bake: bake, env: []string{"SLEEP_production=2"}})
		w.start()
		versions := []string{"r1", "r2", "r3", "r4", "r5", "r6"}
		for _, v := range versions {
			w.release("web", v)
			w.eventually(20*time.Second, v+" runs in staging", func() bool { return w.version("web", "staging") == v })
			time.Sleep(time.Second)
		}
		// r1 was baking while r2..r6 landed on top: its clock was not reset.
		require.GreaterOrEqual(t, w.count("end", "production", ""), 1, "production got a release while staging kept changing")
		require.Equal(t, 1, w.count("end", "production", "r1"), "the oldest release's bake is not reset by newer ones:\n%s", w.deployLog())
		w.eventually(30*time.Second, "r6 reaches production", func() bool { return w.version("web", "production") == "r6" })

		events := w.events("web")
		superseded := 0
		for _, e := range events {
			if e.Type == "release.superseded" {
				require.Equal(t, "production", e.Environment)
				superseded++
			}
		}
		promotedToProd := w.count("end", "production", "")
		require.Equal(t, len(versions), promotedToProd+superseded, "every release either reached production or was superseded:\n%s", w.deployLog())
		require.Positive(t, superseded)
		// Production moved only forwards.
		var last string
		for _, l := range w.deployLines() {
			if l.env == "production" && l.what == "end" {
				require.Greater(t, l.version, last)
				last = l.version
			}
		}
	})
}

// TestFailedDeployStopsTheRelease: a release whose staging deploy fails
// never reaches production, and staging keeps its previous version.
func TestFailedDeployStopsTheRelease(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Second})
	w.start()
	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	w.release("web", "bad2")
	w.eventually(20*time.Second, "bad2 fails in staging", func() bool { return w.count("fail", "staging", "bad2") == 1 })
	w.eventually(10*time.Second, "failure recorded", func() bool {
		return findEvent(w.events("web"), "deployment.failed", "staging", "bad2") != nil
	})
	failed := findEvent(w.events("web"), "deployment.failed", "staging", "bad2")
	require.Contains(t, failed.Reason, "exit")
	require.Equal(t, "v1", w.version("web", "staging"), "a failed deploy leaves the environment on its previous version")
	time.Sleep(2 * time.Second) // longer than the bake: nothing may follow
	require.Equal(t, "v1", w.version("web", "production"))
	require.Zero(t, w.count("start", "production", "bad2"))

	var p api.ReleaseProgress
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/services/web/releases/bad2", nil, &p))
	require.True(t, p.Failed)
	require.Contains(t, p.Message, "failed in staging")

	// The next good release goes through.
	w.release("web", "v3")
	w.eventually(20*time.Second, "v3 in production", func() bool { return w.version("web", "production") == "v3" })
}

// TestDeployCommandTimeout: a deploy command that hangs is killed with its
// whole process group when its timeout passes, and the deployment fails.
func TestDeployCommandTimeout(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: 0, productionTimeout: "1s", env: []string{"SLEEP_production=60"}})
	w.start()
	w.release("web", "v1")
	w.eventually(30*time.Second, "production deploy fails", func() bool {
		return findEvent(w.events("web"), "deployment.failed", "production", "v1") != nil
	})
	failed := findEvent(w.events("web"), "deployment.failed", "production", "v1")
	require.Contains(t, failed.Reason, "timed out after 1s")
	require.Equal(t, "", w.version("web", "production"))
	require.Equal(t, "v1", w.version("web", "staging"))
	// The script's process group is gone (its sleep included).
	var pid string
	for _, l := range w.deployLines() {
		if l.what == "start" && l.env == "production" {
			pid = l.pid
		}
	}
	require.NotEmpty(t, pid)
	w.eventually(5*time.Second, "deploy process group killed", func() bool { return !processGroupAlive(t, pid) })
	require.Zero(t, w.count("end", "production", "v1"))
}

// TestBadInput: each bad request gets a precise status and a JSON error,
// and leaves nothing behind.
func TestBadInput(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Hour})
	w.start()
	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	eventsBefore := len(w.events("web"))

	var viewer struct{ Token string }
	require.Equal(t, 201, w.call(adminToken, "POST", "/api/v1/tokens", map[string]string{"name": "watcher", "role": "viewer"}, &viewer))
	var deployer struct{ Token string }
	require.Equal(t, 201, w.call(adminToken, "POST", "/api/v1/tokens", map[string]string{"name": "ci", "role": "deployer"}, &deployer))

	type errBody struct {
		Error  string `json:"error"`
		Detail string `json:"detail"`
	}
	cases := []struct {
		name, token, method, path string
		body                      any
		status                    int
		detail                    string
	}{
		{"duplicate version", adminToken, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "v1"}, 409, "versions are immutable"},
		{"unknown service", adminToken, "POST", "/api/v1/services/nope/releases", api.ReleaseRequest{Version: "v2"}, 404, "the configuration has services web, api"},
		{"invalid version", adminToken, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "v 2; rm -rf"}, 400, "A-Z a-z 0-9"},
		{"too long version", adminToken, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: strings.Repeat("a", 129)}, 400, "at most 128"},
		{"empty version", adminToken, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{}, 400, "version is empty"},
		{"malformed JSON", adminToken, "POST", "/api/v1/services/web/releases", `{"version": `, 400, "unexpected EOF"},
		{"unknown field", adminToken, "POST", "/api/v1/services/web/releases", `{"versoin": "v2"}`, 400, `unknown field "versoin"`},
		{"missing token", "", "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "v2"}, 401, "Authorization: Bearer"},
		{"wrong token", "nope", "GET", "/api/v1/services/web", nil, 401, "no token matches"},
		{"viewer may not release", viewer.Token, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "v2"}, 403, "needs deployer"},
		{"deployer may not make tokens", deployer.Token, "POST", "/api/v1/tokens", map[string]string{"name": "x", "role": "admin"}, 403, "needs admin"},
		{"unknown role", adminToken, "POST", "/api/v1/tokens", map[string]string{"name": "x", "role": "root"}, 400, "use banner, viewer, deployer or admin"},
		{"duplicate token name", adminToken, "POST", "/api/v1/tokens", map[string]string{"name": "ci", "role": "viewer"}, 409, "exists already"},
		{"unknown release", viewer.Token, "GET", "/api/v1/services/web/releases/zzz", nil, 404, "has no release"},
		{"unknown endpoint", viewer.Token, "GET", "/api/v1/nope", nil, 404, "openapi.json"},
		{"bad limit", viewer.Token, "GET", "/api/v1/services/web/events?limit=-1", nil, 400, "whole number"},
	}
	for _, c := range cases {
		var body errBody
		status := w.call(c.token, c.method, c.path, c.body, &body)
		require.Equal(t, c.status, status, "%s: %+v", c.name, body)
		require.NotEmpty(t, body.Error, c.name)
		require.Contains(t, body.Detail, c.detail, c.name)
	}
	// A deployer may release, and the event names it as the actor.
	require.Equal(t, http.StatusCreated, w.call(deployer.Token, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "v2"}, nil))
	events := w.events("web")
	created := findEvent(events, "release.created", "", "v2")
	require.Equal(t, "ci", created.Actor)
	// Nothing from the refused requests was written: only v2's events are new.
	for _, e := range events[eventsBefore:] {
		require.Equal(t, "v2", e.Version, "unexpected event %+v", e)
	}
	var rels struct{ Releases []api.ReleaseView }
	require.Equal(t, 200, w.call(viewer.Token, "GET", "/api/v1/services/web/releases", nil, &rels))
	require.Len(t, rels.Releases, 2)

	// Health needs no token; the OpenAPI document lists the endpoints.
	require.Equal(t, 200, w.call("", "GET", "/healthz", nil, nil))
	var doc map[string]any
	require.Equal(t, 200, w.call("", "GET", "/api/v1/openapi.json", nil, &doc))
	require.Contains(t, doc["paths"], "/api/v1/services/{service}/releases")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// processGroupAlive reports whether any process of the group led by pid
// lives.
func processGroupAlive(t *testing.T, pid string) bool {
	t.Helper()
	n, err := strconv.Atoi(pid)
	require.NoError(t, err)
	return syscall.Kill(-n, 0) == nil
}

func processAlive(t *testing.T, pid string) bool {
	t.Helper()
	n, err := strconv.Atoi(pid)
	require.NoError(t, err)
	return syscall.Kill(n, 0) == nil
}
