package httpx

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Limits bound what clients can hold of a server: how long a request may
// take to arrive and to be answered, how long an idle connection stays
// open, how large headers may be, and how many connections and event
// streams there may be at once. A zero field means no limit; the
// configuration (package config) always fills every field.
type Limits struct {
	// ReadHeaderTimeout is how long a request's line and headers may take
	// to arrive.
	ReadHeaderTimeout time.Duration
	// ReadTimeout is how long a whole request, headers and body, may take
	// to arrive: a body sent at one byte a second is cut off then. Handlers
	// of long-lived streams lift it for themselves (see Stream).
	ReadTimeout time.Duration
	// WriteTimeout is how long a response may take, from the end of the
	// request's headers to the last byte written. Streams set their own
	// deadline for each write instead.
	WriteTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its
	// next request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers together; a
	// larger request is answered 431.
	MaxHeaderBytes int
	// MaxConnections bounds the connections served at once; further ones
	// wait in the kernel's accept queue until one closes (and are refused
	// by the kernel when that queue is full).
	MaxConnections int
	// MaxEventStreams and MaxEventStreamsPerSession bound the dashboard's
	// live-update streams, overall and per sign-in (package web).
	MaxEventStreams, MaxEventStreamsPerSession int
}

// headerSlop is what net/http reads beyond Server.MaxHeaderBytes before it
// answers 431 (its bufio slop); NewServer subtracts it so that
// Limits.MaxHeaderBytes is the bound a client actually meets.
const headerSlop = 4096

// ServerOptions configure NewServer.
type ServerOptions struct {
	Limits Limits
	// Proxies are the trusted reverse proxies (nil: none), put in every
	// request's context for ClientIP, Secure and Host.
	Proxies *Proxies
	// HSTS adds Strict-Transport-Security to every response to an HTTPS
	// request (see Secure).
	HSTS bool
	// TLS, if set, is the server's TLS configuration (see
	// Certificate.Config); serve with ServeTLS(ln, "", "").
	TLS *tls.Config
	// ErrorLog receives net/http's own messages (nil: the log package's).
	ErrorLog *log.Logger
}

// HSTSValue is the Strict-Transport-Security header ServerOptions.HSTS
// adds: browsers use only HTTPS for this host for a year.
const HSTSValue = "max-age=31536000"

// NewServer returns the http.Server for h with o's limits, trusted proxies
// and TLS. It is the one place bakery's own server is built, so tests can
// check the values it really runs with.
func NewServer(h http.Handler, o ServerOptions) *http.Server {
	maxHeader := o.Limits.MaxHeaderBytes
	if maxHeader > 2*headerSlop {
		maxHeader -= headerSlop
	}
	return &http.Server{
		Handler:           Handler(h, o.Proxies, o.HSTS),
		ReadHeaderTimeout: o.Limits.ReadHeaderTimeout,
		ReadTimeout:       o.Limits.ReadTimeout,
		WriteTimeout:      o.Limits.WriteTimeout,
		IdleTimeout:       o.Limits.IdleTimeout,
		MaxHeaderBytes:    maxHeader,
		TLSConfig:         o.TLS,
		ErrorLog:          o.ErrorLog,
	}
}

// Handler wraps h so that every request's context carries p (for ClientIP,
// Secure and Host) and, with hsts, every response to an HTTPS request
// carries Strict-Transport-Security.
func Handler(h http.Handler, p *Proxies, hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(WithProxies(r.Context(), p))
		}
		if hsts && p.Secure(r) {
			w.Header().Set("Strict-Transport-Security", HSTSValue)
		}
		h.ServeHTTP(w, r)
	})
}

// Stream lifts the server's ReadTimeout and WriteTimeout from a long-lived
// response (an event stream): the request's body is not read any more, and
// the handler sets a deadline for each write itself. Without it, the
// ReadTimeout would end the stream (net/http cancels the request's context
// when the connection's read deadline passes).
func Stream(w http.ResponseWriter) error {
	rc := http.NewResponseController(w)
	if err := rc.SetReadDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("error lifting the read deadline of a stream: %w", err)
	}
	if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("error lifting the write deadline of a stream: %w", err)
	}
	return nil
}

// LimitListener returns a listener that accepts at most n connections at
// once from ln: Accept waits while n are open. n <= 0: no limit, ln itself.
func LimitListener(ln net.Listener, n int) net.Listener {
	if n <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, sem: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	sem       chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// Accept waits for a free slot, then for a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

// Close closes the listener and ends every Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when it is closed (once).
type limitConn struct {
	net.Conn
	released atomic.Bool
	release  func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	if c.released.CompareAndSwap(false, true) {
		c.release()
	}
	return err
}
