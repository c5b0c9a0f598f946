// Package api is bakery's JSON HTTP API under /api/v1/, described by the
// OpenAPI document it serves at /api/v1/openapi.json. One file per resource.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/store"
)

//go:embed openapi.json
var openapiJSON []byte

// Server serves the API.
type Server struct {
	e       *engine.Engine
	log     *slog.Logger
	mux     *http.ServeMux
	metrics *metrics
	// patterns are the patterns registered on mux: the only route labels
	// of the request metric.
	patterns map[string]bool
	// sessions, once the dashboard is mounted, lets its session cookie
	// stand in for a bearer token.
	sessions Sessions
	// limiter counts bad tokens per client address.
	limiter *httpx.Limiter
	// github, when set, says what waits per environment (SetGitHub).
	github GitHubChanges
	// beaconLimiter counts banner beacons per client address, and
	// beaconNonces the beacon tickets taken (beacon.go).
	beaconLimiter *httpx.Limiter
	beaconNonces  nonces
	// notify serves the notification deliveries (SetNotifications).
	notify Notifications
	// views caches service views (servicelist.go); nil: none.
	views *viewCache
}

// New builds the API server for an engine whose store is open.
func New(e *engine.Engine, log *slog.Logger, reg *prometheus.Registry) *Server {
	s := &Server{e: e, log: log, mux: http.NewServeMux(), metrics: newMetrics(reg), patterns: map[string]bool{},
		limiter:       httpx.NewLimiter(httpx.LimiterOptions{Clock: e}),
		beaconLimiter: httpx.NewLimiter(httpx.LimiterOptions{Clock: e, Limit: BeaconLimit, Window: BeaconWindow})}
	s.routes(reg)
	return s
}

// route is one API endpoint; the list is what the OpenAPI test checks.
type route struct {
	method, pattern string
	role            Role
	h               func(w http.ResponseWriter, r *http.Request, tok *store.Token) error
}

func (s *Server) apiRoutes() []route {
	return []route{
		{"GET", "/api/v1/services", RoleViewer, s.listServices},
		{"GET", "/api/v1/services/{service}", RoleViewer, s.getService},
		{"GET", "/api/v1/services/{service}/releases", RoleViewer, s.listReleases},
		{"POST", "/api/v1/services/{service}/releases", RoleDeployer, s.createRelease},
		{"GET", "/api/v1/services/{service}/releases/{version}", RoleViewer, s.getRelease},
		{"GET", "/api/v1/services/{service}/deployments", RoleViewer, s.listDeployments},
		{"GET", "/api/v1/services/{service}/events", RoleViewer, s.listEvents},
		{"GET", "/api/v1/deployments/{id}", RoleViewer, s.getDeployment},
		{"POST", "/api/v1/services/{service}/environments/{env}/lock", RoleDeployer, s.lock},
		{"DELETE", "/api/v1/services/{service}/environments/{env}/lock", RoleDeployer, s.unlock},
		{"POST", "/api/v1/environments/{env}/lock", RoleDeployer, s.lock},
		{"DELETE", "/api/v1/environments/{env}/lock", RoleDeployer, s.unlock},
		{"GET", "/api/v1/locks", RoleViewer, s.listLocks},
		{"GET", "/api/v1/services/{service}/migrations", RoleViewer, s.getMigrations},
		{"POST", "/api/v1/services/{service}/environments/{env}/skip-bake", RoleDeployer, s.skipBake},
		{"POST", "/api/v1/environments/{env}/skip-bake", RoleDeployer, s.skipBake},
		{"POST", "/api/v1/services/{service}/environments/{env}/rollback", RoleDeployer, s.rollback},
		{"GET", "/api/v1/services/{service}/environments/{env}/canary", RoleViewer, s.getCanary},
		{"POST", "/api/v1/services/{service}/environments/{env}/canary/promote", RoleDeployer, s.canaryPromote},
		{"POST", "/api/v1/services/{service}/environments/{env}/canary/abort", RoleDeployer, s.canaryAbort},
		{"POST", "/api/v1/services/{service}/emergency", RoleDeployer, s.emergency},
		{"GET", "/api/v1/services/{service}/bisects", RoleViewer, s.listBisects},
		{"POST", "/api/v1/services/{service}/bisects", RoleDeployer, s.startBisect},
		{"GET", "/api/v1/services/{service}/bisects/{id}", RoleViewer, s.getBisect},
		{"POST", "/api/v1/services/{service}/bisects/{id}/cancel", RoleDeployer, s.cancelBisect},
		{"POST", "/api/v1/services/{service}/environments/{env}/releases/{version}/approve", RoleDeployer, s.approve},
		{"GET", "/api/v1/services/{service}/releases/{version}/approvals", RoleViewer, s.listApprovals},
		{"GET", "/api/v1/tokens", RoleAdmin, s.listTokens},
		{"POST", "/api/v1/tokens", RoleAdmin, s.createToken},
		{"DELETE", "/api/v1/tokens/{name}", RoleAdmin, s.revokeToken},
		{"GET", "/api/v1/whoami", RoleViewer, s.whoami},
		{"GET", "/api/v1/insights", RoleViewer, s.getInsights},
		{"GET", "/api/v1/backup", RoleAdmin, s.backup},
		{"GET", bannerPattern, RoleBanner, s.banner},
		{"GET", "/api/v1/github/deliveries", RoleAdmin, s.listGitHubDeliveries},
		{"POST", beaconPattern, RoleBanner, s.beacon},
		{"GET", "/api/v1/notifications/deliveries", RoleDeployer, s.listDeliveries},
		{"POST", "/api/v1/notifications/deliveries/{id}/resend", RoleDeployer, s.resendDelivery},
	}
}

