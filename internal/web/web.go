// Package web is bakery's dashboard: server-rendered pages (embedded
// templates, one stylesheet, one small plain script), sessions kept on the
// server (the cookie carries a random secret) with CSRF tokens derived
// from it, and live updates over server-sent
// events. The pages read through the JSON API's views and every control
// calls the JSON API, so the dashboard can do nothing the API cannot.
package web

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Views is what the dashboard reads from the API server: the same view of a
// service that GET /api/v1/services/{service} serves.
type Views interface {
	Status(ctx context.Context, service string) (api.ServiceView, error)
}

// Options configures the dashboard.
type Options struct {
	Engine *engine.Engine
	Views  Views
	// Hub carries live updates; its Notify must be the engine's OnChange.
	Hub    *Hub
	Logger *slog.Logger
	// PingInterval is how often an idle event stream gets a comment
	// (default 15 s).
	PingInterval time.Duration
	// StreamWriteTimeout bounds each write to an event stream (default
	// 10 s): a client that stops reading is dropped.
	StreamWriteTimeout time.Duration
	// PollInterval, if set, is how often the dashboard reads the event log
	// for changes made by other replicas (the engine's OnChange reports
	// only this replica's). Set it when several replicas share a
	// PostgreSQL database.
	PollInterval time.Duration
	// Limiter counts failed sign-ins per client address; pass the API's
	// (api.Server.AuthLimiter) so that both doors count together. Nil: the
	// dashboard has its own.
	Limiter *httpx.Limiter
	// MaxStreams and MaxStreamsPerSession bound the live-update streams
	// open at once, overall (more: 503) and per session cookie (more: 429);
	// 0: no limit. The configuration's server.limits sets them.
	MaxStreams, MaxStreamsPerSession int
}

// Handler serves the dashboard. Mount it on the API server with
// (*api.Server).Mount.
type Handler struct {
	e     *engine.Engine
	views Views
	hub   *Hub
	log   *slog.Logger
	ping  time.Duration
	// streamWrite bounds each write to an event stream.
	streamWrite time.Duration
	mux         *http.ServeMux
	pages       *pages

	static     fs.FS
	assetsHash map[string]string

	tailMu sync.Mutex
	tails  map[string]int64 // per service: event id the timeline starts after

	cache    rowCache
	sessions sessionCache
	limiter  *httpx.Limiter
	// nextMux matches the pages a person may be sent to after signing in.
	nextMux *http.ServeMux
	streams streamLimits

	idxMu sync.Mutex
	idx   *configIndex

	listMu    sync.Mutex
	lists     map[string]*listFlight // by the overview's filter
	listReads atomic.Int64           // readings sharedList made
}

// New builds the dashboard and installs its change filter on the hub.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 15 * time.Second
	}
	if o.StreamWriteTimeout <= 0 {
		o.StreamWriteTimeout = 10 * time.Second
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err)
	}
	h := &Handler{e: o.Engine, views: o.Views, hub: o.Hub, log: o.Logger, ping: o.PingInterval, streamWrite: o.StreamWriteTimeout,
		mux: http.NewServeMux(), static: static, assetsHash: map[string]string{}, tails: map[string]int64{},
		cache:   rowCache{rows: map[string]*rowEntry{}, announced: map[string][32]byte{}, flights: map[string]*flight{}},
		streams: streamLimits{max: o.MaxStreams, perSession: o.MaxStreamsPerSession, open: map[[32]byte]int{}},
		limiter: o.Limiter}
	if h.limiter == nil {
		var clock httpx.Clock
		if o.Engine != nil {
			clock = o.Engine
		}
		h.limiter = httpx.NewLimiter(httpx.LimiterOptions{Clock: clock})
	}
	for _, name := range []string{"app.css", "app.js", "banner.js", "favicon.svg"} {
		b, err := fs.ReadFile(static, name)
		if err != nil {
			panic(err)
		}
		sum := sha256.Sum256(b)
		h.assetsHash[name] = hex.EncodeToString(sum[:6])
	}
	h.pages = parsePages(h.funcs())
	h.routes()
	if h.hub != nil {
		h.hub.SetFilter(h.changed)
		if o.PollInterval > 0 {
			h.hub.Go(func(done <-chan struct{}) { h.pollEvents(o.PollInterval, done) })
		}
	}
	return h
}

// zone is the IANA zone of the promotion window of service/env, "" if it
// has none: opening times are shown in it and in the viewer's own zone.
func (h *Handler) zone(service, env string) string {
	svc, ok := h.lookup(service)
	if !ok {
		return ""
	}
	e, _, ok := svc.Environment(env)
	if !ok || e.Window == nil {
		return ""
	}
	return e.Window.Location().String()
}

type route struct {
	pattern string
	handler http.Handler
	// page: a person may be sent here after signing in (?next=).
	page bool
}

