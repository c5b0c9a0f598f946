package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bakery-deploy/bakery/internal/httpx"
)

// Track is one of the two versions behind a Router.
type Track string

const (
	// Stable is the version in production before the canary: the baseline
	// the canary is compared with.
	Stable Track = "stable"
	// Canary is the new version, receiving the canary weight's share of
	// requests.
	Canary Track = "canary"
)

// TrackHeader is the response header that names the track that answered,
// when Options.TrackHeader is set. Otherwise the router removes it from
// every response (a backend's own included), so clients cannot tell which
// version answered them.
const TrackHeader = "X-Bakery-Track"

// StatusClientClosed is the status recorded when the client went away
// before its response was complete (nginx's convention). It is below 500,
// so it never counts as an error of the version: a client that gives up says
// nothing about the backend.
const StatusClientClosed = 499

// Defaults for Options.
const (
	// DefaultKeep is how long samples are kept when Options.Keep is 0.
	DefaultKeep = 15 * time.Minute
	// DefaultMaxSamples caps the samples of each track when
	// Options.MaxSamples is 0. At about 40 bytes a sample, a full track
	// holds 8 MB.
	DefaultMaxSamples = 200_000
	// DefaultResponseHeaderTimeout is how long a backend may take to start
	// its response when Options.ResponseHeaderTimeout is 0.
	DefaultResponseHeaderTimeout = 30 * time.Second
)

// Options configure a Router. The zero value is usable.
type Options struct {
	// Logger receives weight changes and backend failures (nil: discard).
	Logger *slog.Logger
	// Keep is how long samples are kept (0: DefaultKeep). Older ones are
	// dropped, so Samples never returns anything older than Keep.
	Keep time.Duration
	// MaxSamples caps the samples kept per track (0: DefaultMaxSamples);
	// beyond it the oldest are dropped first.
	MaxSamples int
	// Metrics, if set, receive every request as Prometheus series labelled
	// with Service and Environment.
	Metrics *Metrics
	// Service and Environment name what the router serves, in Metrics'
	// labels, in logs and in errors.
	Service, Environment string
	// Now is the router's clock (nil: time.Now). Tests inject a clock to
	// exercise Keep without waiting. It must not go backwards.
	Now func() time.Time
	// TrackHeader makes every response carry TrackHeader (stable or
	// canary). Off by default: it tells any client which version answered,
	// so a client could keep retrying until it reaches the canary, or
	// avoid it.
	TrackHeader bool
	// ResponseHeaderTimeout is how long a backend may take to start its
	// response before the client gets 502 (0: DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
	// Limits are the server limits of ServeListener: the header timeout,
	// header size, idle timeout and connection cap (zero fields: the
	// defaults of Serve). Its read and write timeouts are not used: the
	// router carries the application's own traffic (uploads, long polls,
	// WebSockets), whose durations only the application knows.
	Limits httpx.Limits
}

// Router is an http.Handler that proxies each request to the stable or the
// canary backend according to the canary weight, and records the outcome
// per track. Its methods are safe for concurrent use.
type Router struct {
	tracks    [2]*track // indexed by trackIndex: stable, canary
	weight    atomic.Int32
	next      atomic.Uint64 // number of the next request, for the split
	transport *http.Transport
	log       *slog.Logger
	now       func() time.Time
	keep      time.Duration
	name      string // "router for web in production", for errors
	trackHdr  bool   // Options.TrackHeader
	limits    httpx.Limits
	// versions counts the requests each version answered, for the
	// exposure gate (versions.go).
	versions versions

	// afterRecord, if set, is called with every sample once it is
	// recorded. Tests use it to wait for a request's sample without
	// sleeping.
	afterRecord func(Track, Sample)
}

// track is everything a Router keeps per backend.
type track struct {
	name   Track
	target *url.URL
	proxy  *httputil.ReverseProxy
	rec    recorder

	// requests is the Metrics counter curried with service, environment
	// and track (only the code is left); nil without Metrics.
	requests *prometheus.CounterVec
	duration prometheus.Observer

	// lastWarn (Unix nanoseconds) and suppressed limit backend-failure
	// warnings to one a second per track: a canary that is down fails
	// every request routed to it.
	lastWarn   atomic.Int64
	suppressed atomic.Int64
}

