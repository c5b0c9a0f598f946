package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/insights"
)

// TestInsightsEndToEnd runs a real pipeline with a short bake (a release
// promoted, a lock with two releases piling up behind it, a rollback to the
// previous good release) and
// checks the insights API's figures against the times on the record.
func TestInsightsEndToEnd(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		const bake = 2 * time.Second
		w := newWorld(t, worldOpts{postgres: postgres, bake: bake})
		w.start()
		run := func(args ...string) string {
			t.Helper()
			out, stderr, err := w.bakery(nil, args...)
			require.NoError(t, err, "bakery %v: %s", args, stderr)
			return out
		}

		committed := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		_, stderr, err := w.bakery(nil, "release", "create", "web", "v0", "--committed-at", "an hour ago")
		require.Error(t, err)
		require.Contains(t, stderr, "--committed-at")
		run("release", "create", "web", "v1", "--committed-at", committed.Format(time.RFC3339))
		w.eventually(20*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })

		run("lock", "web", "production", "--reason", "freeze for the demo")
		for _, v := range []string{"v2", "v3"} {
			run("release", "create", "web", v)
			w.eventually(20*time.Second, v+" in staging", func() bool { return w.version("web", "staging") == v })
		}
		require.Contains(t, run("status", "web"), "expected in production at", "status says when the waiting releases should arrive")
		time.Sleep(bake + 500*time.Millisecond)
		run("unlock", "web", "production")
		w.eventually(20*time.Second, "v3 in production", func() bool { return w.version("web", "production") == "v3" })
		run("rollback", "web", "production", "--reason", "v3 broke checkout")
		w.eventually(20*time.Second, "v1 back in production", func() bool { return w.version("web", "production") == "v1" })

		// What happened, by the record.
		evs := w.events("web")
		at := func(typ, env, version string) time.Time {
			t.Helper()
			e := findEvent(evs, typ, env, version)
			require.NotNil(t, e, "%s %s %s", typ, env, version)
			return e.At
		}
		v1Prod := at("deployment.succeeded", "production", "v1")
		v3Prod := at("deployment.succeeded", "production", "v3")
		locked, unlocked := at("lock.placed", "production", ""), at("lock.released", "production", "")
		rollback := at("rollback.decided", "production", "v1")
		var back time.Time
		for _, e := range evs {
			if e.Type == "deployment.succeeded" && e.Environment == "production" && e.Version == "v1" {
				back = e.At
			}
		}
		leads := []float64{v1Prod.Sub(committed).Seconds(), v3Prod.Sub(at("release.created", "", "v2")).Seconds(),
			v3Prod.Sub(at("release.created", "", "v3")).Seconds()}
		slices.Sort(leads)

		var rep insights.Report
		require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/insights?service=web&since=2h", nil, &rep))
		require.Equal(t, 3, rep.Deployments, "v1, v3 and the rollback to v1")
		require.Equal(t, 3, rep.LeadTimeSeconds.N, "v1, v2 (inside v3) and v3")
		require.InDelta(t, leads[1], rep.LeadTimeSeconds.P50, 1e-3)
		require.InDelta(t, leads[2], rep.LeadTimeSeconds.P90, 1e-3)
		require.Greater(t, rep.LeadTimeSeconds.P90, 3600.0, "v1's lead time starts at its commit, an hour ago")
		b := rep.LeadTimeBreakdownSeconds
		require.InDelta(t, rep.LeadTimeSeconds.Mean, b.Total(), 1e-6)
		require.Greater(t, b.HeldByLock, 0.0)
		require.GreaterOrEqual(t, b.Bake, bake.Seconds()-0.01, "each change baked at least its 2 s")
		require.Equal(t, 1, rep.ChangeFailures, "v3 was rolled back")
		require.InDelta(t, 1.0/3, rep.ChangeFailureRate, 1e-9)
		require.InDelta(t, 1.0/3, rep.ReworkRate, 1e-9)
		require.Equal(t, 1, rep.FailedDeploymentRecoverySeconds.N)
		require.InDelta(t, back.Sub(rollback).Seconds(), rep.FailedDeploymentRecoverySeconds.P50, 1e-3)
		require.Len(t, rep.Locks, 1)
		l := rep.Locks[0]
		require.Equal(t, "production", l.Environment)
		require.Equal(t, "bootstrap", l.By)
		require.Equal(t, "freeze for the demo", l.Reason)
		require.Equal(t, 2, l.ReleasesPiledUp, "v2 and v3 waited behind it")
		require.InDelta(t, unlocked.Sub(locked).Seconds(), l.HeldSeconds, 1e-3)

		// Prometheus gets the same figures (counted from the server's start,
		// which was before all of this).
		resp, err := http.Get("http://" + w.addr + "/metrics")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		metrics := string(body)
		require.Contains(t, metrics, `bakery_deployments_total{environment="production",outcome="succeeded",service="web"} 3`)
		require.Contains(t, metrics, `bakery_deployments_total{environment="staging",outcome="succeeded",service="web"} 3`)
		require.Contains(t, metrics, "bakery_lead_time_seconds_count 3")
		require.Contains(t, metrics, `bakery_releases_waiting{environment="production",service="web"} 0`)
		require.NotContains(t, metrics, "bakery_lock_held_seconds{", "no lock holds now")

		// The CLI shows the same figures.
		out := run("insights", "web", "--since", "2h")
		require.Contains(t, out, "production deployments")
		require.Contains(t, out, "held by a lock")
		require.Contains(t, out, "freeze for the demo")
		var viaCLI insights.Report
		require.NoError(t, json.Unmarshal([]byte(run("insights", "web", "--since", "2h", "--json")), &viaCLI))
		require.Equal(t, rep.Deployments, viaCLI.Deployments)
		require.Equal(t, rep.LeadTimeSeconds.N, viaCLI.LeadTimeSeconds.N)

		var rel api.ReleaseProgress
		require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/services/web/releases/v1", nil, &rel))
		require.NotNil(t, rel.Release.CommittedAt)
		require.True(t, committed.Equal(*rel.Release.CommittedAt))
	})
}

