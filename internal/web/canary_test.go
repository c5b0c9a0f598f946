package web

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// canaryConfig is testConfig with web's production rolled out as a canary
// (25% then 50%, an hour each), its weight set by a command so that no
// router port is opened. interval is how often the engine judges it.
func canaryConfig(interval time.Duration, checks ...check.Spec) *config.Config {
	cfg := testConfig()
	cfg.Services[0].Environments[1].Canary = &config.Canary{
		Deploy:    config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		SetWeight: &config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute},
		Steps:     []config.CanaryStep{{Weight: 25, For: time.Hour}, {Weight: 50, For: time.Hour}},
		Analysis:  config.Analysis{Interval: interval, Pass: 95, Marginal: 75, Checks: checks},
	}
	return cfg
}

// release creates a release of web through the engine and waits until
// staging runs it.
func (f *fixture) release(version string) {
	f.t.Helper()
	ctx := context.Background()
	_, err := f.e.CreateRelease(ctx, "test", engine.ReleaseParams{Service: "web", Version: version, Artifact: "img:" + version})
	require.NoError(f.t, err)
	require.Eventually(f.t, func() bool {
		v, err := f.h.views.Status(ctx, "web")
		return err == nil && v.Environments[0].Version != nil && *v.Environments[0].Version == version && v.Environments[0].Deployment == nil
	}, 20*time.Second, 10*time.Millisecond)
}

// startCanary writes to the store what the engine writes when a canary's
// instances are up: production runs v1 (stable) and v2 runs beside it as a
// canary at its first step, judged once (marginal, with a metric that has
// no data). The engine is then told, as after any change of its own.
func (f *fixture) startCanary() (pipeline.Canary, pipeline.Judgement) {
	f.t.Helper()
	ctx := context.Background()
	f.release("v1")
	deploy := func(tx store.Tx, version string, now time.Time) pipeline.Deployment {
		rel, err := tx.ReleaseGet(ctx, "web", version)
		require.NoError(f.t, err)
		dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: "web", Environment: "production", ReleaseID: rel.ID,
			Kind: pipeline.KindAuto, Actor: pipeline.ActorSystem, Reason: "baked", CreatedAt: now})
		require.NoError(f.t, err)
		dep, err = tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending}, State: pipeline.DeploymentRunning, StartedAt: now, Heartbeat: now})
		require.NoError(f.t, err)
		return dep
	}
	require.NoError(f.t, f.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := f.e.Now()
		require.NoError(f.t, tx.ServiceLock(ctx, "web", now))
		dep := deploy(tx, "v1", now)
		_, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentSucceeded, FinishedAt: now})
		return err
	}))
	f.release("v2")

	var c pipeline.Canary
	var j pipeline.Judgement
	require.NoError(f.t, f.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := f.e.Now()
		require.NoError(f.t, tx.ServiceLock(ctx, "web", now))
		dep := deploy(tx, "v2", now)
		var err error
		c, err = tx.CanaryInsert(ctx, &pipeline.Canary{DeploymentID: dep.ID, Service: "web", Environment: "production",
			ReleaseID: dep.ReleaseID, Version: "v2", State: pipeline.CanaryRunning, Step: 0, Weight: 25,
			StartedAt: now, StepStartedAt: now, Reason: "canary instances deployed"})
		require.NoError(f.t, err)
		nan := engine.Float(math.NaN())
		detail, err := json.Marshal(engine.JudgementDetail{Verdict: pipeline.VerdictMarginal, Score: 80,
			Reason: "score 80 is below 95", From: now.Add(-time.Minute), To: now,
			Metrics: []engine.MetricDetail{
				{Name: "error_rate", Outcome: "pass", Critical: true, BaselineCount: 58, CanaryCount: 57, BaselineMedian: 0.0125,
					CanaryMedian: 0.0131, PValue: 0.7342, EffectSize: 0.048, Reason: "no significant increase", Source: "router error rate (per second)"},
				{Name: "latency_p50", Outcome: "nodata", BaselineCount: 61, CanaryCount: 2, BaselineMedian: 0.153, CanaryMedian: nan,
					PValue: nan, EffectSize: nan, Reason: "too few canary samples (2 < 5)", Source: "router latency (seconds per request)"},
			},
			Checks: []engine.CheckDetail{{Name: "health", Outcome: "healthy", Value: 200, Reason: "HTTP 200"}}})
		require.NoError(f.t, err)
		j, err = tx.JudgementInsert(ctx, &pipeline.Judgement{CanaryID: c.ID, Service: "web", Environment: "production", Version: "v2",
			Step: 0, Weight: 25, At: now, From: now.Add(-time.Minute), To: now, Verdict: pipeline.VerdictMarginal, Score: 80,
			Reason: "score 80 is below 95", Detail: detail})
		return err
	}))
	require.NoError(f.t, f.e.Reconcile(ctx, "web"))
	return c, j
}

