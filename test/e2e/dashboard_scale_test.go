package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// The dashboard at many services, in a real headless Chromium against a
// real `bakery serve` on SQLite. BAKERY_SCALE_N sets how many services
// (default scaleBrowserN, 10,000; a smaller N on demand):
//
//	BAKERY_SCALE_N=1000 go test -count=1 -v ./test/e2e/ -run TestDashboardAtScale
//
// The server is built without the race detector (plainBin) even when the
// test runs with it.
//
// It prints FIGURE lines: Chromium's DOMContentLoaded and load of the
// overview, the server's time for it (p50/p99 of 20) and its bytes.

// scaleBrowserN is the default size of TestDashboardAtScale.
const scaleBrowserN = 10000

// scaleTeams are the team labels of the generated services, by index
// modulo their number.
var scaleTeams = []string{"payments", "search", "checkout", "growth"}

// writeScaleConfig writes n services web-0 … web-(n-1), each with staging
// and production (bake), labelled team (scaleTeams[i%4]) and tier (i%3),
// deployed by the harness's deploy script.
func writeScaleConfig(t *testing.T, w *world, n int, bake time.Duration) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  addr: %s\n  inherit_env: [%s]\nservices:\n", w.addr, testInheritEnv)
	for i := range n {
		fmt.Fprintf(&b, "  - name: web-%d\n    labels: {team: %s, tier: %d}\n    environments:\n"+
			"      - name: staging\n        deploy:\n          command: [\"./deploy.sh\"]\n"+
			"      - name: production\n        bake: %s\n        deploy:\n          command: [\"./deploy.sh\"]\n",
			i, scaleTeams[i%len(scaleTeams)], i%3, bake)
	}
	require.NoError(t, os.WriteFile(w.config, []byte(b.String()), 0o644))
}

// plainBin is a bakery built without the race detector, built once: with
// the detector on, SQLite (a Go translation of C) reads the views of 2,000
// services in minutes, and the figures would be the detector's.
var plainBin = sync.OnceValues(func() (string, error) {
	if !raceEnabled {
		return bakeryBin, nil
	}
	bin := filepath.Join(filepath.Dir(bakeryBin), "bakery-norace")
	out, err := exec.Command("go", "build", "-o", bin, "../../cmd/bakery").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("error building bakery without -race: %v\n%s", err, out)
	}
	return bin, nil
})

// cpuTicks is the server process's user+system time in clock ticks
// (1/100 s) from /proc/PID/stat.
func cpuTicks(t *testing.T, s *server) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.cmd.Process.Pid))
	require.NoError(t, err)
	// Fields after the command name's closing parenthesis: utime and stime
	// are the 12th and 13th.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	utime, err := strconv.ParseInt(fields[11], 10, 64)
	require.NoError(t, err)
	stime, err := strconv.ParseInt(fields[12], 10, 64)
	require.NoError(t, err)
	return utime + stime
}

// settle waits until the server has used under 30 % of a core in each of
// three seconds running, or for at most limit, and says how long it took.
func settle(t *testing.T, s *server, limit time.Duration) string {
	t.Helper()
	began := time.Now()
	for quiet := 0; quiet < 3; {
		if time.Since(began) > limit {
			return fmt.Sprintf("not within %s", limit)
		}
		before := cpuTicks(t, s)
		time.Sleep(time.Second)
		if cpuTicks(t, s)-before < 30 {
			quiet++
		} else {
			quiet = 0
		}
	}
	return fmt.Sprintf("after %.1fs", time.Since(began).Seconds())
}

// decisions is how many decisions the server has made
// (bakery_decision_seconds_count on /metrics).
func decisions(t *testing.T, w *world) int {
	t.Helper()
	resp, err := http.Get("http://" + w.addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "bakery_decision_seconds_count "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			require.NoError(t, err, line)
			return int(f)
		}
	}
	return 0
}

// scaleN is BAKERY_SCALE_N, or def.
func scaleN(t *testing.T, def int) int {
	t.Helper()
	v := os.Getenv("BAKERY_SCALE_N")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	require.NoError(t, err, "BAKERY_SCALE_N must be a number of services, such as 10000")
	require.GreaterOrEqual(t, n, 300, "BAKERY_SCALE_N: the test needs at least 300 services (three pages and web-150)")
	return n
}

