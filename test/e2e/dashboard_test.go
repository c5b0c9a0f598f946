package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// The dashboard in a real headless Chromium against a real `bakery serve`
// with real deploys.
//
// BAKERY_SCREENSHOTS=docs/screenshots (relative to the repository, or
// absolute) writes the screenshots of the overview and a service page with
// production locked; BAKERY_CHROMIUM overrides /usr/bin/chromium.

// chromiumPath finds Chromium: the test fails under CI=true without it and
// skips otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	path := os.Getenv("BAKERY_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		testutil.SkipOrFail(t, "Chromium is not installed at %s (%v): apt-get install -y chromium", path, err)
	}
	return path
}

// chromiumInstalled reports whether Chromium is at path ("" for
// /usr/bin/chromium).
func chromiumInstalled(path string) bool {
	if path == "" {
		path = "/usr/bin/chromium"
	}
	_, err := exec.LookPath(path)
	return err == nil
}

// browser is one headless Chromium with a fresh profile and one tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
	w    *world
}

func newBrowser(t *testing.T, w *world) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser with a context that has no timeout: the first call
	// binds the browser's life to its context. Steps get timeouts after.
	require.NoError(t, chromedp.Do(ctx), "starting Chromium")
	return &browser{t: t, ctx: ctx, base: "http://" + w.addr, w: w}
}

// do runs steps with a timeout.
func (b *browser) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\npage:\n%s\nserver logs:\n%s", err, b.pageText(), b.w.server.Logs())
	}
}

func evalIn[T any](b *browser, expr string, opts ...chromedp.EvaluateOption) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr, opts...))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

func (b *browser) pageText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + (document.body ? document.body.innerText : "")`))
	if err != nil {
		return "(" + err.Error() + ")"
	}
	return s
}

// waitFor polls a JavaScript condition in the page (which is never
// reloaded by it) until it holds.
func (b *browser) waitFor(timeout time.Duration, what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+cond+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out after %s waiting for %s (%s; last error %v)\npage:\n%s\nserver logs:\n%s",
				timeout, what, cond, err, b.pageText(), b.w.server.Logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// text is the text of the first element sel matches, with runs of white
// space made one space. (Not innerText: rows with content-visibility: auto
// have none until the browser has laid them out.)
func (b *browser) text(sel string) string {
	b.t.Helper()
	return evalIn[string](b, fmt.Sprintf(`((document.querySelector(%q) || {textContent: ""}).textContent || "").replace(/\s+/g, " ").trim()`, sel))
}

func (b *browser) signIn(token string) {
	b.t.Helper()
	b.do(30*time.Second,
		chromedp.Navigate(b.base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	require.Contains(b.t, evalIn[string](b, "location.pathname + location.search"), "/signin?next=%2F", "no session: the sign-in form")
	b.do(30*time.Second,
		chromedp.SendKeys(chromedp.CSS("#token"), token),
		chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#services")),
	)
	b.waitFor(10*time.Second, "the event stream is connected", `document.getElementById("live").dataset.state === "live"`)
}

// act opens a control's dialog, checks what it says will happen, gives a
// reason (and other fields) and confirms.
func (b *browser) act(button, wantConfirm, reason string, fields map[string]string) {
	b.t.Helper()
	b.do(20*time.Second,
		chromedp.Click(chromedp.CSS(button)),
		chromedp.WaitVisible(chromedp.CSS("#action-dialog[open] #f-reason")),
	)
	require.Contains(b.t, b.text("#dialog-confirm"), wantConfirm)
	steps := []chromedp.Action[chromedp.Void]{}
	for sel, v := range fields {
		steps = append(steps, chromedp.SendKeys(chromedp.CSS(sel), v))
	}
	steps = append(steps, chromedp.SendKeys(chromedp.CSS("#f-reason"), reason), chromedp.Click(chromedp.CSS("#dialog-submit")))
	b.do(20*time.Second, steps...)
}

// envCell is the selector of an environment's cell on the current page
// (on the overview or on the service's page), and sub selects within it.
func envCell(service, env string, sub ...string) string {
	suffix := ""
	if len(sub) > 0 {
		suffix = " " + sub[0]
	}
	return fmt.Sprintf(`#svc-%s [data-env=%q]%s, #service-page[data-service=%q] #envs [data-env=%q]%s`, service, env, suffix, service, env, suffix)
}