func (s *Server) routes(reg *prometheus.Registry) {
	for _, rt := range s.apiRoutes() {
		h := s.authed(rt.role, rt.h)
		if rt.pattern == bannerPattern {
			h = s.publicBanner(h)
		}
		if rt.pattern == beaconPattern {
			h = s.publicBeacon(h)
		}
		s.handle(rt.method+" "+rt.pattern, withCORS(rt.pattern, h))
	}
	s.handle("OPTIONS "+bannerPattern, http.HandlerFunc(bannerPreflight))
	s.handle("OPTIONS "+beaconPattern, http.HandlerFunc(beaconPreflight))
	s.handle("GET /api/v1/openapi.json", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// Public and the same for everyone, but it changes with an
		// upgrade: caches must ask again.
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(openapiJSON)
	}))
	s.handle("GET /healthz", http.HandlerFunc(s.healthz))
	s.handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	s.handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &Error{Status: http.StatusNotFound, Message: "no such endpoint: " + r.Method + " " + r.URL.Path,
			Detail: "the endpoints are listed in /api/v1/openapi.json"})
	}))
}

// handle registers h for pattern on the server's mux.
func (s *Server) handle(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
	s.patterns[pattern] = true
}

// UI is the web dashboard (internal/web): pages served beside the API,
// whose session cookie the API accepts in place of a bearer token.
type UI interface {
	http.Handler
	Sessions
	// Patterns are the routes the UI serves, in http.ServeMux syntax.
	Patterns() []string
}

// Mount serves the dashboard from this server.
func (s *Server) Mount(ui UI) {
	s.sessions = ui
	for _, p := range ui.Patterns() {
		s.handle(p, ui)
	}
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, status: 200}
	s.mux.ServeHTTP(sw, r)
	s.metrics.requests.WithLabelValues(methodLabel(r.Method), s.routeLabel(r), statusLabel(sw.status)).Observe(time.Since(start).Seconds())
}

// Every label of the request metric comes from a fixed set, whatever the
// client sends: a label per made-up method or path would let anyone grow
// /metrics (and the server's memory) without bound.

// methodLabel is the method's label: one of the standard methods bakery
// may serve, or OTHER.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// unmatchedRoute is the route label of requests that match no pattern
// (answered 404 or 405).
const unmatchedRoute = "unmatched"

