package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// fixture is a real engine on SQLite with the API and the dashboard
// mounted, served by httptest.
type fixture struct {
	t   *testing.T
	e   *engine.Engine
	h   *Handler
	hub *Hub
	srv *httptest.Server
}

func testConfig() *config.Config {
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	return &config.Config{Services: []config.Service{
		{Name: "web", Repository: "https://github.com/acme/web", Labels: map[string]string{"team": "frontend"}, Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}},
		{Name: "api", Labels: map[string]string{"team": "payments", "tier": "1"}, Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}},
	}}
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, true, 0) }

// newFixtureWith makes a fixture whose engine reports its changes to the
// hub (onChange) or not (as another replica's would not), and whose
// dashboard polls the event log every poll (0: never).
func newFixtureWith(t *testing.T, onChange bool, poll time.Duration, more ...func(*Options)) *fixture {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	hub := NewHub()
	opts := engine.Options{Config: testConfig(), Logger: log}
	if onChange {
		opts.OnChange = hub.Notify
	}
	e := engine.New(opts)
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	a := api.New(e, log, prometheus.NewRegistry())
	o := Options{Engine: e, Views: a, Hub: hub, Logger: log, PingInterval: 200 * time.Millisecond, PollInterval: poll,
		Limiter: a.AuthLimiter()}
	for _, f := range more {
		f(&o)
	}
	h := New(o)
	a.Mount(h)
	srv := httptest.NewServer(a)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	for _, tok := range []struct {
		name, role string
		emergency  bool
	}{{"admin", "admin", false}, {"dev", "deployer", false}, {"eye", "viewer", false}} {
		_, err := e.CreateToken(ctx, "test", engine.TokenParams{Name: tok.name, Role: tok.role, Emergency: tok.emergency,
			Hash: api.HashToken(tok.name + "-secret")})
		require.NoError(t, err)
	}
	return &fixture{t: t, e: e, h: h, hub: hub, srv: srv}
}

