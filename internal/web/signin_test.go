package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/engine"
)

// openRedirects are known open-redirect payloads for a ?next= parameter.
var openRedirects = []string{
	"//evil.example",
	"//evil.example/services/web",
	"///evil.example",
	"////evil.example",
	`/\evil.example`,
	`\/evil.example`,
	`\\evil.example`,
	"/%5Cevil.example",
	"/%5cevil.example",
	"/x/../%5Cevil.example",
	"/x/..%2F%5Cevil.example",
	"/%2F%2Fevil.example",
	"/%2f%2fevil.example",
	"%2F%2Fevil.example",
	"/.//evil.example",
	"/./\\evil.example",
	"/services/../..//evil.example",
	"https:evil.example",
	"https://evil.example",
	"http:/evil.example",
	"//evil.example@bakery.local",
	"/@evil.example",
	"javascript:alert(1)",
	"JaVaScRiPt:alert(1)",
	"data:text/html,<script>alert(1)</script>",
	"/\t/evil.example",
	"/\n/evil.example",
	"/\r\n/evil.example",
	"\t//evil.example",
	" //evil.example",
	"/%09/evil.example",
	"/%0a/evil.example",
	"/%0d%0aLocation:%20https://evil.example",
	"/services/web?x=%0d%0aSet-Cookie:%20a=b",
	"/services/web?x=\\evil",
	"/%00//evil.example",
	"/\x00//evil.example",
	"evil.example",
	"../evil.example",
	"/\u3002evil.example",
	"//evil%E3%80%82example",
	"/ui/events",
	"/api/v1/tokens",
	"/signout",
	"/static/../api/v1/whoami",
}

// browserHost is where a browser goes with Location loc from
// http://bakery.local/: browsers drop tabs and newlines and read "\" as
// "/", so the check does too.
// The decoded form is checked as well, for a proxy or app that decodes
// the path before it redirects again.
func browserHost(t *testing.T, loc string) string {
	t.Helper()
	base, _ := url.Parse("http://bakery.local/")
	host := func(loc string) string {
		loc = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(loc)
		u, err := url.Parse(loc)
		require.NoError(t, err, loc)
		return base.ResolveReference(u).Host
	}
	h := host(loc)
	if dec, err := url.PathUnescape(loc); err == nil && host(dec) != h {
		return host(dec)
	}
	return h
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	h := New(Options{})
	for _, in := range openRedirects {
		got := h.safeNext(in)
		require.Equal(t, "bakery.local", browserHost(t, got), "%q -> %q", in, got)
		require.True(t, got == "/" || strings.HasPrefix(got, "/services/"), "%q -> %q: only dashboard pages", in, got)
		require.False(t, strings.HasPrefix(got, "//"), "%q -> %q", in, got)
	}
	for in, want := range map[string]string{
		"/services/web":                "/services/web",
		"/services/web?tab=events":     "/services/web?tab=events",
		"/services/web/":               "/services/web",
		"/services/x/../web":           "/services/web",
		"/services/%2F%2Fevil.example": "/services/evil.example",
		"/?a=b":                        "/?a=b",
		"":                             "/",
		"/":                            "/",
		"/services/web#frag":           "/services/web",
		"/services/web?" + strings.Repeat("a", maxNext): "/",
	} {
		require.Equal(t, want, h.safeNext(in), in)
	}
}

