package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html/template"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/store"
)

// cacheTTL bounds how long a cached row or banner is served without being
// rebuilt. Changes are announced and replace entries at once; the TTL
// catches what changes with no announcement (a lock held past the
// pile-up threshold, a change made by another replica).
const cacheTTL = 20 * time.Second

// The overview's rows are rendered once per change and served to every
// open page: when a service changes, the hub's filter renders its row,
// stores it, and announces the service only if the row's fingerprint
// differs from the stored one. A hundred pages refetching the row then
// cost one rendering, not a hundred. An entry is current while no
// notification of its service came after the data it shows was read (the
// hub counts them) and it is younger than cacheTTL.
type rowEntry struct {
	fp   [32]byte
	html template.HTML
	gen  uint64
	at   time.Time
}

type flight struct {
	done chan struct{}
	gen  uint64
	html template.HTML
	fp   [32]byte
	err  error
}

type rowCache struct {
	mu   sync.Mutex
	rows map[string]*rowEntry
	// announced is the fingerprint of each service's row as last
	// announced: a change is announced when the row differs from it.
	announced map[string][32]byte
	flights   map[string]*flight
	banner    *bannerEntry
	bFlight   *bannerFlight
}

type bannerEntry struct {
	gen  uint64
	data bannerData
	at   time.Time
}

type bannerFlight struct {
	done chan struct{}
	gen  uint64
	data bannerData
	err  error
}

func (h *Handler) genOf(service string) uint64 {
	if h.hub == nil {
		return 0
	}
	return h.hub.genOf(service)
}

func (h *Handler) globalGen() uint64 {
	if h.hub == nil {
		return 0
	}
	return h.hub.globalGen()
}

// store keeps a rendered row unless a newer one is there already.
func (c *rowCache) store(service string, e *rowEntry) {
	if old := c.rows[service]; old == nil || old.gen <= e.gen {
		c.rows[service] = e
	}
}

// renderRow builds and renders a service's row and its fingerprint.
func (h *Handler) renderRow(ctx context.Context, svc *config.Service) (template.HTML, [32]byte, error) {
	row, fp, err := h.rowWithFingerprint(ctx, svc)
	if err != nil {
		return "", fp, err
	}
	var buf bytes.Buffer
	if err := h.pages.overview.ExecuteTemplate(&buf, "row", row); err != nil {
		return "", fp, err
	}
	return template.HTML(buf.String()), fp, nil // rendered by html/template
}

// rowWithFingerprint is the row and a digest of everything the dashboard
// shows of the service: its view, its newest deployments, its newest
// releases and, with canaries, its newest canaries and judgement. Every
// change the dashboard can show changes one of them.
func (h *Handler) rowWithFingerprint(ctx context.Context, svc *config.Service) (serviceRow, [32]byte, error) {
	view, err := h.views.Status(ctx, svc.Name)
	if err != nil {
		return serviceRow{}, [32]byte{}, err
	}
	deps, err := h.e.Records().DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Limit: 4 * len(view.Environments)})
	if err != nil {
		return serviceRow{}, [32]byte{}, err
	}
	rels, err := h.e.Records().ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, Limit: 3})
	if err != nil {
		return serviceRow{}, [32]byte{}, err
	}
	d := sha256.New()
	_ = json.NewEncoder(d).Encode(view)
	for _, dep := range deps {
		fmt.Fprintf(d, "d%d/%s/%d;", dep.ID, dep.State, dep.Attempt)
	}
	for _, rel := range rels {
		fmt.Fprintf(d, "r%d/%t;", rel.ID, rel.Rejected)
	}
	if err := h.canaryFingerprint(ctx, svc, d); err != nil {
		return serviceRow{}, [32]byte{}, err
	}
	if err := h.bisectFingerprint(ctx, svc, d); err != nil {
		return serviceRow{}, [32]byte{}, err
	}
	var fp [32]byte
	copy(fp[:], d.Sum(nil))
	return h.rowOf(svc, view, deps), fp, nil
}

