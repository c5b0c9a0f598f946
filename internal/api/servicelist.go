package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/store"
)

// The list of services is served from a cache of each service's view,
// invalidated by the engine's OnChange for that service (Invalidate): at
// 10,000 services building every view on each request took 2.65 s. An
// entry is current while no change of its service was announced after the
// state it shows was read, and for at most the cache's TTL (what changes
// with no announcement: a lock held past the pile-up threshold, a change
// made by another replica).

// Service states the list filters on (?state=): a service is in a state
// when one of its environments is.
const (
	ListStateLocked  = "locked" // a lock holds promotions into it
	ListStateBaking  = "baking" // its next promotion waits for a bake
	ListStateCanary  = "canary" // a canary is rolling out
	ListStateFailed  = "failed" // its newest release failed there or below it (deploy or bake)
	ListStateWindow  = "window" // its next promotion waits for a window to open
	defaultListLimit = 100
	maxListLimit     = 1000
)

// ListStates are the states ?state= accepts, in the order counts are shown.
var ListStates = []string{ListStateLocked, ListStateBaking, ListStateCanary, ListStateFailed, ListStateWindow}

type viewEntry struct {
	gen    uint64
	at     time.Time
	view   ServiceView
	states map[string]bool // ServiceStates(view), computed once
	// svc and model are what the view was built from: decorated adds,
	// on each read, what changes without an announcement (GitHub's
	// state, a router's health).
	svc   *config.Service
	model readmodel.Service
}

// configIndex finds a configured service by name without a scan of the
// list (a scan per service made a list of 10,000 cost 10,000²/2 string
// comparisons).
type configIndex struct {
	cfg   *config.Config
	names map[string]bool
}

// viewCache holds each service's view with the count of changes announced
// for it when its state was read.
type viewCache struct {
	ttl time.Duration

	mu      sync.Mutex
	gens    map[string]uint64
	entries map[string]*viewEntry
	index   *configIndex
}

// known reports whether cfg names service, from an index built once per
// configuration.
func (c *viewCache) known(cfg *config.Config, service string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil || c.index.cfg != cfg {
		names := make(map[string]bool, len(cfg.Services))
		for _, svc := range cfg.Services {
			names[svc.Name] = true
		}
		c.index = &configIndex{cfg: cfg, names: names}
	}
	return c.index.names[service]
}

// CacheViews makes the server serve service views from a cache kept
// current by Invalidate, for at most ttl each. Without it every request
// builds the views it shows.
func (s *Server) CacheViews(ttl time.Duration) {
	s.views = &viewCache{ttl: ttl, gens: map[string]uint64{}, entries: map[string]*viewEntry{}}
}

// Invalidate says that service changed: its cached view is rebuilt when
// next asked for. The engine's OnChange calls it.
func (s *Server) Invalidate(service string) {
	c := s.views
	if c == nil {
		return
	}
	c.mu.Lock()
	c.gens[service]++
	delete(c.entries, service)
	c.mu.Unlock()
}

// serviceViewOf is svc's view, from the cache when it is current, with
// what changes unannounced added now.
func (s *Server) serviceViewOf(ctx context.Context, name string) (ServiceView, error) {
	e, err := s.cachedEntry(ctx, name)
	if err != nil {
		return ServiceView{}, err
	}
	return s.decorated(ctx, e), nil
}

// decorated is e's view with GitHub's state (statuses behind, what waits)
// and the routers' health added, on a copy: the cached view is shared.
func (s *Server) decorated(ctx context.Context, e *viewEntry) ServiceView {
	v := e.view
	v.Environments = append([]EnvironmentView(nil), e.view.Environments...)
	for i := range v.Environments {
		if x := v.Environments[i].Exposure; x != nil {
			cp := *x
			v.Environments[i].Exposure = &cp
		}
	}
	s.decorate(ctx, e.svc, e.model, &v)
	s.exposureProblems(&v)
	return v
}

// cachedView is a service's view and its list states, from the cache when
// it is current (without decorated's additions).
func (s *Server) cachedView(ctx context.Context, name string) (ServiceView, map[string]bool, error) {
	e, err := s.cachedEntry(ctx, name)
	if err != nil {
		return ServiceView{}, nil, err
	}
	return e.view, e.states, nil
}

// cachedEntry is a service's cache entry, built now when it is not current.
func (s *Server) cachedEntry(ctx context.Context, name string) (*viewEntry, error) {
	c := s.views
	if c == nil {
		svc, m, err := s.e.View(ctx, name)
		if err != nil {
			return nil, err
		}
		v := serviceView(svc, m)
		return &viewEntry{view: v, states: ServiceStates(v), svc: svc, model: m}, nil
	}
	if !c.known(s.e.Config(), name) {
		return nil, s.viewError(ctx, name)
	}
	now := time.Now()
	c.mu.Lock()
	gen := c.gens[name]
	if e, ok := c.entries[name]; ok && e.gen == gen && now.Sub(e.at) < c.ttl {
		c.mu.Unlock()
		return e, nil
	}
	c.mu.Unlock()
	svc, m, err := s.e.View(ctx, name)
	if err != nil {
		return nil, err
	}
	v := serviceView(svc, m)
	e := &viewEntry{gen: gen, at: now, view: v, states: ServiceStates(v), svc: svc, model: m}
	c.mu.Lock()
	if c.gens[name] == gen { // no change announced while it was read
		c.entries[name] = e
	}
	c.mu.Unlock()
	return e, nil
}