func TestSignInNeverRedirectsElsewhere(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, next := range append(openRedirects, "/services/web") {
		c := f.client()
		resp, body := f.do(c, "POST", "/signin", url.Values{"token": {"eye-secret"}, "next": {next}}.Encode(),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
		loc := resp.Header.Get("Location")
		require.Equal(t, "bakery.local", browserHost(t, loc), "next=%q -> Location %q", next, loc)

		// The form served for ?next= carries a safe value as well.
		resp, body = f.do(f.client(), "GET", "/signin?next="+url.QueryEscape(next), "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NotContains(t, body, "evil.example", next)
	}
}

// oldCookie is a session cookie forged the way the stateless sessions were
// made: anyone who read the token's stored hash could make one valid until
// 2100.
func oldCookie(tokenID int64, storedHash string) string {
	payload := strconv.FormatInt(tokenID, 10) + "." + strconv.FormatInt(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), 10)
	m := hmac.New(sha256.New, []byte(storedHash))
	m.Write([]byte("session:" + payload))
	return payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestCookieForgedFromStoredHashIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	tok, err := f.e.Store().TokenGetByName(ctx, "admin")
	require.NoError(t, err)
	c := f.client()
	for _, forged := range []string{
		oldCookie(tok.ID, api.HashToken("admin-secret")),
		api.HashToken("admin-secret"),
		// A session's stored hash is no cookie either.
		func() string {
			c := f.client()
			f.signIn(c, "admin")
			ss := sessionOf(t, f, c)
			return ss
		}(),
	} {
		c.Jar.SetCookies(mustURL(f.srv.URL), []*http.Cookie{{Name: CookieName, Value: forged}})
		resp, _ := f.do(c, "GET", "/", "", nil)
		require.Equal(t, http.StatusSeeOther, resp.StatusCode, forged)
		require.True(t, strings.HasPrefix(resp.Header.Get("Location"), "/signin"))
		resp, body := f.do(c, "GET", "/api/v1/whoami", "", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
		resp, body = f.do(c, "POST", "/api/v1/tokens", `{"name":"mine","role":"admin"}`,
			map[string]string{CSRFHeader: CSRFToken(forged), "Content-Type": "application/json"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	}
}

// sessionOf returns the stored hash of c's session.
func sessionOf(t *testing.T, f *fixture, c *http.Client) string {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL(f.srv.URL)) {
		if ck.Name == CookieName {
			ss, err := f.e.Store().SessionGetByHash(context.Background(), HashSession(ck.Value))
			require.NoError(t, err)
			require.NotContains(t, ss.Hash, ck.Value)
			return ss.Hash
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func cookieOf(t *testing.T, f *fixture, c *http.Client) *http.Cookie {
	t.Helper()
	for _, ck := range c.Jar.Cookies(mustURL(f.srv.URL)) {
		if ck.Name == CookieName {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

func TestSignOutThenReplayIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, "dev")
	kept := cookieOf(t, f, c) // an attacker's copy
	stored := sessionOf(t, f, c)
	ss, err := f.e.Store().SessionGetByHash(context.Background(), stored)
	require.NoError(t, err)
	require.Equal(t, "Go-http-client/1.1", ss.UserAgent)
	require.WithinDuration(t, time.Now().Add(SessionTTL), ss.ExpiresAt, time.Minute)

	resp, _ := f.do(c, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "the session is cached now")
	resp, _ = f.do(c, "POST", "/signout", url.Values{"csrf_token": {csrf}}.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	_, err = f.e.Store().SessionGetByHash(context.Background(), stored)
	require.Error(t, err, "sign-out deletes the session")

	replay := f.client()
	replay.Jar.SetCookies(mustURL(f.srv.URL), []*http.Cookie{{Name: CookieName, Value: kept.Value}})
	resp, body := f.do(replay, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "no cache lets the session live on: %s", body)
	resp, _ = f.do(replay, "GET", "/services/web", "", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.Equal(t, "/signin?next="+url.QueryEscape("/services/web"), resp.Header.Get("Location"))
	resp, _ = f.do(replay, "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"x"}`, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestRevokedTokenEndsItsSessions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	csrf := f.signIn(c, "dev")
	resp, _ := f.do(c, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	stored := sessionOf(t, f, c)

	resp, body := f.do(http.DefaultClient, "DELETE", "/api/v1/tokens/dev", "", map[string]string{"Authorization": "Bearer admin-secret"})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	require.Contains(t, body, `"sessions_ended": 1`)
	_, err := f.e.Store().SessionGetByHash(context.Background(), stored)
	require.Error(t, err)

	resp, body = f.do(c, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, body)
	resp, _ = f.do(c, "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"x"}`, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = f.do(c, "GET", "/", "", nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	// The revoked token cannot sign in again, and says why.
	resp, body = f.do(f.client(), "POST", "/signin", "token=dev-secret", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Contains(t, body, "revoked")
}

func TestSessionCookieNeverOutlivesItsToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := f.e.CreateToken(context.Background(), "test", engine.TokenParams{Name: "brief", Role: "viewer",
		Hash: api.HashToken("brief-secret"), ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(t, err)
	resp, _ := f.do(f.client(), "POST", "/signin", "token=brief-secret", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			ck = c
		}
	}
	require.NotNil(t, ck)
	require.LessOrEqual(t, ck.MaxAge, 3600)
	require.Greater(t, ck.MaxAge, 3500)
	require.WithinDuration(t, time.Now().Add(time.Hour), ck.Expires, time.Minute)

	resp, _ = f.do(f.client(), "POST", "/signin", "token=eye-secret", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	for _, c := range resp.Cookies() {
		if c.Name == CookieName {
			require.LessOrEqual(t, c.MaxAge, int(SessionTTL.Seconds()), "capped at the session TTL")
			require.Greater(t, c.MaxAge, int(SessionTTL.Seconds())-60)
		}
	}
}

func TestSignInIsRateLimited(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	// A success before the limit is unaffected and not counted.
	resp, _ := f.do(f.client(), "POST", "/signin", "token=eye-secret", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	for i := 0; i < 9; i++ {
		resp, _ := f.do(f.client(), "POST", "/signin", "token=guess-"+strconv.Itoa(i), form)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, _ = f.do(f.client(), "POST", "/signin", "token=eye-secret", form)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, "nine failures: still allowed")
	resp, _ = f.do(f.client(), "POST", "/signin", "token=guess-9", form)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)

	resp, body := f.do(f.client(), "POST", "/signin", "token=eye-secret", form)
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "blocked: even the right token")
	require.Contains(t, body, "Too many failed sign-ins")
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.Positive(t, secs)
	require.LessOrEqual(t, secs, 60)

	// The sign-in form and the API count together: a bearer token from
	// the blocked address is refused too.
	resp, body = f.do(http.DefaultClient, "GET", "/api/v1/whoami", "", map[string]string{"Authorization": "Bearer eye-secret"})
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
}