func (b *browser) envAttr(service, env, attr string) string {
	return evalIn[string](b, fmt.Sprintf(`(document.querySelector(%q) || {getAttribute(){return ""}}).getAttribute(%q) || ""`, envCell(service, env), attr))
}

func (b *browser) waitEnv(timeout time.Duration, service, env, attr, want string) {
	b.t.Helper()
	b.waitFor(timeout, fmt.Sprintf("%s/%s %s=%s", service, env, attr, want),
		fmt.Sprintf(`(document.querySelector(%q) || {getAttribute(){return ""}}).getAttribute(%q) === %q`, envCell(service, env), attr, want))
}

// screenshot writes a PNG of the page (all of it, or the viewport).
func (b *browser) screenshot(dir, name string, full bool) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shot := chromedp.CaptureScreenshot()
	if full {
		shot = chromedp.FullScreenshot(100)
	}
	png, err := chromedp.Run(ctx, shot)
	require.NoError(b.t, err)
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name), png, 0o644))
	b.t.Logf("wrote %s", filepath.Join(dir, name))
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("BAKERY_SCREENSHOTS")
	if dir == "" {
		return ""
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join("..", "..", dir) // the test runs in test/e2e
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// Hex versions like commit SHAs; none starts with "bad" (the deploy
// script fails those).
const (
	shaV1 = "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"
	shaV2 = "2b3c4d5e6f708192a3b4c5d6e7f8091234567890"
	shaV3 = "3c4d5e6f708192a3b4c5d6e7f809123456789abc"
	shaV4 = "4d5e6f708192a3b4c5d6e7f809123456789abcde"
	shaA1 = "5e6f708192a3b4c5d6e7f809123456789abcdef0"
)

func (w *world) releaseMsg(service, version, message, author string) {
	w.t.Helper()
	var out map[string]any
	code := w.call(adminToken, "POST", "/api/v1/services/"+service+"/releases",
		api.ReleaseRequest{Version: version, Artifact: "registry.example/" + service + ":" + version[:8], Message: message, Author: author}, &out)
	require.Equal(w.t, http.StatusCreated, code, "%v", out)
}

func (w *world) newToken(name, role string) string {
	w.t.Helper()
	var tok struct{ Token string }
	require.Equal(w.t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/tokens", map[string]any{"name": name, "role": role}, &tok))
	return tok.Token
}

// statusJSON is `bakery status SERVICE --json`, the CLI's view.
func (w *world) statusJSON(service string) api.ServiceView {
	w.t.Helper()
	out, stderr, err := w.bakery(nil, "status", service, "--json")
	require.NoError(w.t, err, stderr)
	var sv api.ServiceView
	require.NoError(w.t, json.Unmarshal([]byte(out), &sv), out)
	return sv
}

// setBake changes the production bake of every service and reloads the
// configuration with SIGHUP.
func (w *world) setBake(from, to time.Duration) {
	w.t.Helper()
	b, err := os.ReadFile(w.config)
	require.NoError(w.t, err)
	cfg := strings.ReplaceAll(string(b), "bake: "+from.String(), "bake: "+to.String())
	require.NoError(w.t, os.WriteFile(w.config, []byte(cfg), 0o644))
	require.NoError(w.t, w.server.cmd.Process.Signal(syscall.SIGHUP))
	w.eventually(10*time.Second, "the new bake in force", func() bool { return w.status("web").Environments[1].Bake == to.String() })
}

// TestDashboard drives the dashboard in Chromium: sign in, watch a release
// travel without reloading, and pull every brake from the page; the CLI
// and the API agree with what the page did.
func TestDashboard(t *testing.T) {
	t.Parallel()
	chromiumPath(t)
	const bake = 6 * time.Second
	w := newWorld(t, worldOpts{bake: bake})
	w.start()
	w.releaseMsg("web", shaV1, "First version", "ana")
	w.eventually(30*time.Second, "v1 in production", func() bool { return w.version("web", "production") == shaV1 })
	viewerToken := w.newToken("eye", "viewer")

	b := newBrowser(t, w)
	b.signIn(adminToken)

	// Both environments' versions, short and linked to the commit.
	require.Equal(t, shaV1[:7], b.text(envCell("web", "staging", ".env-version code")))
	require.Equal(t, shaV1[:7], b.text(envCell("web", "production", ".env-version code")))
	require.Equal(t, "https://github.com/acme/web/commit/"+shaV1,
		evalIn[string](b, fmt.Sprintf(`document.querySelector(%q).href`, envCell("web", "production", ".env-version a"))))
	require.Equal(t, "ok", b.envAttr("web", "production", "data-kind"))
	require.Contains(t, b.text("#svc-api"), "no release yet")

	// A release travels staging → bake → production while the page is
	// open; it is never reloaded (the marker survives).
	evalIn[chromedp.Void](b, `window.__notReloaded = true`)
	w.releaseMsg("web", shaV2, "Faster checkout", "bo")
	b.waitEnv(20*time.Second, "web", "staging", "data-version", shaV2)
	b.waitEnv(10*time.Second, "web", "production", "data-kind", "baking")
	require.Contains(t, b.text(envCell("web", "production")), "baking "+shaV2[:7])
	left := b.text(envCell("web", "production", ".left"))
	require.Regexp(t, `^\ds left$`, left)
	b.waitFor(3*time.Second, "the countdown ticks in the page",
		fmt.Sprintf(`(document.querySelector(%q) || {textContent: ""}).textContent !== %q`, envCell("web", "production", ".left"), left))
	b.waitEnv(30*time.Second, "web", "production", "data-version", shaV2)
	require.True(t, evalIn[bool](b, `window.__notReloaded === true`), "the page updated itself over server-sent events")

	// Lock production from the service page, with a reason.
	// Clicked in the page, not by node id: a live update may replace the
	// row between finding the link and clicking it.
	b.waitFor(20*time.Second, "the service's link clicked", `(() => { const a = document.querySelector("#svc-web .svc-name a"); if (a) a.click(); return !!a })()`)
	b.do(20*time.Second, chromedp.WaitVisible(chromedp.CSS("#service-page")))
	b.waitFor(10*time.Second, "live", `document.getElementById("live").dataset.state === "live"`)
	require.Contains(t, b.text("#timeline-h + ol"), "deployment.succeeded")
	if dir := screenshotDir(t); dir != "" {
		b.do(20*time.Second, chromedp.Click(chromedp.CSS("#lock-production")), chromedp.WaitVisible(chromedp.CSS("#action-dialog[open] #f-reason")),
			chromedp.SendKeys(chromedp.CSS("#f-reason"), "checkout errors"))
		b.screenshot(dir, "lock-dialog.png", false)
		b.do(10*time.Second, chromedp.Click(chromedp.CSS("#dialog-cancel")), chromedp.WaitNotVisible(chromedp.CSS("#action-dialog")))
	}
	b.act("#lock-production", "Lock production of web: no automatic promotion will start until unlocked. Staging keeps deploying.", "checkout errors", nil)
	b.waitFor(10*time.Second, "the banner", `document.querySelector('#banner .banner-item[data-service="web"][data-env="production"]')`)
	require.Contains(t, b.text("#banner"), "checkout errors")
	b.waitEnv(10*time.Second, "web", "production", "data-kind", "locked")
	require.Contains(t, b.text(envCell("web", "production")), "by bootstrap")
	sv := w.statusJSON("web")
	require.True(t, sv.Environments[1].Locked, "the CLI agrees: production is locked")
	require.Equal(t, "checkout errors", sv.Environments[1].Locks[0].Reason)
	require.False(t, sv.Environments[0].Locked)

	// While production is locked, the next release reaches staging and
	// waits in the queue; production keeps v2.
	w.releaseMsg("web", shaV3, "Copy change\n\nOnly text.", "cy")
	b.waitEnv(20*time.Second, "web", "staging", "data-version", shaV3)
	b.waitFor(10*time.Second, "the queue lists v3",
		fmt.Sprintf(`document.querySelector('#queue-production-panel tr[data-version=%q]:is([data-state="baking"], [data-state="baked"])')`, shaV3))
	require.Contains(t, b.text("#queue-production-panel"), "Copy change")
	require.Equal(t, shaV2, *w.statusJSON("web").Environments[1].Version, "the lock holds")

	// A failing control shows the API's detail in the dialog.
	b.do(20*time.Second, chromedp.Click(chromedp.CSS("#emergency")), chromedp.WaitVisible(chromedp.CSS("#action-dialog[open] #f-version")),
		chromedp.SendKeys(chromedp.CSS("#f-version"), "nope123"), chromedp.SendKeys(chromedp.CSS("#f-reason"), "testing"),
		chromedp.Click(chromedp.CSS("#dialog-submit")))
	b.waitFor(10*time.Second, "the error in the dialog", `!document.getElementById("dialog-error").hidden`)
	require.Contains(t, b.text("#dialog-error"), "has no release nope123")
	b.do(10*time.Second, chromedp.Click(chromedp.CSS("#dialog-cancel")), chromedp.WaitNotVisible(chromedp.CSS("#action-dialog")))

	if dir := screenshotDir(t); dir != "" {
		takeScreenshots(t, b, dir)
	}

	// Unlock from the page: the banner goes, the CLI agrees, and v3, baked
	// meanwhile, is promoted.
	b.act("#unlock-production", "Unlock production of web: automatic promotion resumes", "fixed forward", nil)
	b.waitFor(10*time.Second, "no banner", `!document.querySelector("#banner .banner-item")`)
	require.False(t, w.statusJSON("web").Environments[1].Locked)
	b.waitEnv(20*time.Second, "web", "production", "data-version", shaV3)

	// Skip bake from the page: with a ten-minute bake, v4 waits in
	// staging until someone skips it.
	w.setBake(bake, 10*time.Minute)
	w.releaseMsg("web", shaV4, "Tiny fix", "dee")
	b.waitEnv(20*time.Second, "web", "production", "data-kind", "baking")
	b.waitFor(10*time.Second, "the queue lists v4 baking",
		fmt.Sprintf(`document.querySelector('#queue-production-panel tr[data-version=%q][data-state="baking"]')`, shaV4))
	b.act("#skip-bake-production", "Skip the bake of "+shaV4[:7]+" into production of web", "tiny copy change", nil)
	b.waitEnv(20*time.Second, "web", "production", "data-version", shaV4)
	skipped := findEvent(w.events("web"), "bake.skipped", "production", shaV4)
	require.NotNil(t, skipped)
	require.Equal(t, "tiny copy change", skipped.Reason)
	require.Equal(t, "bootstrap", skipped.Actor)

	// Roll back from the page: v3 returns, v4 is rejected.
	b.act("#rollback-production", "back from "+shaV4[:7]+" to "+shaV3[:7], "v4 breaks the footer", nil)
	b.waitEnv(20*time.Second, "web", "production", "data-version", shaV3)
	require.Equal(t, shaV3, w.version("web", "production"))
	require.NotNil(t, findEvent(w.events("web"), "release.rejected", "production", shaV4))
	b.waitFor(10*time.Second, "v4 shown rejected",
		fmt.Sprintf(`document.querySelector('#queue-production-panel tr[data-version=%q][data-state="rejected"]')`, shaV4))

	// A viewer sees no controls, and the API refuses its writes.
	b.do(20*time.Second, chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#token")))
	b.do(30*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), viewerToken), chromedp.Click(chromedp.CSS("#signin-submit")),
		chromedp.WaitVisible(chromedp.CSS("#services")))
	require.Zero(t, evalIn[int](b, `document.querySelectorAll("[data-action]").length`), "no controls on the overview")
	b.do(20*time.Second, chromedp.Navigate(b.base+"/services/web"), chromedp.WaitVisible(chromedp.CSS("#service-page")))
	require.Zero(t, evalIn[int](b, `document.querySelectorAll("[data-action], dialog").length`), "no controls on the service page")
	require.Contains(t, b.text(".whoami"), "eye")
	status := evalIn[int](b, `fetch("/api/v1/services/web/environments/production/lock", {method: "POST",
		headers: {"Content-Type": "application/json", "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content},
		body: JSON.stringify({reason: "I am only a viewer"})}).then(r => r.status)`, chromedp.EvalAwaitPromise)
	require.Equal(t, http.StatusForbidden, status, "the viewer's session may not lock")
	require.Equal(t, http.StatusForbidden, w.call(viewerToken, "POST", "/api/v1/services/web/environments/production/lock",
		api.LockRequest{Reason: "x"}, nil), "nor may its token")
	require.False(t, w.statusJSON("web").Environments[1].Locked)
}

// takeScreenshots writes the overview and web's page with production
// locked (and a release waiting behind the lock), in light and dark, on a
// laptop and a phone; api gets a release so that something bakes.
func takeScreenshots(t *testing.T, b *browser, dir string) {
	b.w.releaseMsg("api", shaA1, "Paginate the orders endpoint", "ana")
	b.do(10*time.Second, chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#services")))
	b.waitEnv(10*time.Second, "api", "production", "data-kind", "baking")
	b.waitFor(10*time.Second, "live", `document.getElementById("live").dataset.state === "live"`)
	b.screenshot(dir, "overview.png", true)
	b.do(10*time.Second, chromedp.Navigate(b.base+"/services/web"), chromedp.WaitVisible(chromedp.CSS("#service-page")))
	b.waitFor(10*time.Second, "live", `document.getElementById("live").dataset.state === "live"`)
	evalIn[chromedp.Void](b, `document.querySelector(".dep details").open = true`)
	b.screenshot(dir, "service.png", true)
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
	b.do(10*time.Second, setScheme("dark"), chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#services")))
	b.screenshot(dir, "overview-dark.png", true)
	b.do(10*time.Second, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateScale(2)),
		chromedp.Navigate(b.base+"/services/web"), chromedp.WaitVisible(chromedp.CSS("#service-page")))
	b.screenshot(dir, "service-phone-dark.png", false)
	b.do(10*time.Second, setScheme("light"), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#service-page")))
	b.screenshot(dir, "service-phone.png", false)
	b.do(10*time.Second, setScheme(""), chromedp.EmulateReset(), chromedp.Navigate(b.base+"/services/web"),
		chromedp.WaitVisible(chromedp.CSS("#service-page")))
	b.waitFor(10*time.Second, "live", `document.getElementById("live").dataset.state === "live"`)
}

// session signs in over HTTP like the form does and returns the cookie
// and the page's CSRF token.
func (w *world) session(token string) (*http.Cookie, string) {
	w.t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm("http://"+w.addr+"/signin", url.Values{"token": {token}})
	require.NoError(w.t, err)
	resp.Body.Close()
	require.Equal(w.t, http.StatusSeeOther, resp.StatusCode)
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "bakery_session" {
			cookie = ck
		}
	}
	require.NotNil(w.t, cookie, "the sign-in sets bakery_session")
	require.True(w.t, cookie.HttpOnly)
	require.Equal(w.t, http.SameSiteStrictMode, cookie.SameSite)
	req, _ := http.NewRequest("GET", "http://"+w.addr+"/", nil)
	req.AddCookie(cookie)
	resp, err = c.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindSubmatch(page)
	require.NotNil(w.t, m, "the page embeds the CSRF token")
	return cookie, string(m[1])
}

func (w *world) withCookie(cookie *http.Cookie, method, path, body string, hdr map[string]string) (int, string) {
	w.t.Helper()
	req, err := http.NewRequest(method, "http://"+w.addr+path, strings.NewReader(body))
	require.NoError(w.t, err)
	req.AddCookie(cookie)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(w.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestDashboardCSRF: the session cookie alone changes nothing; with the
// page's CSRF token it does. It needs no browser.
func TestDashboardCSRF(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Second})
	w.start()
	cookie, csrf := w.session(adminToken)
	lock := `{"reason":"forged"}`
	code, body := w.withCookie(cookie, "POST", "/api/v1/services/web/environments/production/lock", lock, nil)
	require.Equal(t, http.StatusForbidden, code, body)
	var e struct{ Error, Detail string }
	require.NoError(t, json.Unmarshal([]byte(body), &e))
	require.Equal(t, "missing or invalid CSRF token", e.Error)
	require.Contains(t, e.Detail, "X-CSRF-Token")
	code, _ = w.withCookie(cookie, "POST", "/api/v1/services/web/environments/production/lock", lock, map[string]string{"X-CSRF-Token": csrf + "x"})
	require.Equal(t, http.StatusForbidden, code, "a wrong token is no token")
	code, _ = w.withCookie(cookie, "POST", "/signout", "", nil)
	require.Equal(t, http.StatusForbidden, code, "signing out needs it too")
	require.False(t, w.status("web").Environments[1].Locked, "nothing was locked")

	code, body = w.withCookie(cookie, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusOK, code, "reading needs no CSRF token")
	require.Contains(t, body, "bootstrap")
	code, body = w.withCookie(cookie, "POST", "/api/v1/services/web/environments/production/lock", lock, map[string]string{"X-CSRF-Token": csrf})
	require.Equal(t, http.StatusCreated, code, body)
	require.True(t, w.status("web").Environments[1].Locked)
}

// TestDashboardPerformance measures the dashboard with 200 services: the
// overview's first render in Chromium, and the server with 100 open event
// streams (page latency, and how long a change takes to reach every
// stream). It is a measurement, not a check: set BAKERY_PERF=1 to run it
// (about a minute). Everything goes to 127.0.0.1, with bounded counts and
// timeouts; docs/PERFORMANCE.md has the figures.
func TestDashboardPerformance(t *testing.T) {
	if os.Getenv("BAKERY_PERF") == "" {
		t.Skip("a measurement: set BAKERY_PERF=1 to run it")
	}
	const (
		services = 200
		clients  = 100
		triggers = 40
		pages    = 40
	)
	w := newWorld(t, worldOpts{bake: time.Hour})
	var cfg strings.Builder
	// The 100 streams below share one session, like 100 tabs of one
	// person; the default allows 8 per session.
	fmt.Fprintf(&cfg, "server:\n  addr: %s\n  inherit_env: [%s]\n  limits: {max_event_streams_per_session: %d}\nservices:\n", w.addr, testInheritEnv, clients+10)
	for i := range services {
		// Even services bake 2 s (so production runs something), odd
		// ones an hour (so production shows a bake in progress).
		bake := "2s"
		if i%2 == 1 {
			bake = "1h"
		}
		fmt.Fprintf(&cfg, "  - name: svc-%03d\n    repository: https://github.com/acme/svc-%03d\n    environments:\n"+
			"      - name: staging\n        deploy:\n          command: [\"./deploy.sh\"]\n"+
			"      - name: production\n        bake: %s\n        deploy:\n          command: [\"./deploy.sh\"]\n", i, i, bake)
	}
	require.NoError(t, os.WriteFile(w.config, []byte(cfg.String()), 0o644))
	w.start()
	name := func(i int) string { return fmt.Sprintf("svc-%03d", i) }
	sha := func(i, n int) string { return fmt.Sprintf("c0ffee%02d%032x", n, i) }
	for i := range services {
		w.releaseMsg(name(i), sha(i, 1), fmt.Sprintf("Change %d", i), "ana")
	}
	w.eventually(2*time.Minute, "every service in staging, even ones in production", func() bool {
		var out struct{ Services []api.ServiceView }
		require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/services?limit=1000", nil, &out))
		for i, s := range out.Services {
			if s.Environments[0].Version == nil || (i%2 == 0 && s.Environments[1].Version == nil) {
				return false
			}
		}
		return true
	})
	for i := 0; i < services; i += 10 {
		require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/"+name(i)+"/environments/production/lock",
			api.LockRequest{Reason: "perf"}, nil))
	}

	// 1. The overview's first render in Chromium. Without Chromium (and
	// outside CI) the server-side figures below are still measured.
	if path := os.Getenv("BAKERY_CHROMIUM"); testutil.InCI() || chromiumInstalled(path) {
		b := newBrowser(t, w)
		b.signIn(adminToken)
		type paint struct {
			TTFB, HTML, Interactive, DCL, FCP, Load float64
			Rows, Bytes                             int
		}
		var renders []paint
		for range 7 {
			b.do(60*time.Second, chromedp.Navigate(b.base+"/"), chromedp.WaitVisible(chromedp.CSS("#svc-"+name(services-1))))
			raw := evalIn[string](b, `(() => {
				const n = performance.getEntriesByType("navigation")[0];
				const p = performance.getEntriesByName("first-contentful-paint")[0];
				return JSON.stringify({TTFB: n.responseStart, HTML: n.responseEnd, Interactive: n.domInteractive,
					DCL: n.domContentLoadedEventEnd, FCP: p ? p.startTime : -1,
					Load: n.loadEventEnd, Rows: document.querySelectorAll(".svc").length, Bytes: n.encodedBodySize});
			})()`)
			var p paint
			require.NoError(t, json.Unmarshal([]byte(raw), &p))
			require.Equal(t, services, p.Rows)
			renders = append(renders, p)
		}
		pick := func(f func(paint) float64) []time.Duration {
			var out []time.Duration
			for _, r := range renders[1:] { // the first warms caches
				out = append(out, time.Duration(f(r)*float64(time.Millisecond)))
			}
			return out
		}
		t.Logf("overview, %d services, Chromium, %d loads: TTFB %s, HTML received %s, DOM interactive %s, DOMContentLoaded %s, first contentful paint %s, load %s; %d KiB of HTML",
			services, len(renders)-1, summary(pick(func(p paint) float64 { return p.TTFB })), summary(pick(func(p paint) float64 { return p.HTML })),
			summary(pick(func(p paint) float64 { return p.Interactive })), summary(pick(func(p paint) float64 { return p.DCL })),
			summary(pick(func(p paint) float64 { return p.FCP })), summary(pick(func(p paint) float64 { return p.Load })), renders[1].Bytes/1024)
	} else {
		t.Log("Chromium is not installed: the first-render figures are skipped (apt-get install -y chromium)")
	}

	// 2. The server with 100 open event streams.
	cookie, _ := w.session(adminToken)
	tr := &http.Transport{MaxIdleConnsPerHost: clients + 10}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", "http://"+w.addr+path, nil)
		req.AddCookie(cookie)
		start := time.Now()
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return 0, err
		}
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return time.Since(start), nil
	}
	measurePages := func(n int) (overview, service []time.Duration) {
		for range n {
			d, err := get("/")
			require.NoError(t, err)
			overview = append(overview, d)
			d, err = get("/services/" + name(1))
			require.NoError(t, err)
			service = append(service, d)
		}
		return overview, service
	}
	ov, sv := measurePages(pages / 2)
	t.Logf("idle server: overview page %s, service page %s", summary(ov), summary(sv))

	type event struct {
		service string
		at      time.Time
	}
	// load opens the streams, makes releases of odd services (whose hour
	// of bake keeps production still) one after another, and measures
	// how long each takes to reach every stream, while a client loads
	// pages. With refetch, each stream's client also does what the page's
	// script does on a change: fetch the service's row and the banner.
	load := func(refetch bool, first int) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		streams := make([]chan event, clients)
		fragments := make(chan time.Duration, 100000)
		var refetchers sync.WaitGroup
		for c := range clients {
			streams[c] = make(chan event, 10000)
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+w.addr+"/ui/events", nil)
			req.AddCookie(cookie)
			resp, err := (&http.Client{Transport: tr}).Do(req)
			require.NoError(t, err)
			require.Equal(t, 200, resp.StatusCode)
			changes := make(chan string, 1000)
			go func() {
				defer resp.Body.Close()
				defer close(changes)
				sc := bufio.NewScanner(resp.Body)
				for sc.Scan() {
					if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
						at := time.Now()
						var d struct{ Service, Banner string }
						if json.Unmarshal([]byte(data), &d) != nil {
							continue
						}
						streams[c] <- event{d.Service, at}
						select {
						case changes <- d.Service + " " + d.Banner:
						default:
						}
					}
				}
			}()
			refetchers.Add(1)
			go func() {
				defer refetchers.Done()
				banner := ""
				for ch := range changes {
					if !refetch {
						continue
					}
					svc, hash, _ := strings.Cut(ch, " ")
					paths := []string{"/ui/fragments/services/" + svc}
					if hash == "" || hash != banner {
						paths = append(paths, "/ui/fragments/banner")
						banner = hash
					}
					for _, p := range paths {
						if d, err := get(p); err == nil {
							fragments <- d
						}
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond) // every stream has its greeting

		var pageOV, pageSV []time.Duration
		pagesDone := make(chan struct{})
		go func() {
			defer close(pagesDone)
			pageOV, pageSV = measurePages(pages)
		}()
		var delivery []time.Duration
		received := 0
		for k := range triggers {
			i := (first + 2*k) % services
			svc := name(i)
			start := time.Now()
			w.releaseMsg(svc, sha(i, 2), "Load test change", "load")
			for c := range clients {
				deadline := time.After(10 * time.Second)
			wait:
				for {
					select {
					case ev := <-streams[c]:
						received++
						if ev.service == svc && !ev.at.Before(start) {
							delivery = append(delivery, ev.at.Sub(start))
							break wait
						}
					case <-deadline:
						t.Fatalf("stream %d got no change for %s within 10s", c, svc)
					}
				}
			}
			time.Sleep(200 * time.Millisecond) // the deploy to staging announces itself too
		}
		<-pagesDone
		cancel()
		refetchers.Wait()
		close(fragments)
		var frag []time.Duration
		for d := range fragments {
			frag = append(frag, d)
		}
		what := "streams only"
		if refetch {
			what = "every client refetching as the page does (the row; the banner when its hash changed)"
		}
		t.Logf("%d event streams, %d releases, %s:", clients, triggers, what)
		t.Logf("  overview page %s, service page %s", summary(pageOV), summary(pageSV))
		t.Logf("  change → event on every stream (release POST sent → event read): %s; %d events per stream", summary(delivery), received/clients)
		if refetch {
			t.Logf("  fragment requests (%d): %s", len(frag), summary(frag))
		}
	}
	load(false, 1)
	load(true, 2*triggers+1)
}

// summary is "p50 X / p99 Y (max Z)".
func summary(ds []time.Duration) string {
	if len(ds) == 0 {
		return "no samples"
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	q := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s / p99 %s (max %s, n=%d)", r(q(0.50)), r(q(0.99)), r(s[len(s)-1]), len(s))
}