func (h *Handler) routeList() []route {
	return []route{
		{"GET /{$}", h.page(h.overview), true},
		{"GET /services/{service}", h.page(h.servicePage), true},
		{"GET /insights", h.page(h.insightsPage), true},
		{"GET /notifications", h.page(h.notificationsPage), true},
		{"GET /signin", http.HandlerFunc(h.signinForm), false},
		{"POST /signin", http.HandlerFunc(h.signin), false},
		{"POST /signout", http.HandlerFunc(h.signout), false},
		{"GET /ui/events", h.ui(h.events), false},
		{"GET /ui/fragments/services", h.ui(h.rowsFragment), false},
		{"GET /ui/fragments/services/{service}", h.ui(h.rowFragment), false},
		{"GET /ui/fragments/services/{service}/page", h.ui(h.pageFragment), false},
		{"GET /ui/fragments/banner", h.ui(h.bannerFragment), false},
		{"GET /ui/fragments/incident", h.ui(h.incidentFragment), false},
		{"GET /static/", http.HandlerFunc(h.serveStatic), false},
		{"GET /banner.js", http.HandlerFunc(h.serveBannerJS), false},
	}
}

func (h *Handler) routes() {
	h.nextMux = http.NewServeMux()
	for _, rt := range h.routeList() {
		h.mux.Handle(rt.pattern, rt.handler)
		if rt.page {
			h.nextMux.Handle(rt.pattern, http.NotFoundHandler())
		}
	}
}

// Patterns are the routes the dashboard serves, for the API server's mux.
func (h *Handler) Patterns() []string {
	var out []string
	for _, rt := range h.routeList() {
		out = append(out, rt.pattern)
	}
	return out
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
		"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "same-origin")
	hdr.Set("X-Frame-Options", "DENY")
	h.mux.ServeHTTP(w, r)
}

// Session authenticates a request by its session cookie for the JSON API
// (api.Sessions). It returns a nil token and no error when the request has
// no session cookie.
func (h *Handler) Session(r *http.Request) (*store.Token, string, *api.Error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return nil, "", nil
	}
	s, err := h.session(r)
	if errors.Is(err, errStoreUnhealthy) {
		return nil, "", &api.Error{Status: http.StatusServiceUnavailable, Message: "cannot check the session", Detail: err.Error()}
	}
	if err != nil {
		return nil, "", &api.Error{Status: http.StatusUnauthorized, Message: "invalid session",
			Detail: err.Error() + ": sign in again at /signin, or send 'Authorization: Bearer TOKEN'"}
	}
	tok := s.Token
	return &tok, s.CSRF, nil
}

// TokenRevoked forgets the cached sessions of a revoked token
// (api.Sessions); the store has deleted them already.
func (h *Handler) TokenRevoked(tokenID int64) { h.sessions.forgetToken(tokenID) }

// session verifies the request's cookie, and records the session's and
// its token's use (at most once per engine.UseInterval each).
func (h *Handler) session(r *http.Request) (*Session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, ErrNoSession
	}
	s, fresh, err := h.sessions.verify(r.Context(), h.e.Records(), c.Value, h.e.Now())
	if err != nil {
		return nil, err
	}
	if fresh {
		h.e.SessionUsed(r.Context(), s.Stored)
		h.e.TokenUsed(r.Context(), s.Token)
	}
	return s, nil
}

// page wraps a page handler: no valid session, no page — the browser goes
// to the sign-in form and comes back afterwards.
func (h *Handler) page(fn func(w http.ResponseWriter, r *http.Request, s *Session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.session(r)
		if errors.Is(err, errStoreUnhealthy) {
			h.fail(w, r, err)
			return
		}
		if err != nil {
			if !errors.Is(err, ErrNoSession) {
				clearCookie(w, r)
			}
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := fn(w, r, s); err != nil {
			h.fail(w, r, err)
		}
	})
}

// ui wraps the endpoints the page's script calls: they answer 401 rather
// than redirect, and the script sends the person to /signin.
func (h *Handler) ui(fn func(w http.ResponseWriter, r *http.Request, s *Session) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := h.session(r)
		if err != nil {
			status := http.StatusUnauthorized
			if errors.Is(err, errStoreUnhealthy) {
				status = http.StatusServiceUnavailable
			}
			writeJSONError(w, status, "sign in first", err.Error()+": sign in at /signin")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := fn(w, r, s); err != nil {
			h.fail(w, r, err)
		}
	})
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var apiErr *api.Error
	status := http.StatusInternalServerError
	msg := "internal error"
	switch {
	case errors.As(err, &apiErr):
		status, msg = apiErr.Status, apiErr.Message
	case errors.Is(err, engine.ErrUnknownService), errors.Is(err, store.ErrNotFound):
		status, msg = http.StatusNotFound, "not found"
	case errors.Is(err, errStoreUnhealthy):
		status, msg = http.StatusServiceUnavailable, "database unreachable"
	}
	detail := err.Error()
	if status >= 500 {
		h.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		detail = redact.ForViewers(detail) // the full error is in the log
	}
	if strings.HasPrefix(r.URL.Path, "/ui/") {
		writeJSONError(w, status, msg, detail)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = h.pages.errorPage.ExecuteTemplate(w, "error", map[string]any{"Status": status, "Message": msg, "Detail": detail,
		"Assets": h.assetsHash})
}

func writeJSONError(w http.ResponseWriter, status int, msg, detail string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(jsonBytes(map[string]string{"error": msg, "detail": detail}))
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if _, ok := h.assetsHash[name]; !ok || name == "banner.js" {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == h.assetsHash[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeFileFS(w, r, h.static, name)
}

// serveBannerJS serves the script apps include to show employees which
// environment they are on. It needs no session: it carries no secret, and
// the app's page gives it a banner token (role banner: it reads the banner
// and nothing else), or none when server.banner.public is set.
func (h *Handler) serveBannerJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeFileFS(w, r, h.static, "banner.js")
}
