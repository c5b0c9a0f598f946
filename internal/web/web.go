// Package web is bakery's dashboard: server-rendered pages (embedded
// templates, one stylesheet, one small plain script), signed stateless
// session cookies with CSRF tokens, and live updates over server-sent
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
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/engine"
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
	streams  streamLimits
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
		streams: streamLimits{max: o.MaxStreams, perSession: o.MaxStreamsPerSession, open: map[[32]byte]int{}}}
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
	svc, ok := h.e.Config().Service(service)
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
}

func (h *Handler) routeList() []route {
	return []route{
		{"GET /{$}", h.page(h.overview)},
		{"GET /services/{service}", h.page(h.servicePage)},
		{"GET /signin", http.HandlerFunc(h.signinForm)},
		{"POST /signin", http.HandlerFunc(h.signin)},
		{"POST /signout", http.HandlerFunc(h.signout)},
		{"GET /ui/events", h.ui(h.events)},
		{"GET /ui/fragments/services", h.ui(h.rowsFragment)},
		{"GET /ui/fragments/services/{service}", h.ui(h.rowFragment)},
		{"GET /ui/fragments/services/{service}/page", h.ui(h.pageFragment)},
		{"GET /ui/fragments/banner", h.ui(h.bannerFragment)},
		{"GET /ui/fragments/incident", h.ui(h.incidentFragment)},
		{"GET /static/", http.HandlerFunc(h.serveStatic)},
		{"GET /banner.js", http.HandlerFunc(h.serveBannerJS)},
	}
}

func (h *Handler) routes() {
	for _, rt := range h.routeList() {
		h.mux.Handle(rt.pattern, rt.handler)
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
	s, err := h.sessions.verify(r.Context(), h.e.Store(), c.Value, time.Now())
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

// session verifies the request's cookie.
func (h *Handler) session(r *http.Request) (*Session, error) {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, ErrNoSession
	}
	return h.sessions.verify(r.Context(), h.e.Store(), c.Value, time.Now())
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
	if status >= 500 {
		h.log.Error("dashboard request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	}
	if strings.HasPrefix(r.URL.Path, "/ui/") {
		writeJSONError(w, status, msg, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = h.pages.errorPage.ExecuteTemplate(w, "error", map[string]any{"Status": status, "Message": msg, "Detail": err.Error(),
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
// the app's page gives it a viewer token.
func (h *Handler) serveBannerJS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Cross-Origin-Resource-Policy", "cross-origin")
	http.ServeFileFS(w, r, h.static, "banner.js")
}
