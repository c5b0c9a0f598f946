package web

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/window"
)

// TestCellStates renders an environment in each state the overview shows:
// the word, the colour class and what goes with it.
func TestCellStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	cfg := testConfig()
	cfg.Services[0].Environments[1].Window = window.New(ny, nil, nil)
	f.e.SetConfig(context.Background(), cfg)

	now := f.e.Now()
	ptr := func(t time.Time) *time.Time { return &t }
	v1 := "0123456789abcdef"
	staging := api.EnvironmentView{Name: "staging", Version: &v1, Since: ptr(now.Add(-time.Hour)), State: "idle",
		Waiting: api.WaitView{Kind: "up_to_date"}}
	render := func(prod api.EnvironmentView, latest *pipeline.Deployment) (envCell, string) {
		t.Helper()
		c := f.h.cell("web", 1, []api.EnvironmentView{staging, prod}, latest, now)
		var buf bytes.Buffer
		require.NoError(t, f.h.pages.overview.ExecuteTemplate(&buf, "cell", c))
		return c, buf.String()
	}

	c, html := render(api.EnvironmentView{Name: "production", Bake: "1h0m0s",
		Waiting: api.WaitView{Kind: "bake", Version: v1, Until: ptr(now.Add(15 * time.Minute))}}, nil)
	require.Equal(t, "baking", c.Kind)
	require.Equal(t, 750, c.BakePermille, "45 of 60 minutes baked")
	require.Contains(t, html, "baking 0123456")
	require.Contains(t, html, "15m 00s left")

	c, html = render(api.EnvironmentView{Name: "production", State: "deploying",
		Deployment: &api.DeploymentView{Version: v1, State: "running", Kind: "rollback", Actor: "ana", StartedAt: ptr(now.Add(-75 * time.Second))}}, nil)
	require.Equal(t, "deploying", c.Kind)
	require.Contains(t, html, "deploying 0123456")
	require.Contains(t, html, ">1:15<", "elapsed time")
	require.Contains(t, html, "rollback by ana")

	v2 := "89abcdef01234567"
	c, html = render(api.EnvironmentView{Name: "production", Version: &v1, State: "canary",
		Deployment: &api.DeploymentView{Version: v2, State: "running", Kind: "auto", Actor: "bakery", StartedAt: ptr(now.Add(-20 * time.Minute))},
		Canary:     &api.CanaryView{Version: v2, State: "running", Step: 2, Steps: 3, Weight: 50, StepEndsAt: ptr(now.Add(10 * time.Minute))}}, nil)
	require.Equal(t, "canary", c.Kind)
	require.Equal(t, "canary at 50%", c.Label)
	require.Contains(t, html, "step 2 of 3")
	require.Contains(t, html, `<progress class="weight" max="100" value="50"`)
	require.Contains(t, html, `data-done-text="step time up"`)
	require.Contains(t, html, "10m 00s left")
	require.Contains(t, html, `data-canary="running" data-weight="50"`)
	require.NotContains(t, html, "deploying", "a canary is not shown as a deploy")

	c, html = render(api.EnvironmentView{Name: "production", Version: &v1, State: "canary",
		Deployment: &api.DeploymentView{Version: v2, State: "pending", Kind: "auto", Actor: "bakery"},
		Canary:     &api.CanaryView{Version: v2, State: "promoting", Step: 3, Steps: 3, Weight: 100}}, nil)
	require.Equal(t, "canary", c.Kind)
	require.Contains(t, html, "promoting (replacing stable)")
	require.Contains(t, html, "<code class=\"sha\" title=\"89abcdef01234567\">89abcde</code>")
	require.NotContains(t, html, "left", "no step time while promoting")

	c, html = render(api.EnvironmentView{Name: "production", Locked: true, State: "locked",
		Locks:  []api.LockView{{Service: "*", Environment: "production", Actor: "ana", Reason: "incident 42", Since: now.Add(-13 * time.Hour)}},
		PileUp: &api.PileUpView{Message: "locked for 13h0m0s with 3 release(s) piled up"}, Queue: 3}, nil)
	require.Equal(t, "locked", c.Kind)
	require.Contains(t, html, "every service · by <strong>ana</strong>")
	require.Contains(t, html, "incident 42")
	require.Contains(t, html, "3 releases waiting")
	require.Contains(t, html, "piled up")

	c, html = render(api.EnvironmentView{Name: "production", Version: &v1, Waiting: api.WaitView{Kind: "up_to_date"}},
		&pipeline.Deployment{Environment: "production", Version: "feedbeef00", State: pipeline.DeploymentFailed, Error: "deploy command exited with status 7"})
	require.Equal(t, "failed", c.Kind)
	require.Contains(t, html, "failed: feedbee")
	require.Contains(t, html, "status 7")

	opens := time.Date(2026, 11, 30, 14, 0, 0, 0, time.UTC) // Monday 09:00 in New York
	c, html = render(api.EnvironmentView{Name: "production", Waiting: api.WaitView{Kind: "window", Version: v1, Until: &opens}}, nil)
	require.Equal(t, "window", c.Kind)
	require.Equal(t, "waiting for window", c.Label)
	require.Equal(t, "America/New_York", c.WindowZone)
	require.Contains(t, html, `data-zone="America/New_York"`)
	require.Contains(t, html, "Mon 30 Nov 09:00 America/New_York", "in the window's zone; the page adds the viewer's")
	require.Contains(t, html, `datetime="2026-11-30T14:00:00Z"`)

	c, html = render(api.EnvironmentView{Name: "production", Version: &v1, Waiting: api.WaitView{Kind: "up_to_date"}}, nil)
	require.Equal(t, "ok", c.Kind)
	require.Equal(t, "up to date", c.Label)
	require.False(t, strings.Contains(html, "<script"), "no inline scripts (the CSP forbids them)")
}