// New returns a Router that sends requests to stable and canary, at canary
// weight 0 (everything to stable) until SetWeight is called. Both URLs must
// be absolute http or https URLs; a path in them is prefixed to every
// request's path, and their query is merged into every request's query.
func New(stable, canary *url.URL, opts Options) (*Router, error) {
	name := routerName(opts.Service, opts.Environment)
	if err := checkBackend(name, Stable, stable); err != nil {
		return nil, err
	}
	if err := checkBackend(name, Canary, canary); err != nil {
		return nil, err
	}
	if opts.Keep < 0 {
		return nil, fmt.Errorf("%s: Keep is %s; give a positive duration, or 0 for the default %s", name, opts.Keep, DefaultKeep)
	}
	if opts.MaxSamples < 0 {
		return nil, fmt.Errorf("%s: MaxSamples is %d; give a positive number, or 0 for the default %d", name, opts.MaxSamples, DefaultMaxSamples)
	}
	if opts.ResponseHeaderTimeout < 0 {
		return nil, fmt.Errorf("%s: ResponseHeaderTimeout is %s; give a positive duration, or 0 for the default %s", name, opts.ResponseHeaderTimeout, DefaultResponseHeaderTimeout)
	}
	headerTimeout := opts.ResponseHeaderTimeout
	if headerTimeout == 0 {
		headerTimeout = DefaultResponseHeaderTimeout
	}
	r := &Router{
		transport: newTransport(headerTimeout),
		log:       opts.Logger,
		now:       opts.Now,
		keep:      opts.Keep,
		name:      name,
		trackHdr:  opts.TrackHeader,
		limits:    opts.Limits,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if opts.Service != "" {
		r.log = r.log.With("service", opts.Service)
	}
	if opts.Environment != "" {
		r.log = r.log.With("environment", opts.Environment)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.keep == 0 {
		r.keep = DefaultKeep
	}
	maxSamples := opts.MaxSamples
	if maxSamples == 0 {
		maxSamples = DefaultMaxSamples
	}
	// ReverseProxy's own messages are mostly clients that went away in
	// the middle of a response: worth seeing only when debugging.
	proxyLog := slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)
	for i, t := range []struct {
		name   Track
		target *url.URL
	}{{Stable, stable}, {Canary, canary}} {
		tr := &track{name: t.name, target: t.target, rec: recorder{max: maxSamples}}
		tr.proxy = &httputil.ReverseProxy{
			Rewrite: func(pr *httputil.ProxyRequest) {
				pr.SetURL(tr.target)
				// Keep the chain of proxies in front of us: SetXForwarded
				// appends the client to the outgoing header, which Rewrite
				// has emptied.
				if xff, ok := pr.In.Header["X-Forwarded-For"]; ok {
					pr.Out.Header["X-Forwarded-For"] = xff
				}
				pr.SetXForwarded()
			},
			ModifyResponse: func(res *http.Response) error {
				if r.trackHdr {
					res.Header.Set(TrackHeader, string(tr.name))
				} else {
					res.Header.Del(TrackHeader)
				}
				return nil
			},
			ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
				r.proxyError(tr, w, err)
			},
			Transport:  r.transport,
			BufferPool: buffers,
			ErrorLog:   proxyLog,
		}
		if m := opts.Metrics; m != nil {
			labels := prometheus.Labels{"service": opts.Service, "environment": opts.Environment, "track": string(t.name)}
			var err error
			if tr.requests, err = m.requests.CurryWith(labels); err != nil {
				return nil, fmt.Errorf("%s: error preparing the requests metric: %w", name, err)
			}
			if tr.duration, err = m.duration.GetMetricWith(labels); err != nil {
				return nil, fmt.Errorf("%s: error preparing the duration metric: %w", name, err)
			}
		}
		r.tracks[i] = tr
	}
	return r, nil
}

// routerName is how errors name a router: by what it serves.
func routerName(service, env string) string {
	switch {
	case service != "" && env != "":
		return "router for " + service + " in " + env
	case service != "":
		return "router for " + service
	case env != "":
		return "router for " + env
	}
	return "router"
}