// client is a browser: a cookie jar that does not follow redirects.
func (f *fixture) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	tr := &http.Transport{}
	f.t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Jar: jar, Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (f *fixture) do(c *http.Client, method, path, body string, hdr map[string]string) (*http.Response, string) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	require.NoError(f.t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(f.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(f.t, err)
	return resp, string(b)
}

// signIn signs c in with the named token and returns the page's CSRF token.
func (f *fixture) signIn(c *http.Client, name string) string {
	f.t.Helper()
	resp, body := f.do(c, "POST", "/signin", url.Values{"token": {name + "-secret"}, "next": {"/services/web"}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(f.t, http.StatusSeeOther, resp.StatusCode, body)
	require.Equal(f.t, "/services/web", resp.Header.Get("Location"))
	var cookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == CookieName {
			cookie = ck
		}
	}
	require.NotNil(f.t, cookie)
	require.True(f.t, cookie.HttpOnly)
	require.Equal(f.t, http.SameSiteStrictMode, cookie.SameSite)
	require.Equal(f.t, "/", cookie.Path)
	require.False(f.t, cookie.Secure, "plain HTTP")
	_, page := f.do(c, "GET", "/", "", nil)
	m := regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`).FindStringSubmatch(page)
	require.NotNil(f.t, m, page)
	return m[1]
}

func TestPagesNeedASession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	for _, p := range []string{"/", "/services/web"} {
		resp, _ := f.do(c, "GET", p, "", nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, p)
		require.Equal(t, "/signin?next="+url.QueryEscape(p), resp.Header.Get("Location"))
	}
	for _, p := range []string{"/ui/events", "/ui/fragments/banner", "/ui/fragments/services/web"} {
		resp, body := f.do(c, "GET", p, "", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, p)
		require.Contains(t, body, "sign in")
	}
	resp, body := f.do(c, "GET", "/signin", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, body, `name="token"`)
	require.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")

	resp, body = f.do(c, "POST", "/signin", "token=wrong", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "No token matches")

	// A sign-in posted from another site is refused.
	resp, _ = f.do(c, "POST", "/signin", "token=admin-secret", map[string]string{"Content-Type": "application/x-www-form-urlencoded",
		"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	// A forged cookie is no session, and is cleared.
	c.Jar.SetCookies(mustURL(f.srv.URL), []*http.Cookie{{Name: CookieName, Value: "1.99999999999.forged"}})
	resp, _ = f.do(c, "GET", "/", "", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = f.do(c, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

func TestDashboardWithSession(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	_, err := f.e.CreateRelease(ctx, "test", engine.ReleaseParams{Service: "web", Version: "0123456789abcdef", Artifact: "img:1", Message: "Fix login", Author: "ana"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		v, err := f.h.views.Status(ctx, "web")
		return err == nil && v.Environments[0].Version != nil && v.Environments[1].Deployment == nil && v.Environments[0].Deployment == nil
	}, 20*time.Second, 20*time.Millisecond)

	c := f.client()
	csrf := f.signIn(c, "dev")

	resp, page := f.do(c, "GET", "/", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	require.Contains(t, page, `id="svc-web"`)
	require.Contains(t, page, `id="svc-api"`)
	require.Contains(t, page, `href="https://github.com/acme/web/commit/0123456789abcdef"`)
	require.Contains(t, page, "<code>0123456</code>", "the short SHA is 7 characters")
	require.Contains(t, page, "baking 0123456")
	require.Regexp(t, `<progress max="1000" value="\d+" data-start="[^"]+" data-end="[^"]+"`, page)
	require.Contains(t, page, `id="lock-all-production"`, "a deployer gets the incident lock")

	resp, page = f.do(c, "GET", "/services/web", "", nil)
	require.Equal(t, 200, resp.StatusCode)
	for _, want := range []string{`id="lock-production"`, `id="lock-staging"`, `id="skip-bake-production"`, `id="rollback-staging"`,
		"Waiting for production", "Fix login", "release.created", "deployment.succeeded", `<details id="dep-`,
		"Lock production of web: no automatic promotion will start until unlocked. Staging keeps deploying."} {
		require.Contains(t, page, want)
	}
	require.NotContains(t, page, `id="emergency"`, "a deployer token without --emergency may not break glass")
	resp, _ = f.do(c, "GET", "/services/nope", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	// The session works for the API; changes need the CSRF token.
	lock := `{"reason":"checkout errors"}`
	resp, body := f.do(c, "POST", "/api/v1/services/web/environments/production/lock", lock, map[string]string{"Content-Type": "application/json"})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	require.Equal(t, "missing or invalid CSRF token", decodeErr(t, body))
	resp, body = f.do(c, "POST", "/api/v1/services/web/environments/production/lock", lock, map[string]string{CSRFHeader: flip(csrf)})
	require.Equal(t, http.StatusForbidden, resp.StatusCode, body)
	resp, body = f.do(c, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "reads need no CSRF token")
	require.Contains(t, body, `"dev"`)
	resp, body = f.do(c, "POST", "/api/v1/services/web/environments/production/lock", lock, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusCreated, resp.StatusCode, body)

	// The banner shows the lock, on every page.
	_, banner := f.do(c, "GET", "/ui/fragments/banner", "", nil)
	require.Contains(t, banner, "production of web")
	require.Contains(t, banner, "checkout errors")
	_, row := f.do(c, "GET", "/ui/fragments/services/web", "", nil)
	require.Contains(t, row, `data-kind="locked"`)
	require.Contains(t, row, "by <strong>dev</strong>")
	_, body = f.do(c, "GET", "/ui/fragments/services/web/page", "", nil)
	require.Contains(t, body, `id="unlock-production"`)
	require.NotContains(t, body, `id="lock-production"`)

	// Bearer tokens need no CSRF token.
	resp, body = f.do(http.DefaultClient, "DELETE", "/api/v1/services/web/environments/production/lock", `{"reason":"ok"}`,
		map[string]string{"Authorization": "Bearer admin-secret"})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)

	// Signing out needs the CSRF token too, then the cookie is gone.
	resp, _ = f.do(c, "POST", "/signout", "", nil)
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	resp, _ = f.do(c, "POST", "/signout", url.Values{"csrf_token": {csrf}}.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	resp, _ = f.do(c, "GET", "/", "", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
}

func decodeErr(t *testing.T, body string) string {
	t.Helper()
	var e struct{ Error, Detail string }
	require.NoError(t, json.Unmarshal([]byte(body), &e), body)
	require.NotEmpty(t, e.Detail)
	return e.Error
}

func TestViewerSeesNoControls(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, "eye")
	for _, p := range []string{"/", "/services/web", "/ui/fragments/services/web/page", "/ui/fragments/incident"} {
		_, page := f.do(c, "GET", p, "", nil)
		require.NotContains(t, page, "data-action=", p)
		require.NotContains(t, page, "<dialog", p)
	}
	resp, body := f.do(c, "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"x"}`, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	require.Contains(t, body, "needs deployer")
}

func TestAdminGetsEmergency(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "admin")
	_, page := f.do(c, "GET", "/services/web", "", nil)
	require.Contains(t, page, `id="emergency"`)
	require.Contains(t, page, "skipping staging, the bake, locks and windows")
}

func TestEventStream(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/ui/events", nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.Eventually(t, func() bool { return f.hub.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)

	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	wait := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				require.True(t, ok, "stream ended before %q", want)
				if strings.HasPrefix(l, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q within 10s", want)
			}
		}
	}
	wait(": ping")
	_, err = f.e.Lock(context.Background(), "test", engine.LockParams{Service: "api", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	wait("event: change")
	wait(`data: {"service":"api","banner":"`)

	// A reconcile that changes nothing is not announced again.
	require.NoError(t, f.e.Reconcile(context.Background(), "api"))
	_, err = f.e.Lock(context.Background(), "test", engine.LockParams{Service: "web", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	wait("event: change")
	next := ""
	select {
	case next = <-lines:
	case <-time.After(10 * time.Second):
	}
	require.True(t, strings.HasPrefix(next, `data: {"service":"web"`), "the no-op reconcile of api was filtered out: %s", next)

	// The client goes: the subscription goes with it.
	cancel()
	require.Eventually(t, func() bool { return f.hub.Subscribers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

// TestEventStreamCatchesUp: a change between a page's rendering and its
// stream's start is not lost: the stream starts after the page's ?since
// (or the Last-Event-ID of a reconnect).
func TestEventStreamCatchesUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	seq := f.hub.Seq()
	_, err := f.e.Lock(context.Background(), "test", engine.LockParams{Service: "api", Environment: "staging", Reason: "x"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return f.hub.Seq() > seq }, 5*time.Second, 10*time.Millisecond)
	read := func(hdr map[string]string, query, want string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/ui/events"+query, nil)
		require.NoError(t, err)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		// The catch-up comes with the greeting, before any ping (other
		// services' changes from the fixture's start may come first).
		got, buf := "", make([]byte, 4096)
		for !strings.Contains(got, want) && !strings.Contains(got, ": ping") {
			n, err := resp.Body.Read(buf)
			got += string(buf[:n])
			if err != nil {
				break
			}
		}
		return got
	}
	got := read(nil, "?since="+strconv.FormatUint(seq, 10), `data: {"service":"api"`)
	require.Contains(t, got, `data: {"service":"api"`)
	require.Contains(t, got, "id: "+strconv.FormatUint(f.hub.Seq(), 10))
	got = read(map[string]string{"Last-Event-ID": strconv.FormatUint(seq, 10)}, "?since=999999", `data: {"service":"api"`)
	require.Contains(t, got, `data: {"service":"api"`, "Last-Event-ID wins over ?since")
	got = read(nil, "?since=999999", `data: {"service":"*"`)
	require.Contains(t, got, `data: {"service":"*"`, "from before a restart: reload everything")
}

// TestRowCache: rows are rendered once per change and served from the
// cache; a row found changed when its cache entry expires, with no
// notification about it (another replica made the change), is announced.
func TestRowCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	_, first := f.do(c, "GET", "/ui/fragments/services/api", "", nil)
	f.h.cache.mu.Lock()
	e := f.h.cache.rows["api"]
	f.h.cache.mu.Unlock()
	require.NotNil(t, e, "the row is cached")
	_, again := f.do(c, "GET", "/ui/fragments/services/api", "", nil)
	require.Equal(t, first, again)

	_, err := f.e.Lock(context.Background(), "test", engine.LockParams{Service: "api", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	_, after := f.do(c, "GET", "/ui/fragments/services/api", "", nil)
	require.Contains(t, after, `data-kind="locked"`, "a notified change is never served stale")

	sub := f.hub.Subscribe()
	defer sub.Close()
	require.Eventually(t, func() bool { return !f.hub.pending("api") }, 5*time.Second, 10*time.Millisecond)
	f.h.cache.mu.Lock()
	f.h.cache.announced["api"] = [32]byte{1} // as if another replica changed it
	f.h.cache.rows["api"].at = time.Now().Add(-cacheTTL)
	f.h.cache.mu.Unlock()
	f.do(c, "GET", "/ui/fragments/services/api", "", nil)
	select {
	case <-sub.Ready():
		got, _ := sub.Take()
		require.Equal(t, []string{"api"}, got)
	case <-time.After(5 * time.Second):
		t.Fatal("the unannounced change was not announced")
	}
}

// TestPollSeesOtherReplicas: with several replicas, a change made by
// another one reaches this one's pages through the event log.
func TestPollSeesOtherReplicas(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, false, 50*time.Millisecond)
	sub := f.hub.Subscribe()
	defer sub.Close()
	time.Sleep(200 * time.Millisecond) // the poller has found the end of the log
	_, err := f.e.Lock(context.Background(), "test", engine.LockParams{Service: "web", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case <-sub.Ready():
			if got, _ := sub.Take(); contains(got, "web") {
				return
			}
		case <-deadline:
			t.Fatal("the lock made without OnChange was never announced")
		}
	}
}

func TestEventStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	resp, err := c.Get(f.srv.URL + "/ui/events")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Eventually(t, func() bool { return f.hub.Subscribers() == 1 }, 5*time.Second, 10*time.Millisecond)
	f.hub.Close()
	done := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, resp.Body); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end when the hub closed")
	}
	require.Eventually(t, func() bool { return f.hub.Subscribers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestBannerAPIAndScript(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, v := range []string{"v1", "v2", "v3"} {
		_, err := f.e.CreateRelease(ctx, "test", engine.ReleaseParams{Service: "web", Version: v, Artifact: "img:" + v})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			s, err := f.h.views.Status(ctx, "web")
			return err == nil && s.Environments[0].Version != nil && *s.Environments[0].Version == v && s.Environments[0].Deployment == nil
		}, 20*time.Second, 10*time.Millisecond)
	}
	get := func(path string, hdr map[string]string) (int, api.BannerView, http.Header) {
		resp, body := f.do(http.DefaultClient, "GET", path, "", hdr)
		var b api.BannerView
		if resp.StatusCode == 200 {
			require.NoError(t, json.Unmarshal([]byte(body), &b), body)
		}
		return resp.StatusCode, b, resp.Header
	}
	code, b, hdr := get("/api/v1/services/web/environments/production/banner", map[string]string{"Authorization": "Bearer eye-secret"})
	require.Equal(t, 200, code)
	require.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"))
	require.Nil(t, b.Version)
	require.Equal(t, "staging", b.NewerIn)
	require.Equal(t, 3, b.NewerCount)
	require.Equal(t, "You are on production; staging runs 3 newer changes — use staging", b.Message)

	code, b, _ = get("/api/v1/services/web/environments/staging/banner", map[string]string{"Authorization": "Bearer eye-secret"})
	require.Equal(t, 200, code)
	require.Equal(t, "v3", *b.Version)
	require.Zero(t, b.NewerCount)
	code, _, hdr = get("/api/v1/services/web/environments/production/banner", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	require.Equal(t, "*", hdr.Get("Access-Control-Allow-Origin"), "the script can read the error")
	code, _, _ = get("/api/v1/services/web/environments/nope/banner", map[string]string{"Authorization": "Bearer eye-secret"})
	require.Equal(t, http.StatusNotFound, code)

	resp, _ := f.do(http.DefaultClient, "OPTIONS", "/api/v1/services/web/environments/production/banner", "",
		map[string]string{"Origin": "https://app.example", "Access-Control-Request-Headers": "authorization"})
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Contains(t, resp.Header.Get("Access-Control-Allow-Headers"), "Authorization")

	resp, js := f.do(http.DefaultClient, "GET", "/banner.js", "", nil)
	require.Equal(t, 200, resp.StatusCode, "no session needed")
	require.Contains(t, resp.Header.Get("Content-Type"), "javascript")
	require.Contains(t, js, "data-environment")
}

func TestStaticAssets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, name := range []string{"app.css", "app.js", "favicon.svg"} {
		resp, body := f.do(http.DefaultClient, "GET", "/static/"+name+"?v="+f.h.assetsHash[name], "", nil)
		require.Equal(t, 200, resp.StatusCode, name)
		require.NotEmpty(t, body)
		require.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	}
	resp, _ := f.do(http.DefaultClient, "GET", "/static/nope.js", "", nil)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}

func TestFormat(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{0: "0s", 45 * time.Second: "45s", 185 * time.Second: "3m 05s",
		2*time.Hour + 10*time.Minute: "2h 10m", 76 * time.Hour: "3d 4h", -time.Second: "0s"} {
		require.Equal(t, want, humanDuration(d))
	}
	require.Equal(t, "0:07", clockDuration(7*time.Second))
	require.Equal(t, "1:02:03", clockDuration(time.Hour+2*time.Minute+3*time.Second))
	// Only hex SHAs are shortened (to 7); tags and other versions never
	// are, or demo-173716-1 and demo-173716-2 would look the same.
	for v, want := range map[string]string{"abcdef1234567890": "abcdef1", "ABCDEF1234": "ABCDEF1", "abcdef1": "abcdef1",
		"v1": "v1", "demo-173716-1": "demo-173716-1", "demo-173716-2": "demo-173716-2", "v1.2.3-rc1": "v1.2.3-rc1",
		"release-2026-12-01": "release-2026-12-01", "abcdefg12345": "abcdefg12345"} {
		require.Equal(t, want, shortVersion(v), v)
	}
	require.Equal(t, "a, b and c", joinNames([]string{"a", "b", "c"}))
}
