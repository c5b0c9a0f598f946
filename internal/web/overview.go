package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
)

// The overview at 10,000 services: rendering every row made a 13.5 MB page
// that Chromium took 1.28 s to load. It shows one page of rows, of the
// services whose name contains ?q=, whose labels match ?selector=
// (team=payments,tier=1) and that are in ?state= (the states of GET
// /api/v1/services?state=), with the count of services in each state at
// the top.

// overviewPageSize is how many rows one page of the overview shows.
const overviewPageSize = 100

// overviewFilter is what the overview's query asks for.
type overviewFilter struct {
	Query    string
	Selector string
	State    string
	Page     int // from 1

	sel    config.Selector
	selErr string
}

func parseOverviewFilter(r *http.Request) overviewFilter {
	v := r.URL.Query()
	f := overviewFilter{Query: strings.TrimSpace(v.Get("q")), Page: 1}
	for _, s := range api.ListStates {
		if v.Get("state") == s {
			f.State = s
		}
	}
	if n, err := strconv.Atoi(v.Get("page")); err == nil && n > 1 {
		f.Page = n
	}
	if s := strings.TrimSpace(v.Get("selector")); s != "" {
		f.Selector = s
		sel, err := config.ParseSelector(s)
		if err != nil {
			f.selErr = err.Error()
		} else {
			f.sel = sel
		}
	}
	return f
}

// active reports whether the filter leaves anything out.
func (f overviewFilter) active() bool { return f.Query != "" || f.State != "" || f.Selector != "" }