// checkBackend reports why u cannot be a backend URL, or nil.
func checkBackend(name string, t Track, u *url.URL) error {
	example := "e.g. http://127.0.0.1:8092"
	if u == nil {
		return fmt.Errorf("%s: the %s backend URL is missing; give its base URL, %s", name, t, example)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s: the %s backend URL %q is not http or https; give its base URL, %s", name, t, u.Redacted(), example)
	}
	if u.Host == "" {
		return fmt.Errorf("%s: the %s backend URL %q has no host; give its base URL, %s", name, t, u.Redacted(), example)
	}
	return nil
}

// newTransport returns the transport both backends share. The backends are
// usually on the same machine or network, so it keeps many idle
// connections per backend (a busy router would otherwise open a connection
// for most requests) and ignores HTTP_PROXY: going through a corporate
// proxy to reach a local backend is never what the router is for. A
// backend that takes longer than headerTimeout to start its response gets
// the client a 502, rather than holding the client and a connection.
func newTransport(headerTimeout time.Duration) *http.Transport {
	return &http.Transport{
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: headerTimeout,
	}
}

// SetWeight sets the canary's share of requests in percent; values outside
// 0..100 are clamped. It applies from the next request on.
func (r *Router) SetWeight(pct int) {
	pct = min(max(pct, 0), 100)
	if old := r.weight.Swap(int32(pct)); int(old) != pct {
		r.log.Info("canary weight changed", "weight", pct, "previous", old)
	}
}

// Weight returns the canary's share of requests in percent, 0..100.
func (r *Router) Weight() int { return int(r.weight.Load()) }

// CloseIdleConnections closes the router's idle connections to its
// backends. ServeListener calls it when it stops; call it when a Router
// served by other means is no longer used.
func (r *Router) CloseIdleConnections() { r.transport.CloseIdleConnections() }

// pick numbers the request and returns the track it goes to.
func (r *Router) pick() *track {
	// Whether request n goes to the canary depends only on n mod 100
	// (floor((n+100)w/100) = floor(nw/100) + w), which also keeps the
	// products small.
	m := (r.next.Add(1) - 1) % 100
	w := uint64(r.weight.Load())
	if (m+1)*w/100 > m*w/100 {
		return r.tracks[1]
	}
	return r.tracks[0]
}

// ServeHTTP proxies req to the track the split picks, answers 502 if that
// backend cannot be reached, and records the outcome.
func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	ex := &exchange{ResponseWriter: w, r: r, in: req, start: r.now()}
	ex.track = r.pick()
	// Deferred so that the sample is recorded even when ReverseProxy
	// aborts the response with a panic (http.ErrAbortHandler), which
	// net/http then handles by closing the connection.
	defer r.finish(ex)
	ex.track.proxy.ServeHTTP(ex, req)
	ex.returned = true
}

// proxyError is the ReverseProxy's ErrorHandler: the backend could not be
// reached, or did not answer properly.
func (r *Router) proxyError(tr *track, w http.ResponseWriter, err error) {
	ex, _ := w.(*exchange)
	if ex != nil && ex.hijacked {
		// The protocol switch was already recorded; the connection is
		// ours and there is no response left to write.
		r.log.Debug("upgraded connection to backend failed", "track", string(tr.name), "error", err.Error())
		return
	}
	if ex != nil && ex.in.Context().Err() != nil {
		// The client is gone; whatever the backend did is beside the point.
		w.WriteHeader(StatusClientClosed)
		return
	}
	// The log says which backend and why; the client learns neither (the
	// error names the backend's address, e.g. "dial tcp 10.0.3.7:8093").
	r.warnBackend(tr, "backend did not answer", err)
	h := w.Header()
	if r.trackHdr {
		h.Set(TrackHeader, string(tr.name))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, BadGatewayBody)
}

// BadGatewayBody is the body of the router's 502: nothing about the
// backend, whose address and error go to the log only.
const BadGatewayBody = "502 bad gateway: the service did not answer\n"