// rowNames are the services of the overview's rows, in order.
func (b *browser) rowNames() []string {
	b.t.Helper()
	return evalIn[[]string](b, `Array.from(document.querySelectorAll('#services > article.svc')).map(a => a.dataset.service)`)
}

// navTiming is the page's navigation timing: DOMContentLoaded and load
// from the start of the navigation, the server's time from request to
// first byte, and the bytes on the wire and decoded.
type navTiming struct {
	DCL, Load, TTFB float64 // ms
	Transfer, Body  int
}

func (b *browser) navigate(path, waitSel string) navTiming {
	b.t.Helper()
	b.do(60*time.Second, chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS(waitSel)))
	b.waitFor(20*time.Second, "the load event", `performance.getEntriesByType("navigation")[0].loadEventEnd > 0`)
	return evalIn[navTiming](b, `(() => { const n = performance.getEntriesByType("navigation")[0];
		return {DCL: n.domContentLoadedEventEnd, Load: n.loadEventEnd, TTFB: n.responseStart - n.requestStart,
			Transfer: n.transferSize, Body: n.decodedBodySize}; })()`)
}

func pctf(xs []float64, q float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// TestDashboardAtScale: with thousands of services the overview shows the
// counts per state that the API reports, a page of 100 rows, finds a
// service by name from the search box and from ?q=, filters by label and
// by state, pages on, and updates a row on the page over server-sent
// events without a reload.
func TestDashboardAtScale(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	n := scaleN(t, scaleBrowserN)
	w := newWorld(t, worldOpts{bake: time.Hour})
	bin, err := plainBin()
	require.NoError(t, err)
	w.bin = bin
	writeScaleConfig(t, w, n, time.Hour)
	began := time.Now()
	w.start()
	t.Logf("FIGURE dashboard_scale n=%d startup %.0fms", n, float64(time.Since(began))/1e6)

	// Some services in each state the counts show: web-1 and web-2 baking
	// (their release passed staging, production bakes an hour), web-4's
	// release failed on staging, production of web-3, web-7 and web-150
	// locked (web-150 is on the second page).
	locked := []string{"web-3", "web-7", "web-150"}
	for _, svc := range locked {
		require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/"+svc+"/environments/production/lock",
			map[string]string{"reason": "scale test"}, nil))
	}
	w.releaseMsg("web-1", shaV1, "First", "ana")
	w.releaseMsg("web-2", shaV1, "First", "ana")
	w.releaseMsg("web-4", "bad"+shaV1[3:], "Broken", "bo")
	want := map[string]int{api.ListStateLocked: 3, api.ListStateBaking: 2, api.ListStateFailed: 1}
	var list api.ServiceList
	deadline := time.Now().Add(2 * time.Minute)
	for {
		list = api.ServiceList{}
		code := w.call(adminToken, "GET", "/api/v1/services", nil, &list)
		same := code == http.StatusOK
		for _, st := range api.ListStates {
			same = same && list.Counts[st] == want[st]
		}
		if same {
			break
		}
		require.True(t, time.Now().Before(deadline), "the API counts %v (status %d), not %v", list.Counts, code, want)
		time.Sleep(200 * time.Millisecond)
	}
	require.Equal(t, n, list.Total)
	// Let the start-up's background work (every service decided once)
	// end, so that the figures are the dashboard's: the decisions counted
	// on /metrics, then a quiet process (the count alone can be reached
	// while its last transactions still run).
	began = time.Now()
	w.eventually(3*time.Minute, "every service decided once", func() bool { return decisions(t, w) >= n })
	t.Logf("FIGURE dashboard_scale n=%d decided every service %.1fs after the counts; quiet %s", n, time.Since(began).Seconds(), settle(t, w.server, 30*time.Second))

	b := newBrowser(t, w)
	b.signIn(adminToken)

	// The first page: counts at the top as the API has them, 100 rows.
	var timings []navTiming
	for range 5 {
		timings = append(timings, b.navigate("/", "#services"))
	}
	for _, st := range api.ListStates {
		require.Equal(t, strconv.Itoa(list.Counts[st]), evalIn[string](b, fmt.Sprintf(`document.getElementById("state-%s").dataset.count`, st)),
			"the count of %s at the top", st)
	}
	rows := b.rowNames()
	require.Len(t, rows, 100, "a page of 100 rows")
	require.Equal(t, "web-0", rows[0])
	require.Equal(t, "web-99", rows[99])
	require.Contains(t, b.text("#summary"), fmt.Sprintf("%d of %d services, page 1 of %d", n, n, (n+99)/100))

	// Search from the page's search box.
	b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#search"), "web-42\n"))
	b.waitFor(30*time.Second, "the search's page", `location.search.includes("q=web-42") && !!document.getElementById("svc-web-42")`)
	for _, name := range b.rowNames() {
		require.Contains(t, name, "web-42")
	}
	// And from the address.
	b.navigate("/?q=web-42", "#svc-web-42")
	found := b.rowNames()
	require.Contains(t, found, "web-42")
	for _, name := range found {
		require.Contains(t, name, "web-42")
	}

	// A label: every row is of team search (index 1 modulo 4).
	b.navigate("/?selector="+url.QueryEscape("team=search"), "#services")
	sel := b.rowNames()
	require.Len(t, sel, min(100, n/4))
	for _, name := range sel {
		i, err := strconv.Atoi(strings.TrimPrefix(name, "web-"))
		require.NoError(t, err)
		require.Equal(t, 1, i%4, "%s is not of team search", name)
	}
	// A state, chosen at the top: exactly the locked services.
	b.navigate("/", "#services")
	b.do(30*time.Second, chromedp.Click(chromedp.CSS("#state-locked")))
	b.waitFor(30*time.Second, "the locked services", `location.search.includes("state=locked") && document.querySelectorAll("#services > article.svc").length === 3`)
	require.Equal(t, locked, b.rowNames())
	b.navigate("/?state=failed", "#services")
	require.Equal(t, []string{"web-4"}, b.rowNames())

	// The next page.
	b.navigate("/", "#services")
	b.do(30*time.Second, chromedp.Click(chromedp.CSS("#page-next")))
	b.waitFor(30*time.Second, "the second page", `location.search.includes("page=2") && !!document.getElementById("svc-web-100")`)
	page2 := b.rowNames()
	require.Len(t, page2, 100)
	require.Equal(t, "web-100", page2[0])
	require.Equal(t, "web-199", page2[99])

	// A live update of a row on the page, without a reload; the count of
	// baking services at the top follows.
	b.navigate("/", "#services")
	b.waitFor(20*time.Second, "the event stream is connected", `document.getElementById("live").dataset.state === "live"`)
	evalIn[chromedp.Void](b, `window.__notReloaded = true`)
	w.releaseMsg("web-5", shaV2, "Live", "cy")
	b.waitEnv(60*time.Second, "web-5", "staging", "data-version", shaV2)
	b.waitFor(30*time.Second, "the baking count moves", `document.getElementById("state-baking").dataset.count === "3"`)
	require.True(t, evalIn[bool](b, `window.__notReloaded === true`), "the row updated over server-sent events")

	// The figures: Chromium's, then the server's for the same page.
	var dcl, load, ttfb []float64
	for _, tm := range timings {
		dcl, load, ttfb = append(dcl, tm.DCL), append(load, tm.Load), append(ttfb, tm.TTFB)
	}
	t.Logf("FIGURE dashboard_scale n=%d chromium DOMContentLoaded p50 %.0fms max %.0fms, load p50 %.0fms max %.0fms, ttfb p50 %.0fms (5 loads of /)",
		n, pctf(dcl, .5), pctf(dcl, 1), pctf(load, .5), pctf(load, 1), pctf(ttfb, .5))
	t.Logf("FIGURE dashboard_scale n=%d bytes %d on the wire (gzip), %d decoded", n, timings[0].Transfer, timings[0].Body)
	cookie, _ := w.session(adminToken)
	var server []float64
	for range 20 {
		req, err := http.NewRequest("GET", b.base+"/", nil)
		require.NoError(t, err)
		req.AddCookie(cookie)
		req.Header.Set("Accept-Encoding", "gzip")
		start := time.Now()
		resp, err := http.DefaultTransport.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		server = append(server, float64(time.Since(start))/1e6)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	}
	t.Logf("FIGURE dashboard_scale n=%d server overview p50 %.1fms p99 %.1fms (20 requests)", n, pctf(server, .5), pctf(server, .99))
	if dir := screenshotDir(t); dir != "" {
		b.navigate("/", "#services")
		b.screenshot(dir, "overview-at-scale.png", false)
	}
}
