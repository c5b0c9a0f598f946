package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// maxForm bounds the sign-in and sign-out forms.
const maxForm = 16 << 10

// maxNext bounds the ?next= a sign-in carries.
const maxNext = 2048

// safeNext is where to go after signing in: a dashboard page of this
// server, or "/". The value is cleaned first and judged after: a
// backslash or a control character anywhere (raw or percent-decoded), a
// scheme, a host, user info or a leading "//" sends the person to "/";
// what is left is path.Clean'ed and must be a page the dashboard serves
// (the routes marked page in routeList). Browsers treat "\" as "/" and
// drop tabs and newlines, so any of these could turn a path into another
// origin.
func (h *Handler) safeNext(next string) string {
	if next == "" || len(next) > maxNext || unsafeChars(next) {
		return "/"
	}
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	if unsafeChars(u.Path) || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	if q, err := url.QueryUnescape(u.RawQuery); err != nil || unsafeChars(q) {
		return "/"
	}
	clean := path.Clean(u.Path)
	if !strings.HasPrefix(clean, "/") || strings.HasPrefix(clean, "//") {
		return "/"
	}
	if _, pattern := h.nextMux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: clean}}); pattern == "" {
		return "/"
	}
	out := (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return "/"
	}
	return out
}

// unsafeChars reports a backslash or an ASCII control character.
func unsafeChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\\' || c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// secure reports whether the request came over TLS (directly, or through a
// trusted proxy that says so: server.trusted_proxies): the cookie is then
// Secure. Anyone else's X-Forwarded-Proto is ignored.
func secure(r *http.Request) bool { return httpx.Secure(r) }

func setCookie(w http.ResponseWriter, r *http.Request, value string, expires, now time.Time) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", Expires: expires,
		MaxAge: int(expires.Sub(now).Seconds()), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// sameOrigin refuses form posts from other sites (a login CSRF would sign
// a person in as someone else). Browsers send Origin on every POST.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "same-site", "cross-site":
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser, or one too old to say
	}
	u, err := url.Parse(origin)
	// X-Forwarded-Host counts only from a trusted proxy (httpx.Host).
	return err == nil && (u.Host == r.Host || u.Host == httpx.Host(r))
}

type signinData struct {
	Next   string
	Error  string
	Assets map[string]string
}

func (h *Handler) signinForm(w http.ResponseWriter, r *http.Request) {
	next := h.safeNext(r.URL.Query().Get("next"))
	if _, err := h.session(r); err == nil {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	h.renderSignin(w, http.StatusOK, signinData{Next: next})
}

func (h *Handler) renderSignin(w http.ResponseWriter, status int, d signinData) {
	d.Assets = h.assetsHash
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := h.pages.signin.ExecuteTemplate(w, "signin", d); err != nil {
		h.log.Error("error rendering the sign-in page", "error", err)
	}
}

// maxUserAgent bounds the user agent stored with a session.
const maxUserAgent = 256

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.renderSignin(w, http.StatusBadRequest, signinData{Next: "/", Error: "The form could not be read; try again."})
		return
	}
	next := h.safeNext(r.PostForm.Get("next"))
	if !sameOrigin(r) {
		h.renderSignin(w, http.StatusForbidden, signinData{Next: next, Error: "Sign-in from another site is refused."})
		return
	}
	ip := httpx.ClientIP(r)
	// While an address is blocked, even the right token is refused:
	// otherwise guessing would go on, only the answers would differ.
	if after, blocked := h.limiter.Blocked(ip); blocked {
		h.tooMany(w, next, after)
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if secret == "" {
		h.renderSignin(w, http.StatusBadRequest, signinData{Next: next, Error: "Paste an API token."})
		return
	}
	tok, err := h.e.Records().TokenGetByHash(r.Context(), api.HashToken(secret))
	if errors.Is(err, store.ErrNotFound) {
		h.log.Warn("failed sign-in: no token matches", "client", ip)
		if after, blocked := h.limiter.Fail(ip); blocked {
			h.log.Warn("client blocked after too many failed sign-ins", "client", ip, "retry_after", after.Round(time.Second).String())
		}
		h.renderSignin(w, http.StatusUnauthorized, signinData{Next: next,
			Error: "No token matches. Create one with: bakery token create --name NAME --role viewer|deployer|admin"})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.e.Now()
	if apiErr := api.CheckToken(tok, now); apiErr != nil {
		h.log.Warn("failed sign-in: "+apiErr.Message, "token", tok.Name, "client", ip)
		h.renderSignin(w, http.StatusUnauthorized, signinData{Next: next, Error: apiErr.Detail + "."})
		return
	}
	if tok.Role == string(api.RoleBanner) {
		h.renderSignin(w, http.StatusForbidden, signinData{Next: next,
			Error: "A banner token reads the banner and nothing else; sign in with a viewer, deployer or admin token."})
		return
	}
	value := NewSessionSecret()
	expires := SessionExpiry(tok, now)
	ua := r.UserAgent()
	if len(ua) > maxUserAgent {
		ua = ua[:maxUserAgent]
	}
	if _, err := h.e.SessionStart(r.Context(), store.SessionInsertParams{Hash: HashSession(value), TokenID: tok.ID,
		CreatedAt: now, ExpiresAt: expires, UserAgent: ua}); err != nil {
		h.fail(w, r, err)
		return
	}
	h.e.TokenUsed(r.Context(), tok)
	setCookie(w, r, value, expires, now)
	h.log.Info("signed in to the dashboard", "token", tok.Name, "role", tok.Role, "client", ip, "expires", expires)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// tooMany answers a sign-in from a blocked address.
func (h *Handler) tooMany(w http.ResponseWriter, next string, after time.Duration) {
	secs := httpx.RetryAfterSeconds(after)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	h.renderSignin(w, http.StatusTooManyRequests, signinData{Next: next,
		Error: fmt.Sprintf("Too many failed sign-ins from this address; try again in %d seconds.", secs)})
}

// signout needs the CSRF token (as a header or a form field), so another
// site cannot sign a person out. It deletes the session, so the cookie is
// worthless afterwards even if someone kept a copy.
func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	s, err := h.session(r)
	if err != nil {
		clearCookie(w, r)
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err == nil {
			got = r.PostForm.Get("csrf_token")
		}
	}
	if !s.ValidCSRF(got) {
		writeJSONError(w, http.StatusForbidden, "missing or invalid CSRF token",
			"sign out with the button on the page; it sends the page's CSRF token")
		return
	}
	if err := h.e.SessionEnd(r.Context(), s.Stored.Hash); err != nil {
		h.fail(w, r, err)
		return
	}
	h.sessions.forget(s.Cookie)
	h.log.Info("signed out of the dashboard", "token", s.Token.Name)
	clearCookie(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