// routeLabel is the ServeMux pattern that served r: one of the patterns
// registered in routes and Mount, never text from the request. (For its
// redirects, such as /static to /static/, ServeMux.Handler returns the
// path it redirects to rather than a pattern; those count as unmatched.)
func (s *Server) routeLabel(r *http.Request) string {
	_, pattern := s.mux.Handler(r)
	if !s.patterns[pattern] {
		return unmatchedRoute
	}
	return pattern
}

// statusLabel is the status code's label; net/http allows only 100-999.
func statusLabel(code int) string {
	if code < 100 || code > 999 {
		return "other"
	}
	return strconv.Itoa(code)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the
// dashboard's event stream sets write deadlines).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.e.Records().TokenCount(ctx); err != nil {
		// /healthz needs no token: the database's address and user stay in the log.
		s.log.Error("health check: database unreachable", "error", err)
		writeError(w, &Error{Status: http.StatusServiceUnavailable, Message: "database unreachable", Detail: redact.ForViewers(err.Error())})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "leader": s.e.IsLeader(), "database": s.e.StoreKind()})
}

// Error is an API error: the status code and a body a person can act on.
type Error struct {
	Status  int
	Message string
	Detail  string
}

func (e *Error) Error() string { return e.Message }

// writeJSON writes every API answer. None may be stored by a cache (unless
// its handler chose a Cache-Control, as the banner's does): they carry
// one-time token secrets, deploy output and state that is stale a second
// later.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	if w.Header().Get("Cache-Control") == "" {
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	writeJSON(w, e.Status, map[string]string{"error": e.Message, "detail": e.Detail})
}

// toAPIError maps the engine's and store's errors to status codes.
func toAPIError(err error) *Error {
	var apiErr *Error
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.Is(err, engine.ErrUnknownService):
		return &Error{Status: http.StatusNotFound, Message: "unknown service", Detail: err.Error()}
	case errors.Is(err, engine.ErrDuplicate):
		return &Error{Status: http.StatusConflict, Message: "release exists already", Detail: err.Error()}
	case errors.Is(err, engine.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Message: "invalid input", Detail: err.Error()}
	case errors.Is(err, engine.ErrUnknownEnvironment):
		return &Error{Status: http.StatusNotFound, Message: "unknown environment", Detail: err.Error()}
	case errors.Is(err, engine.ErrNoCanary):
		return &Error{Status: http.StatusConflict, Message: "no canary running", Detail: err.Error()}
	case errors.Is(err, engine.ErrLocked):
		return &Error{Status: http.StatusConflict, Message: "locked", Detail: err.Error()}
	case errors.Is(err, engine.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Message: "not allowed", Detail: err.Error()}
	case errors.Is(err, engine.ErrConflict):
		return &Error{Status: http.StatusConflict, Message: "conflict", Detail: err.Error()}
	case errors.Is(err, engine.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: "not found", Detail: err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: "not found", Detail: err.Error()}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Message: "conflict", Detail: err.Error()}
	}
	// An unexpected error (usually the database's) is logged in full by
	// the caller; the client gets it without paths, hosts or users.
	return &Error{Status: http.StatusInternalServerError, Message: "internal error", Detail: redact.ForViewers(err.Error())}
}

// maxBody bounds request bodies; releases carry at most a commit message.
const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields are errors that name
// the field, so a typo never passes silently.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body too large",
				Detail: fmt.Sprintf("the limit is %d bytes", maxBody)}
		}
		return &Error{Status: http.StatusBadRequest, Message: "malformed JSON body", Detail: err.Error()}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Message: "malformed JSON body", Detail: "more than one JSON value in the body"}
	}
	return nil
}

type metrics struct {
	requests *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bakery_http_request_duration_seconds", Help: "Time to serve HTTP requests, by route and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"method", "route", "status"}),
	}
	reg.MustRegister(m.requests)
	return m
}
