package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// maxForm bounds the sign-in and sign-out forms.
const maxForm = 16 << 10

// safeNext is where to go after signing in: a path on this server only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return next
}

// secure reports whether the request came over TLS (directly, or through a
// trusted proxy that says so: server.trusted_proxies): the cookie is then
// Secure. Anyone else's X-Forwarded-Proto is ignored.
func secure(r *http.Request) bool { return httpx.Secure(r) }

func setCookie(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: value, Path: "/", Expires: expires,
		MaxAge: int(time.Until(expires).Seconds()), HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
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
	next := safeNext(r.URL.Query().Get("next"))
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

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		h.renderSignin(w, http.StatusBadRequest, signinData{Next: "/", Error: "The form could not be read; try again."})
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	if !sameOrigin(r) {
		h.renderSignin(w, http.StatusForbidden, signinData{Next: next, Error: "Sign-in from another site is refused."})
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("token"))
	if secret == "" {
		h.renderSignin(w, http.StatusBadRequest, signinData{Next: next, Error: "Paste an API token."})
		return
	}
	hash := api.HashToken(secret)
	tok, err := h.e.Store().TokenGetByHash(r.Context(), hash)
	if errors.Is(err, store.ErrNotFound) {
		h.renderSignin(w, http.StatusUnauthorized, signinData{Next: next,
			Error: "No token matches. Create one with: bakery token create --name NAME --role viewer|deployer|admin"})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	expires := time.Now().Add(SessionTTL)
	setCookie(w, r, SignSession(tok.ID, hash, expires), expires)
	h.log.Info("signed in to the dashboard", "token", tok.Name, "role", tok.Role)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signout needs the CSRF token (as a header or a form field), so another
// site cannot sign a person out.
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
	clearCookie(w, r)
	http.Redirect(w, r, "/signin", http.StatusSeeOther)
}