// viewError is the engine's error for a service it cannot show.
func (s *Server) viewError(ctx context.Context, name string) error {
	_, _, err := s.e.View(ctx, name)
	if err == nil {
		err = &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no service %q", name)}
	}
	return err
}

// ServiceStates are the list states a service's view is in (the
// dashboard's overview filters on the same).
func ServiceStates(v ServiceView) map[string]bool {
	in := map[string]bool{}
	for _, env := range v.Environments {
		if env.Locked {
			in[ListStateLocked] = true
		}
		switch env.Waiting.Kind {
		case "bake":
			in[ListStateBaking] = true
		case "window":
			in[ListStateWindow] = true
		}
		if env.State == "canary" {
			in[ListStateCanary] = true
		}
		if len(env.Releases) > 0 {
			// failed_below: it failed in the environment below, which has
			// no list of its own when it is the first (staging).
			switch env.Releases[0].State {
			case "failed", "failed_bake", "failed_below":
				in[ListStateFailed] = true
			}
		}
	}
	return in
}

// ServiceList is the answer of GET /api/v1/services: one page of the
// services that match, in the configuration's order.
type ServiceList struct {
	Services []ServiceView `json:"services"`
	// Total is how many services match the filters, over every page.
	Total int `json:"total"`
	// Counts is how many services (of those ?selector= picks) are in each
	// state, whatever ?state= asks for (a service may be in several).
	Counts map[string]int `json:"counts"`
	// Next is the value of ?after= for the next page; absent on the last.
	Next string `json:"next,omitempty"`
}

// listQuery is what ?limit, ?after, ?state and ?selector ask for.
type listQuery struct {
	limit    int
	after    string
	state    string
	selector config.Selector
}

func parseListQuery(r *http.Request, cfg *config.Config) (listQuery, error) {
	q := listQuery{limit: defaultListLimit}
	vals := r.URL.Query()
	if v := vals.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxListLimit {
			return q, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("limit %q is not a number from 1 to %d", v, maxListLimit),
				Detail: "ask for a page of at most " + strconv.Itoa(maxListLimit) + " services, and follow next for the rest"}
		}
		q.limit = n
	}
	if v := vals.Get("after"); v != "" {
		if _, ok := cfg.Service(v); !ok {
			return q, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("after %q is not a configured service", v),
				Detail: "pass the next value of the previous page, or leave after out for the first page"}
		}
		q.after = v
	}
	if v := vals.Get("state"); v != "" {
		known := false
		for _, s := range ListStates {
			known = known || s == v
		}
		if !known {
			return q, &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("state %q is not one the list filters on", v),
				Detail: fmt.Sprintf("use one of %v", ListStates)}
		}
		q.state = v
	}
	if v := vals.Get("selector"); v != "" {
		sel, err := config.ParseSelector(v)
		if err != nil {
			return q, &Error{Status: http.StatusBadRequest, Message: err.Error(),
				Detail: "a selector is label=value pairs joined by commas (all must hold), such as team=payments,tier=1"}
		}
		q.selector = sel
	}
	return q, nil
}

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	cfg := s.e.Config()
	q, err := parseListQuery(r, cfg)
	if err != nil {
		return err
	}
	out := ServiceList{Services: []ServiceView{}, Counts: map[string]int{}}
	for _, st := range ListStates {
		out.Counts[st] = 0
	}
	entries, err := s.allViews(r.Context(), cfg)
	if err != nil {
		return err
	}
	started := q.after == ""
	var page []*viewEntry
	for i, e := range entries {
		name := cfg.Services[i].Name
		onPage := started
		if name == q.after {
			started = true
		}
		if q.selector != nil && !q.selector.Matches(cfg.Services[i].Labels) {
			continue
		}
		states := e.states
		for st := range states {
			out.Counts[st]++
		}
		if q.state != "" && !states[q.state] {
			continue
		}
		out.Total++
		switch {
		case !onPage:
		case len(page) < q.limit:
			page = append(page, e)
		case out.Next == "":
			out.Next = page[len(page)-1].view.Service
		}
	}
	// Only the page is decorated: GitHub's state is read per service.
	for _, e := range page {
		out.Services = append(out.Services, s.decorated(r.Context(), e))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// allViews are every configured service's views, built from the cache;
// what is missing is built by a few readers at once.
func (s *Server) allViews(ctx context.Context, cfg *config.Config) ([]*viewEntry, error) {
	entries := make([]*viewEntry, len(cfg.Services))
	errs := make([]error, len(cfg.Services))
	next := make(chan int)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				entries[i], errs[i] = s.cachedEntry(ctx, cfg.Services[i].Name)
			}
		}()
	}
	for i := range cfg.Services {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return entries, nil
}

// ServiceStatus is a service's view and its list states (ServiceStates),
// both from the cache: the dashboard's overview filters and counts on them.
func (s *Server) ServiceStatus(ctx context.Context, service string) (ServiceView, map[string]bool, error) {
	return s.cachedView(ctx, service)
}
