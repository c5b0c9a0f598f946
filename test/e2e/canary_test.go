package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// answer is one response seen by the test's users through the router.
type answer struct {
	at     time.Time
	track  string
	status int
}

// users sends rps requests a second to url until stop is closed.
type users struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	done    chan struct{}
}

func startUsers(url string, rps int) *users {
	u := &users{stop: make(chan struct{}), done: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second}
	go func() {
		defer close(u.done)
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		for {
			select {
			case <-u.stop:
				return
			case <-tick.C:
			}
			resp, err := client.Get(url)
			a := answer{at: time.Now(), track: "unreachable", status: 0}
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				a.track, a.status = resp.Header.Get("X-Bakery-Track"), resp.StatusCode
			}
			u.mu.Lock()
			u.answers = append(u.answers, a)
			u.mu.Unlock()
		}
	}()
	return u
}

func (u *users) Stop() {
	close(u.stop)
	<-u.done
}

func (u *users) since(t time.Time) []answer {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []answer
	for _, a := range u.answers {
		if !a.at.Before(t) {
			out = append(out, a)
		}
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// canaryWorld is bakery serving the quickstart's real app (built twice:
// good, and bad with a 50% error rate) with production behind the
// built-in router.
type canaryWorld struct {
	*world
	demo, good, bad string
	routerPort      int
}

func newCanaryWorld(t *testing.T, steps string, analysis ...string) *canaryWorld {
	w := newWorld(t, worldOpts{})
	cw := &canaryWorld{world: w, demo: filepath.Join(w.dir, "demo"), good: filepath.Join(w.dir, "app"), bad: filepath.Join(w.dir, "app-bad")}
	for _, b := range []struct{ out, ldflags string }{{cw.good, ""}, {cw.bad, "-X main.builtInErrorRate=0.5"}} {
		out, err := exec.Command("go", "build", "-ldflags", b.ldflags, "-o", b.out, "../../examples/quickstart/app").CombinedOutput()
		require.NoError(t, err, "building the quickstart app: %s", out)
	}
	script, err := os.ReadFile("../../examples/quickstart/deploy.sh")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "qs-deploy.sh"), script, 0o755))
	t.Cleanup(func() {
		// The app processes are detached from their deploys: stop them.
		pids, _ := filepath.Glob(filepath.Join(cw.demo, "*.pid"))
		for _, p := range pids {
			b, _ := os.ReadFile(p)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	staging, stable, canary := freePort(t), freePort(t), freePort(t)
	cw.routerPort = freePort(t)
	an := `          analysis:
            interval: 10s
            metrics:
              - name: errors
                router: error_rate
                critical: true
              - name: latency
                router: latency
                tolerance: 2
`
	if len(analysis) > 0 {
		an = analysis[0]
	}
	cfg := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [`+testInheritEnv+`]
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./qs-deploy.sh", "staging", "%d"]
      - name: production
        deploy:
          command: ["./qs-deploy.sh", "production", "%d"]
        canary:
          deploy:
            command: ["./qs-deploy.sh", "production-canary", "%d"]
          cleanup:
            command: ["./qs-deploy.sh", "--stop", "production-canary"]
          router:
            listen: 127.0.0.1:%d
            stable: http://127.0.0.1:%d
            canary: http://127.0.0.1:%d
            track_header: true    # the test tells the versions apart by X-Bakery-Track
          steps:
%s
%s`, w.addr, staging, stable, canary, cw.routerPort, stable, canary, steps, an)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	w.env = append(w.env, "BAKERY_DEMO_DIR="+cw.demo)
	return cw
}

func (cw *canaryWorld) createRelease(version, artifact string) {
	cw.t.Helper()
	var out map[string]any
	code := cw.call(adminToken, "POST", "/api/v1/services/web/releases",
		api.ReleaseRequest{Version: version, Artifact: artifact, Message: "change " + version, Author: "ana"}, &out)
	require.Equal(cw.t, http.StatusCreated, code, "%v", out)
}

type canaryState struct {
	Canary     *api.CanaryView     `json:"canary"`
	Judgements []api.JudgementView `json:"judgements"`
}

func (cw *canaryWorld) canary() canaryState {
	cw.t.Helper()
	var c canaryState
	require.Equal(cw.t, 200, cw.call(adminToken, "GET", "/api/v1/services/web/environments/production/canary", nil, &c))
	return c
}

// TestCanaryCaughtAndRolledBack runs the quickstart's real app behind
// bakery's built-in router: a release built with an error rate enters
// production as a canary, the judge (10 s interval) finds its error rate
// above the stable version's and bakery aborts it by itself: all traffic
// back on stable, the release rejected, production locked. It logs the
// time from the first failing canary answer to traffic back on stable.
func TestCanaryCaughtAndRolledBack(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, after string }{
		{"failing from its first request", ""},
		{"failing 7s into its first judged interval", "7s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testCanaryCaught(t, tc.after)
		})
	}
}

func testCanaryCaught(t *testing.T, errorAfter string) {
	cw := newCanaryWorld(t, "            - {weight: 50, for: 1m}")
	w, good, bad, routerPort := cw.world, cw.good, cw.bad, cw.routerPort
	if errorAfter != "" {
		w.env = append(w.env, "APP_ERROR_AFTER="+errorAfter)
	}
	w.start()
	createRelease := cw.createRelease

	createRelease("v1", good)
	w.eventually(60*time.Second, "v1 in production (the first release deploys plainly)", func() bool { return w.version("web", "production") == "v1" })

	u := startUsers(fmt.Sprintf("http://127.0.0.1:%d/", routerPort), 50)
	defer u.Stop()
	createRelease("v2", bad)
	var c canaryState
	w.eventually(90*time.Second, "the failing canary is aborted by bakery", func() bool {
		c = cw.canary()
		return c.Canary != nil && c.Canary.State == "aborted"
	})
	abortSeen := time.Now()
	time.Sleep(2 * time.Second)
	after := u.since(abortSeen.Add(time.Second))
	require.NotEmpty(t, after)
	for _, a := range after {
		require.Equal(t, "stable", a.track, "after the abort every request goes to stable")
		require.Equal(t, 200, a.status)
	}

	// The figure: first failing canary answer → last canary answer.
	all := u.since(time.Time{})
	var firstFail, lastCanary time.Time
	canaryAnswers, canaryErrors := 0, 0
	for _, a := range all {
		if a.track != "canary" {
			continue
		}
		canaryAnswers++
		if a.status >= 500 {
			canaryErrors++
			if firstFail.IsZero() {
				firstFail = a.at
			}
		}
		lastCanary = a.at
	}
	require.False(t, firstFail.IsZero(), "the canary answered with errors")
	t.Logf("FIGURE canary failing → traffic on stable: %s (analysis interval 10s; canary answered %d requests, %d errors)",
		lastCanary.Sub(firstFail).Round(10*time.Millisecond), canaryAnswers, canaryErrors)

	require.Equal(t, "v1", w.version("web", "production"), "production still runs v1")
	require.NotEmpty(t, c.Judgements)
	require.Equal(t, "fail", c.Judgements[0].Verdict)
	require.Contains(t, string(c.Judgements[0].Detail), `"p_value"`)
	s := w.status("web")
	require.True(t, s.Environments[1].Locked, "production is locked")
	require.Contains(t, s.Environments[1].Locks[0].Reason, "canary v2 failed")
	var rel api.ReleaseProgress
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/services/web/releases/v2", nil, &rel))
	require.True(t, rel.Release.Rejected, "the canary's release is rejected")
	types := map[string]bool{}
	for _, ev := range w.events("web") {
		types[ev.Type] = true
	}
	for _, typ := range []string{"canary.started", "canary.judged", "canary.aborted", "lock.placed"} {
		require.True(t, types[typ], "event %s on the record: %v", typ, types)
	}

	// The CLI shows the judgement.
	out, errOut, err := w.bakery(nil, "canary", "show", "web", "production")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "canary v2: aborted")
	require.Contains(t, out, "FAIL")
	require.Contains(t, out, "errors*")
}

// TestCanarySurvivesACrash kills bakery (SIGKILL) while a canary runs: after
// the restart the canary is at the same step, the router gives it its
// weight again, and it goes on to be promoted; its instances were deployed
// once and production gets exactly one deployment of the release.
func TestCanarySurvivesACrash(t *testing.T) {
	t.Parallel()
	cw := newCanaryWorld(t, "            - {weight: 50, for: 25s}")
	w := cw.world
	w.start()
	cw.createRelease("v1", cw.good)
	w.eventually(60*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	u := startUsers(fmt.Sprintf("http://127.0.0.1:%d/", cw.routerPort), 40)
	defer u.Stop()
	cw.createRelease("v2", cw.good)
	w.eventually(60*time.Second, "v2 is a canary", func() bool {
		c := cw.canary()
		return c.Canary != nil && c.Canary.Version == "v2" && c.Canary.State == "running"
	})
	before := cw.canary().Canary
	time.Sleep(3 * time.Second)
	w.kill()
	down := time.Now()
	time.Sleep(2 * time.Second)
	w.start()
	after := cw.canary().Canary
	require.Equal(t, "running", after.State, "the canary survives the crash")
	require.Equal(t, before.ID, after.ID)
	require.Equal(t, before.Step, after.Step)
	require.Equal(t, 50, after.Weight)
	w.eventually(10*time.Second, "the restarted router sends the canary its share again", func() bool {
		for _, a := range u.since(time.Now().Add(-time.Second)) {
			if a.track == "canary" && a.status == 200 {
				return true
			}
		}
		return false
	})
	w.eventually(90*time.Second, "the canary is promoted after the restart", func() bool {
		c := cw.canary()
		return c.Canary.State == "promoted"
	})
	w.eventually(30*time.Second, "v2 in production", func() bool { return w.version("web", "production") == "v2" })
	deps := 0
	for _, d := range w.deployments("web", "production") {
		if d.Version == "v2" {
			deps++
		}
	}
	require.Equal(t, 1, deps, "one deployment of v2 into production")
	logText, err := os.ReadFile(filepath.Join(cw.demo, "production-canary.log"))
	require.NoError(t, err)
	require.Equal(t, 1, strings.Count(string(logText), "deploying v2"), "the canary instances were deployed once:\n%s", logText)
	w.eventually(30*time.Second, "the cleanup stopped the canary instance", func() bool {
		_, err := os.Stat(filepath.Join(cw.demo, "production-canary.pid"))
		return os.IsNotExist(err) && cw.canary().Canary.CleanedAt != nil
	})
	var unreachable int
	for _, a := range u.since(down.Add(3 * time.Second)) {
		if a.status != 200 {
			unreachable++
		}
	}
	t.Logf("answers other than 200 after the restart: %d", unreachable)
}

// TestCanaryInTheBrowser: the dashboard in Chromium follows a canary live
// (its weight on the environment card, judgements arriving in the panel
// without a reload), and its Abort button sends all traffic back to
// stable.
func TestCanaryInTheBrowser(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	cw := newCanaryWorld(t, "            - {weight: 25, for: 10m}")
	w := cw.world
	w.start()
	cw.createRelease(shaV1, cw.good)
	w.eventually(60*time.Second, "v1 in production", func() bool { return w.version("web", "production") == shaV1 })
	u := startUsers(fmt.Sprintf("http://127.0.0.1:%d/", cw.routerPort), 40)
	defer u.Stop()

	b := newBrowser(t, w)
	b.signIn(adminToken)
	b.do(20*time.Second, chromedp.Navigate(b.base+"/services/web"), chromedp.WaitVisible(chromedp.CSS("#canary-production-panel")))
	evalIn[chromedp.Void](b, `window.__notReloaded = true`)
	cw.createRelease(shaV2, cw.good)
	b.waitEnv(60*time.Second, "web", "production", "data-canary", "running")
	require.Equal(t, "25", b.envAttr("web", "production", "data-weight"))
	require.Contains(t, b.text(envCell("web", "production")), "canary at 25%")
	b.waitFor(30*time.Second, "a judgement appears in the panel", `document.querySelector("#canary-production-panel .jd") !== null`)
	require.Contains(t, b.text("#canary-production-panel"), "errors")
	require.True(t, evalIn[bool](b, `window.__notReloaded === true`), "the page followed the canary without a reload")
	if dir := screenshotDir(t); dir != "" {
		b.screenshot(dir, "canary.png", true)
	}

	b.act("#abort-canary-production", "Send all traffic back to the stable version", "checkout looks wrong", nil)
	b.waitFor(20*time.Second, "the panel shows the abort", `(document.querySelector("#canary-production-panel") || {dataset: {}}).dataset.state === "aborted"`)
	c := cw.canary()
	require.Equal(t, "aborted", c.Canary.State)
	require.Contains(t, c.Canary.Reason, "checkout looks wrong")
	time.Sleep(time.Second)
	for _, a := range u.since(time.Now().Add(-500 * time.Millisecond)) {
		require.Equal(t, "stable", a.track, "after the abort every request goes to stable")
	}
	require.Equal(t, shaV1, w.version("web", "production"))
}

// TestCanaryJudgedOnPrometheus judges a canary on metrics read from a real
// Prometheus (the way to judge with several replicas): Prometheus scrapes
// the router metrics bakery exports, and the judge compares the canary's
// error rate with the stable version's from range queries. A failing
// canary is aborted; a Prometheus that is gone makes judgements
// inconclusive, never a pass.
func TestCanaryJudgedOnPrometheus(t *testing.T) {
	t.Parallel()
	rate := func(track string) string {
		return fmt.Sprintf(`(sum(rate(bakery_router_requests_total{track=\"%s\",code=~\"5..\"}[5s])) or vector(0)) / sum(rate(bakery_router_requests_total{track=\"%s\"}[5s]))`, track, track)
	}
	w0 := newWorld(t, worldOpts{}) // only for its free address: bakery's own, which Prometheus scrapes
	prom := testutil.StartPrometheus(t, w0.addr)
	if prom == nil {
		return
	}
	analysis := fmt.Sprintf(`          analysis:
            interval: 10s
            metrics:
              - name: errors
                critical: true
                prometheus:
                  url: %s
                  canary: "%s"
                  baseline: "%s"
                  step: 2s
`, prom.URL, rate("canary"), rate("stable"))
	cw := newCanaryWorld(t, "            - {weight: 50, for: 1m}", analysis)
	w := cw.world
	// Serve on the address Prometheus scrapes.
	w.addr = w0.addr
	b, err := os.ReadFile(w.config)
	require.NoError(t, err)
	cfg := regexp.MustCompile(`(?m)^  addr: .*$`).ReplaceAllString(string(b), "  addr: "+w0.addr)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	w.start()
	cw.createRelease("v1", cw.good)
	w.eventually(60*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	u := startUsers(fmt.Sprintf("http://127.0.0.1:%d/", cw.routerPort), 40)
	defer u.Stop()
	cw.createRelease("v2", cw.bad)
	var c canaryState
	w.eventually(90*time.Second, "the canary failing in Prometheus is aborted", func() bool {
		c = cw.canary()
		return c.Canary != nil && c.Canary.Version == "v2" && c.Canary.State == "aborted"
	})
	require.Equal(t, "fail", c.Judgements[0].Verdict, c.Judgements[0].Reason)
	require.Regexp(t, `"source":\s*"prometheus"`, string(c.Judgements[0].Detail))
	require.Equal(t, "v1", w.version("web", "production"))

	// Prometheus gone: the next canary's judgements are inconclusive and
	// it stays where it is.
	_, errOut, err := w.bakery(nil, "unlock", "web", "production", "--reason", "fixed")
	require.NoError(t, err, errOut)
	prom.Stop()
	cw.createRelease("v3", cw.good)
	w.eventually(90*time.Second, "v3 judged without Prometheus", func() bool {
		c = cw.canary()
		return c.Canary != nil && c.Canary.Version == "v3" && len(c.Judgements) > 0
	})
	require.Equal(t, "inconclusive", c.Judgements[0].Verdict, c.Judgements[0].Reason)
	require.Equal(t, "running", c.Canary.State)
	require.Contains(t, string(c.Judgements[0].Detail), "unreachable")

	// People finish it from the CLI: a reason is required, and an abort
	// with one sends all traffic to stable.
	_, errOut, err = w.bakery(nil, "canary", "abort", "web", "production")
	require.Error(t, err)
	require.Contains(t, errOut, "--reason is required")
	out, errOut, err := w.bakery(nil, "canary", "abort", "web", "production", "--reason", "no metrics to judge it by")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "v3: canary aborted")
	_, errOut, err = w.bakery(nil, "canary", "promote", "web", "production", "--reason", "too late")
	require.Error(t, err)
	require.Contains(t, errOut, "no canary is running")
	require.Equal(t, "aborted", cw.canary().Canary.State)
}