// changed is the hub's filter: it renders the service's row and passes the
// notification on only if the row's fingerprint changed. The engine
// re-decides every service every 30 s and reports each as changed; without
// this, every open page would refetch every service twice a minute.
func (h *Handler) changed(ctx context.Context, service string) bool {
	svc, ok := h.lookup(service)
	if !ok {
		return true
	}
	if h.hub != nil && !h.hub.Watched(service) {
		// No open page shows it: announce without rendering (at 10,000
		// services a burst of changes spent a third of the CPU rendering
		// rows for no one, and with a dashboard open it rendered every
		// changed row for a page of 100). The row is rendered when a page
		// asks for it; the next change is announced whatever it shows, as
		// what was last announced is forgotten.
		h.cache.mu.Lock()
		delete(h.cache.announced, service)
		h.cache.mu.Unlock()
		return true
	}
	gen := h.genOf(service)
	html, fp, err := h.renderRow(ctx, svc)
	if err != nil {
		return true
	}
	h.cache.mu.Lock()
	defer h.cache.mu.Unlock()
	h.cache.store(service, &rowEntry{fp: fp, html: html, gen: gen, at: time.Now()})
	if last, ok := h.cache.announced[service]; ok && last == fp {
		return false
	}
	h.cache.announced[service] = fp
	return true
}

// cachedRow is a service's rendered row: from the cache while it is
// current, else rendered once however many pages ask at the same time. A
// rendering that finds a change nobody announced announces it.
func (h *Handler) cachedRow(ctx context.Context, svc *config.Service) template.HTML {
	c := &h.cache
	gen := h.genOf(svc.Name)
	c.mu.Lock()
	if e := c.rows[svc.Name]; e != nil && e.gen == gen && time.Since(e.at) < cacheTTL {
		c.mu.Unlock()
		return e.html
	}
	f := c.flights[svc.Name]
	lead := f == nil || f.gen < gen
	if lead {
		f = &flight{done: make(chan struct{}), gen: gen}
		c.flights[svc.Name] = f
	}
	c.mu.Unlock()
	if lead {
		f.html, f.fp, f.err = h.renderRow(ctx, svc)
		c.mu.Lock()
		if c.flights[svc.Name] == f {
			delete(c.flights, svc.Name)
		}
		announce := false
		if f.err == nil {
			c.store(svc.Name, &rowEntry{fp: f.fp, html: f.html, gen: gen, at: time.Now()})
			// A row that differs from the one announced, with no
			// notification on its way to say so, changed unannounced
			// (on another replica, or with time): announce it.
			if last, ok := c.announced[svc.Name]; ok && last != f.fp && h.hub != nil && !h.hub.pending(svc.Name) {
				c.announced[svc.Name] = f.fp
				announce = true
			}
		}
		c.mu.Unlock()
		close(f.done)
		if announce && h.hub != nil {
			h.hub.broadcast(svc.Name)
		}
	} else {
		select {
		case <-f.done:
		case <-ctx.Done():
			return errorRow(svc.Name, ctx.Err())
		}
	}
	if f.err != nil {
		return errorRow(svc.Name, f.err)
	}
	return f.html
}

func errorRow(name string, err error) template.HTML {
	n := template.HTMLEscapeString(name)
	return template.HTML(fmt.Sprintf(`<article class="svc" id="svc-%s" data-service="%s"><h2 class="svc-name">%s</h2><p class="error">%s</p></article>`,
		n, n, n, template.HTMLEscapeString(err.Error())))
}

// cachedRows renders the rows of services, four at a time (the SQLite store
// has four read connections) when they are not cached.
func (h *Handler) cachedRows(ctx context.Context, services []*config.Service) []template.HTML {
	out := make([]template.HTML, len(services))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(4, len(services)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = h.cachedRow(ctx, services[i])
			}
		}()
	}
	for i := range services {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// cachedBanner is the banner, read again after any notification, once
// however many pages ask.
func (h *Handler) cachedBanner(ctx context.Context) (bannerData, error) {
	c := &h.cache
	gen := h.globalGen()
	c.mu.Lock()
	if e := c.banner; e != nil && e.gen == gen && time.Since(e.at) < cacheTTL {
		c.mu.Unlock()
		return e.data, nil
	}
	f := c.bFlight
	lead := f == nil || f.gen < gen
	if lead {
		f = &bannerFlight{done: make(chan struct{}), gen: gen}
		c.bFlight = f
	}
	c.mu.Unlock()
	if lead {
		f.data, f.err = h.banner(ctx)
		c.mu.Lock()
		if c.bFlight == f {
			c.bFlight = nil
		}
		if f.err == nil && (c.banner == nil || c.banner.gen <= gen) {
			c.banner = &bannerEntry{gen: gen, data: f.data, at: time.Now()}
		}
		c.mu.Unlock()
		close(f.done)
	} else {
		select {
		case <-f.done:
		case <-ctx.Done():
			return bannerData{}, ctx.Err()
		}
	}
	return f.data, f.err
}