// section cuts the element with the given id out of page, up to the end
// of its section.
func section(t *testing.T, page, id string) string {
	t.Helper()
	i := strings.Index(page, `id="`+id+`"`)
	require.GreaterOrEqual(t, i, 0, "no %s in the page", id)
	s := page[i:]
	return s[:strings.Index(s, "</section>")]
}

// TestCanaryDashboard: a running canary shows on the overview and the
// service page with its weight and step, the panel lays out its latest
// judgement with every metric and check, a deployer gets promote and abort
// (a viewer does not), and an aborted canary says why.
func TestCanaryDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.SetConfig(context.Background(), canaryConfig(time.Hour))

	dev, eye := f.client(), f.client()
	csrf := f.signIn(dev, "dev")
	eyeCSRF := f.signIn(eye, "eye")
	_, page := f.do(dev, "GET", "/services/web", "", nil)
	panel := section(t, page, "canary-production-panel")
	require.Contains(t, panel, "Rollout: 25% for 1h → 50% for 1h → promote · judged every 1h")
	require.Contains(t, panel, "No canary has run in production yet")
	require.NotContains(t, page, `id="canary-staging-panel"`, "staging has no canary")
	_, page = f.do(dev, "GET", "/services/api", "", nil)
	require.NotContains(t, page, "canary-", "api has no canary")

	_, j := f.startCanary()

	_, row := f.do(eye, "GET", "/ui/fragments/services/web", "", nil)
	require.Contains(t, row, `data-kind="canary"`)
	require.Contains(t, row, "canary at 25%")
	require.Contains(t, row, "step 1 of 2")
	require.Contains(t, row, `<progress class="weight" max="100" value="25"`)
	require.Regexp(t, `data-until="[^"]+" data-done-text="step time up"[^>]*>(59m \d\ds|1h 00m) left<`, row)
	_, page = f.do(eye, "GET", "/", "", nil)
	require.Contains(t, page, "canary at 25%")

	for _, c := range []*http.Client{dev, eye} {
		_, page = f.do(c, "GET", "/services/web", "", nil)
		require.Contains(t, page[:strings.Index(page, `id="canary-production-panel"`)], "canary at 25%", "on the card")
		require.Contains(t, section(t, page, "queue-production-panel"), `<span class="badge">canary in production at 25%</span>`)
		panel = section(t, page, "canary-production-panel")
		require.Contains(t, panel, `data-state="running"`)
		require.Contains(t, panel, `data-canary-state="running"`)
		require.Contains(t, panel, `<a class="sha" href="https://github.com/acme/web/commit/v2" title="v2" rel="noopener noreferrer"><code>v2</code></a>`)
		require.Contains(t, panel, "1 of 2 · ")
		require.Contains(t, panel, "<strong>Now:</strong> at step 1 of 2 at 25% until ")
		require.Contains(t, panel, "Last change: canary instances deployed")
		require.Contains(t, panel, `<li class="jd v-marginal" data-verdict="marginal">`)
		require.Contains(t, panel, `<span class="verdict v-marginal">marginal</span> · score 80 · <span class="reason">score 80 is below 95</span>`)
		require.Contains(t, panel, "step 1 of 2 at 25%")
		require.Contains(t, panel, `datetime="`+j.At.UTC().Format(time.RFC3339)+`"`)

		errRate := panel[strings.Index(panel, `data-metric="error_rate"`):]
		errRate = errRate[:strings.Index(errRate, "</tr>")]
		for _, want := range []string{`<abbr class="critical"`, ">pass<", ">58<", ">57<", ">0.0125<", ">0.0131<", ">0.734<", "no significant increase"} {
			require.Contains(t, errRate, want)
		}
		latency := panel[strings.Index(panel, `data-metric="latency_p50"`):]
		latency = latency[:strings.Index(latency, "</tr>")]
		require.NotContains(t, latency, "critical")
		require.Contains(t, latency, `<td data-label="median baseline" class="num">0.153</td>`)
		require.Contains(t, latency, `<td data-label="median canary" class="num">–</td>`, "a null median")
		require.Contains(t, latency, `<td data-label="p-value" class="num">–</td>`, "a null p-value")
		require.Contains(t, latency, "too few canary samples")
		require.Contains(t, panel, `<tr data-check="health">`)
		require.Contains(t, panel, ">HTTP 200<")
	}

	// The controls: a deployer's, with what they will do.
	_, page = f.do(dev, "GET", "/services/web", "", nil)
	panel = section(t, page, "canary-production-panel")
	require.Contains(t, panel, `id="promote-canary-production" data-action="canary-promote" data-method="POST" data-url="/api/v1/services/web/environments/production/canary/promote"`)
	require.Contains(t, panel, `data-confirm="Skip the remaining steps and replace the stable version of production with v2 now?"`)
	require.Contains(t, panel, `id="abort-canary-production" data-action="canary-abort" data-method="POST" data-url="/api/v1/services/web/environments/production/canary/abort"`)
	require.Contains(t, panel, `data-confirm="Send all traffic back to the stable version and reject v2?"`)
	_, page = f.do(eye, "GET", "/services/web", "", nil)
	require.NotContains(t, page, "data-action=", "a viewer gets no controls")
	resp, body := f.do(eye, "POST", "/api/v1/services/web/environments/production/canary/abort", `{"reason":"x"}`,
		map[string]string{CSRFHeader: eyeCSRF})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)

	// Abort, as the button does it.
	resp, body = f.do(dev, "POST", "/api/v1/services/web/environments/production/canary/abort", `{"reason":"checkout errors"}`,
		map[string]string{CSRFHeader: csrf, "Content-Type": "application/json"})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	_, page = f.do(dev, "GET", "/ui/fragments/services/web/page", "", nil)
	panel = section(t, page, "canary-production-panel")
	require.Contains(t, panel, `data-state="aborted"`)
	require.Contains(t, panel, `<p class="error canary-reason"><strong>Aborted:</strong> aborted by dev: checkout errors</p>`)
	require.Contains(t, panel, "<dt>ended</dt>")
	require.Contains(t, panel, `data-verdict="marginal"`, "the judgements stay")
	require.NotContains(t, panel, "data-action=", "nothing to promote or abort")
	require.NotContains(t, page, "canary at 25%")
	require.Contains(t, page, `data-type="canary.aborted"`)
	_, row = f.do(eye, "GET", "/ui/fragments/services/web", "", nil)
	require.NotContains(t, row, `data-kind="canary"`)
	require.Contains(t, row, "checkout errors", "the failed deployment says why")
}