// TestInsightsInTheBrowser opens the Insights page in Chromium after a real
// run (a promotion, a lock with a pile-up, a rollback): the nav leads there,
// the figures match the API's, the charts are drawn by the server, the
// page fits a phone, and dark mode changes the charts' colours. With
// BAKERY_SCREENSHOTS=docs/screenshots it writes insights*.png there.
func TestInsightsInTheBrowser(t *testing.T) {
	t.Parallel()
	const bake = 1500 * time.Millisecond
	w := newWorld(t, worldOpts{bake: bake})
	w.start()
	b := newBrowser(t, w)
	run := func(args ...string) {
		t.Helper()
		_, stderr, err := w.bakery(nil, args...)
		require.NoError(t, err, "bakery %v: %s", args, stderr)
	}
	w.releaseMsg("web", shaV1, "Fix login", "ana")
	w.eventually(20*time.Second, "v1 in production", func() bool { return w.version("web", "production") == shaV1 })
	run("lock", "web", "production", "--reason", "checkout errors")
	for _, v := range []string{shaV2, shaV3} {
		w.releaseMsg("web", v, "Change "+v[:4], "bo")
		w.eventually(20*time.Second, "in staging", func() bool { return w.version("web", "staging") == v })
	}
	time.Sleep(bake + 500*time.Millisecond)
	run("unlock", "web", "production")
	w.eventually(20*time.Second, "v3 in production", func() bool { return w.version("web", "production") == shaV3 })
	run("rollback", "web", "production", "--reason", "diffs do not load")
	w.eventually(20*time.Second, "v1 back", func() bool { return w.version("web", "production") == shaV1 })

	var rep insights.Report
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/insights?since=30d", nil, &rep))

	b.signIn(adminToken)
	b.do(20*time.Second, chromedp.Click(chromedp.CSS(`nav a[href="/insights"]`)), chromedp.WaitVisible(chromedp.CSS("#chart-locks")))
	require.Equal(t, "/insights", evalIn[string](b, "location.pathname"))
	require.Equal(t, fmt.Sprint(rep.Deployments), b.text("#tile-deployments .big"))
	require.Contains(t, b.text("#tile-cfr"), fmt.Sprintf("%d of %d", rep.ChangeFailures, rep.Deployments))
	require.Contains(t, b.text("#chart-locks"), "web/production")
	require.Contains(t, b.text("#chart-locks"), "2 piled up")
	require.Contains(t, b.text("table.locks"), "checkout errors")
	require.Positive(t, evalIn[int](b, `document.querySelectorAll("#chart-deploys rect.bar").length`), "a bar per day")
	require.Positive(t, evalIn[int](b, `document.querySelectorAll("#chart-leadtime rect.part-held_by_lock").length`), "the lock's part of lead time is drawn")
	require.Zero(t, evalIn[int](b, `document.querySelectorAll("script:not([src])").length`), "no inline script draws the charts")
	lightFill := evalIn[string](b, `getComputedStyle(document.querySelector("#chart-deploys rect.bar")).fill`)

	dir := screenshotDir(t)
	if dir != "" {
		b.screenshot(dir, "insights.png", true)
	}
	setScheme := func(scheme string) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			p := emulation.SetEmulatedMediaParams{}
			if scheme != "" {
				p.Features = []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}
			}
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, p)
			return err
		})
	}
	b.do(20*time.Second, setScheme("dark"), chromedp.Navigate(b.base+"/insights?service=web"), chromedp.WaitVisible(chromedp.CSS("#chart-locks")))
	require.Contains(t, b.text("h1"), "Insights · web")
	require.NotEqual(t, lightFill, evalIn[string](b, `getComputedStyle(document.querySelector("#chart-deploys rect.bar")).fill`), "dark mode recolours the charts")
	if dir != "" {
		b.screenshot(dir, "insights-dark.png", true)
	}
	b.do(20*time.Second, setScheme("light"), chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(b.base+"/insights?service=web"), chromedp.WaitVisible(chromedp.CSS("#chart-locks")))
	require.LessOrEqual(t, evalIn[int](b, "document.documentElement.scrollWidth"), evalIn[int](b, "window.innerWidth"),
		"the page fits a phone's width (wide charts scroll inside their panel)")
	if dir != "" {
		b.screenshot(dir, "insights-phone.png", false)
	}
}
