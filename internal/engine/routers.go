package engine

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/router"
	"github.com/bakery-deploy/bakery/internal/store"
)

// routerSyncInterval is how often every replica reads the canaries'
// weights for its built-in routers (changes made in this process apply at
// once).
const routerSyncInterval = 500 * time.Millisecond

type routerKey struct{ service, env string }

// routerEntry is one built-in router this process runs.
type routerEntry struct {
	r      *router.Router
	sig    string // listen|stable|canary|track_header|response_header_timeout: a change restarts the router
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	err error // why it is not listening, if it is not
}

func (re *routerEntry) listenErr() error {
	re.mu.Lock()
	defer re.mu.Unlock()
	return re.err
}

// routerFor returns the built-in router of service/env in this process.
func (e *Engine) routerFor(service, env string) *router.Router {
	e.routersMu.Lock()
	defer e.routersMu.Unlock()
	if re := e.routers[routerKey{service, env}]; re != nil {
		return re.r
	}
	return nil
}

// RouterError says why the built-in router of service/env is not serving
// in this process (nil if it is, or if there is none).
func (e *Engine) RouterError(service, env string) error {
	e.routersMu.Lock()
	re := e.routers[routerKey{service, env}]
	e.routersMu.Unlock()
	if re == nil {
		return nil
	}
	// Shown on the dashboard and in the API: the address it could not
	// listen on stays in the log (startRouters logs it).
	if err := re.listenErr(); err != nil {
		return &viewerError{msg: redact.ForViewers(err.Error()), err: err}
	}
	return nil
}

// startRouters starts the built-in routers the configuration asks for and
// stops those it no longer does.
func (e *Engine) startRouters(ctx context.Context) {
	want := map[routerKey]string{}
	specs := map[routerKey]config.Router{}
	for _, svc := range e.Config().Services {
		for _, env := range svc.Environments {
			rc, ok := routerSpec(env)
			if !ok {
				continue
			}
			specs[routerKey{svc.Name, env.Name}] = rc
			want[routerKey{svc.Name, env.Name}] = fmt.Sprintf("%s|%s|%s|%t|%s", rc.Listen, rc.Stable, rc.Canary, rc.TrackHeader, rc.ResponseHeaderTimeout)
		}
	}
	e.routersMu.Lock()
	var stop []*routerEntry
	for k, re := range e.routers {
		if want[k] != re.sig {
			stop = append(stop, re)
			delete(e.routers, k)
		}
	}
	e.routersMu.Unlock()
	for _, re := range stop {
		re.cancel()
		<-re.done
	}
	for k, sig := range want {
		e.routersMu.Lock()
		_, running := e.routers[k]
		e.routersMu.Unlock()
		if running {
			continue
		}
		rc := specs[k]
		stable, err1 := url.Parse(rc.Stable)
		canary, err2 := url.Parse(rc.Canary)
		if err1 != nil || err2 != nil {
			continue // the configuration was validated; nothing to do
		}
		r, err := router.New(stable, canary, router.Options{Logger: e.log, Metrics: e.routerMetrics, Now: e.clock.Now,
			Service: k.service, Environment: k.env, TrackHeader: rc.TrackHeader, ResponseHeaderTimeout: rc.ResponseHeaderTimeout,
			Limits: e.Config().Server.Limits})
		if err != nil {
			e.log.Error("built-in router not started", "service", k.service, "environment", k.env, "error", err)
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		re := &routerEntry{r: r, sig: sig, cancel: cancel, done: make(chan struct{})}
		e.routersMu.Lock()
		e.routers[k] = re
		e.routersMu.Unlock()
		go func(listen string) {
			defer close(re.done)
			e.log.Info("built-in router listening", "service", k.service, "environment", k.env, "listen", listen,
				"stable", rc.Stable, "canary", rc.Canary)
			if err := r.Serve(rctx, listen); err != nil && rctx.Err() == nil {
				re.mu.Lock()
				re.err = err
				re.mu.Unlock()
				e.log.Error("built-in router stopped", "service", k.service, "environment", k.env, "error", err)
			}
		}(rc.Listen)
	}
	e.syncRouters(ctx)
	e.syncRoutersSoon() // the router loop looks at the new set
}

// stopRouters stops every built-in router.
func (e *Engine) stopRouters() {
	e.routersMu.Lock()
	all := e.routers
	e.routers = map[routerKey]*routerEntry{}
	e.routersMu.Unlock()
	for _, re := range all {
		re.cancel()
		<-re.done
	}
}

// syncRoutersSoon asks the router loop to read the weights now.
func (e *Engine) syncRoutersSoon() {
	select {
	case e.routerSync <- struct{}{}:
	default:
	}
}

// routerLoop keeps every built-in router of this process at its canary's
// stored weight: 0 when no canary runs.
//
// A process without routers (most, at any size) has nothing to keep in
// step: the loop then sleeps until startRouters wakes it, or dutyRest.
func (e *Engine) routerLoop(ctx context.Context) {
	timer := time.NewTimer(routerSyncInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-e.routerSync:
		}
		e.syncRouters(ctx)
		wait := routerSyncInterval
		if !e.hasRouters() {
			wait = dutyRest
		}
		timer.Reset(wait)
	}
}

// hasRouters reports whether this process runs a built-in router.
func (e *Engine) hasRouters() bool {
	e.routersMu.Lock()
	defer e.routersMu.Unlock()
	return len(e.routers) > 0
}

func (e *Engine) syncRouters(ctx context.Context) {
	e.routersMu.Lock()
	keys := make([]routerKey, 0, len(e.routers))
	for k := range e.routers {
		keys = append(keys, k)
	}
	e.routersMu.Unlock()
	for _, k := range keys {
		cs, err := e.store.CanaryList(ctx, &store.CanaryListParams{Service: k.service, Environment: k.env, Limit: 1})
		if err != nil {
			if ctx.Err() == nil {
				e.log.Warn("error reading canary weights", "service", k.service, "environment", k.env, "error", err)
			}
			continue
		}
		w := 0
		if len(cs) > 0 && !cs[0].State.IsTerminal() {
			w = cs[0].Weight
		}
		if r := e.routerFor(k.service, k.env); r != nil && r.Weight() != w {
			r.SetWeight(w)
			e.log.Info("router weight", "service", k.service, "environment", k.env, "canary_weight", w)
		}
	}
}

// routerSpec is the built-in router env asks for: its canary's router, or
// its one-upstream router (router: {listen, upstream}), which is the same
// router with the upstream on both sides, at weight 0, counting what each
// version answers for the exposure gate above (exposure.go).
func routerSpec(env config.Environment) (config.Router, bool) {
	switch {
	case env.Canary != nil && env.Canary.Router != nil:
		return *env.Canary.Router, true
	case env.Router != nil:
		return config.Router{Listen: env.Router.Listen, Stable: env.Router.Upstream, Canary: env.Router.Upstream,
			ResponseHeaderTimeout: env.Router.ResponseHeaderTimeout}, true
	}
	return config.Router{}, false
}