// link is the overview's address for f with page and state replaced.
func (f overviewFilter) link(state string, page int) string {
	v := url.Values{}
	if f.Query != "" {
		v.Set("q", f.Query)
	}
	if f.Selector != "" {
		v.Set("selector", f.Selector)
	}
	if state != "" {
		v.Set("state", state)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// stateCount is one state's count at the top of the overview.
type stateCount struct {
	State, Label, URL string
	Count             int
	Current           bool
}

var stateLabels = map[string]string{
	api.ListStateLocked: "locked", api.ListStateBaking: "baking", api.ListStateCanary: "canary",
	api.ListStateFailed: "failed", api.ListStateWindow: "waiting for window",
}

// overviewList is the page of services the overview shows and what the
// controls above and below the rows say.
type overviewList struct {
	Filter   overviewFilter
	Services []*config.Service
	Counts   []stateCount
	AllURL   string
	Matched  int
	Total    int
	Pages    int
	PrevURL  string
	NextURL  string
	Filtered bool
}

// listServices picks the overview's page of services. The state of every
// service is needed for the counts and the state filter; the views come
// from the API server's cache.
func (h *Handler) listServices(ctx context.Context, f overviewFilter) overviewList {
	all := h.services()
	out := overviewList{Filter: f, Total: len(all), Filtered: f.active() || len(all) > overviewPageSize}
	counts := map[string]int{}
	q := strings.ToLower(f.Query)
	var matched []*config.Service
	states := h.statesOf(ctx, all, f)
	for i, svc := range all {
		if f.selErr != "" || (f.sel != nil && !f.sel.Matches(svc.Labels)) {
			continue
		}
		states := states[i]
		for s := range states {
			counts[s]++
		}
		if q != "" && !strings.Contains(strings.ToLower(svc.Name), q) {
			continue
		}
		if f.State != "" && !states[f.State] {
			continue
		}
		matched = append(matched, svc)
	}
	for _, s := range api.ListStates {
		out.Counts = append(out.Counts, stateCount{State: s, Label: stateLabels[s], Count: counts[s], Current: f.State == s, URL: f.link(s, 1)})
	}
	out.AllURL = f.link("", 1)
	out.Matched = len(matched)
	out.Pages = max(1, (len(matched)+overviewPageSize-1)/overviewPageSize)
	page := min(f.Page, out.Pages)
	out.Filter.Page = page
	from := (page - 1) * overviewPageSize
	out.Services = matched[from:min(from+overviewPageSize, len(matched))]
	if page > 1 {
		out.PrevURL = f.link(f.State, page-1)
	}
	if page < out.Pages {
		out.NextURL = f.link(f.State, page+1)
	}
	return out
}

// statesOf are the list states of the services f's selector picks (nil for
// the others), read by four readers at once: a view not in the API
// server's cache is read from the database (SQLite has four read
// connections), and after a burst of changes many are not.
func (h *Handler) statesOf(ctx context.Context, all []*config.Service, f overviewFilter) []map[string]bool {
	out := make([]map[string]bool, len(all))
	if f.selErr != "" {
		return out
	}
	const readers = 4
	per := (len(all) + readers - 1) / readers
	var wg sync.WaitGroup
	for from := 0; from < len(all); from += per {
		wg.Add(1)
		go func(part []*config.Service, into []map[string]bool) {
			defer wg.Done()
			for i, svc := range part {
				if f.sel == nil || f.sel.Matches(svc.Labels) {
					into[i] = h.serviceStates(ctx, svc.Name)
				}
			}
		}(all[from:min(from+per, len(all))], out[from:min(from+per, len(all))])
	}
	wg.Wait()
	return out
}

// SelectorError says why ?selector= was not understood ("" if it was).
func (l overviewList) SelectorError() string { return l.Filter.selErr }

// Summary is the line above the rows: how many services are shown of how
// many.
func (l overviewList) Summary() string {
	if l.Matched == l.Total && l.Pages == 1 {
		return fmt.Sprintf("%d services", l.Total)
	}
	return fmt.Sprintf("%d of %d services, page %d of %d", l.Matched, l.Total, l.Filter.Page, l.Pages)
}

// statusViews is what the API server offers beyond Views: a service's
// cached list states.
type statusViews interface {
	ServiceStatus(ctx context.Context, service string) (api.ServiceView, map[string]bool, error)
}

// serviceStates are a service's list states (none if its view cannot be
// read).
func (h *Handler) serviceStates(ctx context.Context, service string) map[string]bool {
	if sv, ok := h.views.(statusViews); ok {
		_, states, err := sv.ServiceStatus(ctx, service)
		if err != nil {
			return nil
		}
		return states
	}
	v, err := h.views.Status(ctx, service)
	if err != nil {
		return nil
	}
	return api.ServiceStates(v)
}

// listFlight is one reading of the overview's list for a filter, shared by
// the event streams of the pages that show it: each open overview checks
// its list (counts, rows) once a second while services change, and a
// hundred dashboards on the same filter need one pass over the services,
// not a hundred.
type listFlight struct {
	seq  uint64 // announcements made before the reading started
	done chan struct{}
	list overviewList
}

// maxListFlights bounds how many filters' readings are kept.
const maxListFlights = 256

// sharedList is the list for f as read after announcement need: the
// reading of another stream when it started after that, else a new one.
func (h *Handler) sharedList(ctx context.Context, f overviewFilter, need uint64) overviewList {
	key := f.link(f.State, f.Page)
	h.listMu.Lock()
	if fl := h.lists[key]; fl != nil && fl.seq >= need {
		h.listMu.Unlock()
		select {
		case <-fl.done:
			return fl.list
		case <-ctx.Done():
			return overviewList{}
		}
	}
	fl := &listFlight{seq: h.seq(), done: make(chan struct{})}
	if h.lists == nil || len(h.lists) >= maxListFlights {
		h.lists = map[string]*listFlight{}
	}
	h.lists[key] = fl
	h.listMu.Unlock()
	h.listReads.Add(1)
	// Not the stream's context: others may wait for this reading, and a
	// stream that ends must not cut it short.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	fl.list = h.listServices(rctx, f)
	cancel()
	close(fl.done)
	return fl.list
}