// warnBackend logs a backend failure, at most once a second per track.
func (r *Router) warnBackend(tr *track, msg string, err error) {
	now := r.now().UnixNano()
	last := tr.lastWarn.Load()
	if now-last < int64(time.Second) || !tr.lastWarn.CompareAndSwap(last, now) {
		tr.suppressed.Add(1)
		return
	}
	r.log.Warn(msg, "track", string(tr.name), "backend", tr.target.Redacted(), "error", err.Error(),
		"suppressed_since_last", tr.suppressed.Swap(0))
}

// finish records the outcome of ex once ServeHTTP is over.
func (r *Router) finish(ex *exchange) {
	if ex.recorded {
		return
	}
	status := ex.status
	switch {
	case !ex.returned:
		// ReverseProxy panicked: copying the body failed after the
		// status line was sent. Either side may have broken it off.
		if ex.writeFailed || ex.in.Context().Err() != nil {
			status = StatusClientClosed
		} else {
			status = http.StatusBadGateway
			r.warnBackend(ex.track, "backend broke off its response", errors.New("reading the response body failed"))
		}
	case status == 0:
		// Nothing written: net/http answers 200 with an empty body.
		status = http.StatusOK
	}
	r.record(ex.track, status, ex.start)
}

// record stores one sample and updates the totals and metrics.
func (r *Router) record(tr *track, status int, start time.Time) {
	s := tr.rec.add(status, start, r.now, r.keep)
	r.countAnswered(status)
	if tr.requests != nil {
		tr.requests.WithLabelValues(codeLabel(status)).Inc()
		tr.duration.Observe(s.Latency.Seconds())
	}
	if r.afterRecord != nil {
		r.afterRecord(tr.name, s)
	}
}

// codeLabels holds the code label of every valid HTTP status, so that
// counting a request does not format a number.
var codeLabels = func() (labels [1000]string) {
	for i := range labels {
		labels[i] = strconv.Itoa(i)
	}
	return labels
}()

// codeLabel returns status as a metric label.
func codeLabel(status int) string {
	if status >= 0 && status < len(codeLabels) {
		return codeLabels[status]
	}
	return strconv.Itoa(status)
}

// exchange wraps the client's ResponseWriter for one request, to learn the
// status it was sent and how the exchange ended.
type exchange struct {
	http.ResponseWriter
	r     *Router
	in    *http.Request
	track *track
	start time.Time

	status      int  // the final status sent, 0 until one is
	writeFailed bool // a write to the client failed: the client is gone
	hijacked    bool // the connection was taken over for an upgrade
	returned    bool // ReverseProxy returned rather than panicked
	recorded    bool // the sample is in (an upgrade records at the switch)
}

// WriteHeader remembers the final status. Informational statuses (1xx,
// which ReverseProxy relays from the backend) are not final, except 101.
func (ex *exchange) WriteHeader(code int) {
	if (code >= 200 || code == http.StatusSwitchingProtocols) && ex.status == 0 {
		ex.status = code
	}
	ex.ResponseWriter.WriteHeader(code)
}

// Write writes to the client and notes whether the client is still there.
func (ex *exchange) Write(p []byte) (int, error) {
	if ex.status == 0 {
		ex.status = http.StatusOK
	}
	n, err := ex.ResponseWriter.Write(p)
	if err != nil {
		ex.writeFailed = true
	}
	return n, err
}

// Unwrap lets http.ResponseController (which ReverseProxy uses to flush)
// reach the client's ResponseWriter.
func (ex *exchange) Unwrap() http.ResponseWriter { return ex.ResponseWriter }

// Hijack takes over the client connection for a protocol upgrade. The
// request is recorded now, as a 101 whose latency ends at the switch: the
// life of a WebSocket says nothing about how fast the version answers.
func (ex *exchange) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(ex.ResponseWriter).Hijack()
	if err != nil {
		return conn, brw, err
	}
	ex.hijacked = true
	ex.recorded = true
	ex.r.record(ex.track, http.StatusSwitchingProtocols, ex.start)
	return conn, brw, nil
}

// buffers lends ReverseProxy its copy buffers, which it otherwise
// allocates (32 KB) for every response.
var buffers = &bufferPool{}

type bufferPool struct{ pool sync.Pool }

func (b *bufferPool) Get() []byte {
	if p, ok := b.pool.Get().(*[]byte); ok {
		return *p
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.pool.Put(&buf) }
