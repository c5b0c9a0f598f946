package router

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/bakery-deploy/bakery/internal/httpx"
)

// ShutdownTimeout is how long Serve and ServeListener wait for requests in
// flight once their context is done, before cutting them off.
const ShutdownTimeout = 5 * time.Second

// The server limits of Serve and ServeListener where Options.Limits leaves
// a field zero (bakery passes the configuration's server.limits, whose
// defaults are the same).
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultMaxHeaderBytes    = 64 << 10
	DefaultMaxConnections    = 1024
)

// Serve listens on addr (host:port) and serves the router there until ctx
// is done, then shuts down gracefully (see ShutdownTimeout) and returns
// nil. It returns an error naming addr when it cannot listen, or when
// serving fails.
func (r *Router) Serve(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		// The *net.OpError repeats the address; keep only its cause,
		// e.g. "bind: address already in use".
		cause := err
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			cause = op.Err
		}
		return fmt.Errorf("%s: cannot listen on %s: %w; stop what holds that address or give the router another listen address", r.name, addr, cause)
	}
	return r.ServeListener(ctx, ln)
}

// ServeListener is Serve on a listener the caller opened (tests use port
// 0). It closes ln when it returns.
func (r *Router) ServeListener(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	// Requests' contexts derive from base, which is cancelled only after
	// the graceful shutdown: that ends upgraded connections (WebSockets),
	// which http.Server.Shutdown does not track.
	base, cancelBase := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelBase()
	l := r.limits
	srv := httpx.NewServer(r, httpx.ServerOptions{Limits: httpx.Limits{
		ReadHeaderTimeout: cmp.Or(l.ReadHeaderTimeout, DefaultReadHeaderTimeout),
		IdleTimeout:       cmp.Or(l.IdleTimeout, DefaultIdleTimeout),
		MaxHeaderBytes:    cmp.Or(l.MaxHeaderBytes, DefaultMaxHeaderBytes),
	}, ErrorLog: slog.NewLogLogger(r.log.Handler(), slog.LevelDebug)})
	srv.BaseContext = func(net.Listener) context.Context { return base }
	ln = httpx.LimitListener(ln, cmp.Or(l.MaxConnections, DefaultMaxConnections))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	r.log.Info("router listening", "addr", addr, "weight", r.Weight())

	select {
	case err := <-served:
		r.CloseIdleConnections()
		return fmt.Errorf("%s: serving on %s stopped: %w", r.name, addr, err)
	case <-ctx.Done():
	}

	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		r.log.Warn("router cut off requests still running at shutdown", "addr", addr, "waited", ShutdownTimeout.String(), "error", err.Error())
		_ = srv.Close()
	}
	cancelBase()
	<-served // http.ErrServerClosed
	r.CloseIdleConnections()
	r.log.Info("router stopped", "addr", addr)
	return nil
}