// TestCanaryLive: the engine's judgements reach open service pages, even
// those that change neither the canary's step nor its weight, and a
// judgement that fails aborts the canary, whose panel then says why.
func TestCanaryLive(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.e.SetConfig(context.Background(), canaryConfig(time.Hour))
	c := f.client()
	f.signIn(c, "eye")
	canary, stored := f.startCanary()

	sub := f.hub.Subscribe()
	defer sub.Close()
	judged := func(after int64) pipeline.Judgement {
		t.Helper()
		var j pipeline.Judgement
		require.Eventually(t, func() bool {
			js, err := f.e.Store().JudgementList(context.Background(), &store.JudgementListParams{CanaryID: canary.ID, Limit: 1})
			if err != nil || len(js) == 0 || js[0].ID <= after {
				return false
			}
			j = js[0]
			return true
		}, 20*time.Second, 20*time.Millisecond)
		return j
	}
	announced := func() {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case <-sub.Ready():
				if got, _ := sub.Take(); contains(got, "web") {
					return
				}
			case <-deadline:
				t.Fatal("the judgement was not announced")
			}
		}
	}

	// Judged every second, passing: the canary holds at its step (its
	// hour is not up), yet each judgement is announced.
	f.e.SetConfig(context.Background(), canaryConfig(time.Second))
	first := judged(stored.ID)
	require.Equal(t, pipeline.VerdictPass, first.Verdict)
	_, _ = sub.Take()
	second := judged(first.ID)
	announced()
	_, page := f.do(c, "GET", "/ui/fragments/services/web/page", "", nil)
	panel := section(t, page, "canary-production-panel")
	require.Contains(t, panel, `<li class="jd v-pass" data-verdict="pass">`)
	require.Contains(t, panel, "every check is healthy")
	require.GreaterOrEqual(t, strings.Count(panel, `class="jd `), 3)
	require.Contains(t, panel, `id="judgement-`+itoa(stored.ID)+`"`, "older judgements fold away")
	require.NotContains(t, panel, `id="judgement-`+itoa(second.ID)+`"`, "the newest is open")

	// A failing check fails the judgement: the engine aborts the canary.
	f.e.SetConfig(context.Background(), canaryConfig(time.Second, check.Spec{Name: "smoke",
		Command: &check.CommandSpec{Command: []string{"/bin/sh", "-c", "echo 5 errors in checkout; exit 1"}}}))
	require.Eventually(t, func() bool {
		c, err := f.e.Store().CanaryGet(context.Background(), canary.ID)
		return err == nil && c.State == pipeline.CanaryAborted
	}, 20*time.Second, 20*time.Millisecond)
	announced()
	_, page = f.do(c, "GET", "/ui/fragments/services/web/page", "", nil)
	panel = section(t, page, "canary-production-panel")
	require.Contains(t, panel, `data-state="aborted"`)
	require.Regexp(t, `<p class="error canary-reason"><strong>Aborted:</strong> judgement failed at step 1 of 2 at 25% \(score \d+\): check [^<]*errors in checkout`, panel)
	require.Contains(t, panel, `<li class="jd v-fail" data-verdict="fail">`)
	require.Contains(t, panel, `<tr data-check="smoke">`)
	require.Contains(t, panel, `<span class="verdict v-failing">failing</span>`)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
