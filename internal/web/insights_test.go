package web

import (
	"context"
	"encoding/xml"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
)

// TestInsightsPage: /insights and /insights?service=web render the
// figures and well-formed server-side SVG charts, with no inline style
// (the CSP forbids it) and no script of their own; bad input is a 400
// page, an unknown service a 404.
func TestInsightsPage(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.e.CreateRelease(ctx, "test", engine.ReleaseParams{Service: "web", Version: "a1"})
	require.NoError(t, err)
	_, err = f.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "freeze <b>now</b>"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := f.h.views.Status(ctx, "web")
		return err == nil && v.Environments[0].Version != nil
	}, 20*time.Second, 20*time.Millisecond)

	c := f.client()
	f.signIn(c, "dev")
	for _, path := range []string{"/insights", "/insights?service=web&since=7d"} {
		resp, page := f.do(c, "GET", path, "", nil)
		require.Equal(t, 200, resp.StatusCode, page)
		require.Contains(t, page, `href="/insights" aria-current="page">Insights</a>`, "the nav links the page")
		for _, id := range []string{"tile-deployments", "tile-leadtime", "tile-cfr", "tile-caught", "tile-recovery", "tile-rework",
			"chart-deploys", "chart-leadtime", "chart-locks", "chart-weekly", "chart-stack"} {
			require.Contains(t, page, `id="`+id+`"`, path)
		}
		require.NotContains(t, page, "style=", "the CSP allows no inline style")
		require.Contains(t, page, "web/production", "the lock is on the timeline")
		require.Contains(t, page, "freeze &lt;b&gt;now&lt;/b&gt;", "a lock's reason is escaped")
		for _, svg := range regexp.MustCompile(`(?s)<svg.*?</svg>`).FindAllString(page, -1) {
			require.NoError(t, xml.Unmarshal([]byte(svg), new(struct{})), "well-formed SVG: %s", svg)
			require.False(t, strings.Contains(svg, "<script"))
		}
	}
	_, page := f.do(c, "GET", "/insights?service=web", "", nil)
	require.Contains(t, page, "Insights · web")

	// The service page says when the waiting release should reach
	// production: its bake ends an hour after staging (the window is
	// always open), and the lock is what may hold it.
	_, page = f.do(c, "GET", "/services/web", "", nil)
	require.Regexp(t, `expected in production at (\w{3} \d+ \w{3} )?\d\d:\d\d UTC if nothing holds it`, page)

	resp, page := f.do(c, "GET", "/insights?since=yesterday", "", nil)
	require.Equal(t, 400, resp.StatusCode)
	require.Contains(t, page, "invalid parameter since")
	resp, _ = f.do(c, "GET", "/insights?service=nope", "", nil)
	require.Equal(t, 404, resp.StatusCode)
	resp, _ = f.do(f.client(), "GET", "/insights", "", nil)
	require.Equal(t, 303, resp.StatusCode, "no session: sign in first")
}

func TestChartScales(t *testing.T) {
	t.Parallel()
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 3: 5, 7: 10, 12: 20, 4200: 5000} {
		require.InDelta(t, want, niceMax(in), 1e-9, "niceMax(%v)", in)
	}
	for in, want := range map[float64]string{2.5: "2.5s", 45: "45s", 90: "1.5m", 3600: "1h", 5400: "1.5h", 3 * 86400: "3d"} {
		require.Equal(t, want, hoursLabel(in))
	}
}
