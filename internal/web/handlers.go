package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/httpx"
)

type overviewData struct {
	layoutData
	Rows      []template.HTML
	Incidents []incidentEnv
	List      overviewList
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, s *Session) error {
	seq := h.seq()
	b, err := h.cachedBanner(r.Context())
	if err != nil {
		return err
	}
	list := h.listServices(r.Context(), parseOverviewFilter(r))
	d := overviewData{layoutData: h.layout(s, seq, "Overview", "overview", "", b), Rows: h.cachedRows(r.Context(), list.Services),
		Incidents: h.incidentEnvs(b), List: list}
	return render(w, h.pages.overview, "layout", d)
}

func (h *Handler) service(r *http.Request) (*config.Service, error) {
	svc, ok := h.lookup(r.PathValue("service"))
	if !ok {
		return nil, &api.Error{Status: http.StatusNotFound, Message: "unknown service",
			Detail: fmt.Sprintf("no service is named %q in the configuration", r.PathValue("service"))}
	}
	return svc, nil
}

func (h *Handler) servicePage(w http.ResponseWriter, r *http.Request, s *Session) error {
	svc, err := h.service(r)
	if err != nil {
		return err
	}
	d, err := h.servicePageData(r.Context(), s, svc)
	if err != nil {
		return err
	}
	return render(w, h.pages.service, "layout", d)
}

func (h *Handler) rowsFragment(w http.ResponseWriter, r *http.Request, s *Session) error {
	return render(w, h.pages.overview, "rows", h.cachedRows(r.Context(), h.listServices(r.Context(), parseOverviewFilter(r)).Services))
}

func (h *Handler) rowFragment(w http.ResponseWriter, r *http.Request, s *Session) error {
	svc, err := h.service(r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err = io.WriteString(w, string(h.cachedRow(r.Context(), svc)))
	return err
}

func (h *Handler) pageFragment(w http.ResponseWriter, r *http.Request, s *Session) error {
	svc, err := h.service(r)
	if err != nil {
		return err
	}
	d, err := h.servicePageData(r.Context(), s, svc)
	if err != nil {
		return err
	}
	return render(w, h.pages.service, "service-body", d)
}

func (h *Handler) bannerFragment(w http.ResponseWriter, r *http.Request, s *Session) error {
	b, err := h.cachedBanner(r.Context())
	if err != nil {
		return err
	}
	return render(w, h.pages.overview, "banner", b)
}

func (h *Handler) incidentFragment(w http.ResponseWriter, r *http.Request, s *Session) error {
	b, err := h.cachedBanner(r.Context())
	if err != nil {
		return err
	}
	return render(w, h.pages.overview, "incident", overviewData{layoutData: h.layout(s, 0, "", "overview", "", b), Incidents: h.incidentEnvs(b)})
}

// render executes a template into a buffer first, so a failure yields an
// error page rather than half a page.
func render(w http.ResponseWriter, t *template.Template, name string, data any) error {
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, name, data); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, err := buf.WriteTo(w)
	return err
}

func jsonBytes(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// events is the live-update stream: "event: change" with the service's
// name whenever a service changes, and a comment every ping interval. It
// re-checks the session at each ping, so a deleted token or an expired
// session ends the stream.
func (h *Handler) events(w http.ResponseWriter, r *http.Request, s *Session) error {
	if h.hub == nil {
		return &api.Error{Status: http.StatusServiceUnavailable, Message: "live updates are off"}
	}
	release, refused := h.streams.acquire(r)
	if refused != nil {
		w.Header().Set("Retry-After", strconv.Itoa(streamRetryAfter))
		writeJSONError(w, refused.Status, refused.Message, refused.Detail)
		return nil
	}
	defer release()
	// The stream outlives the server's read and write timeouts: each
	// write below sets its own deadline instead.
	if err := httpx.Stream(w); err != nil {
		return err
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no")
	view := parseStreamView(r)
	sub, lv := h.subscribeView(r.Context(), view)
	defer sub.Close()
	write := func(msg string) error {
		// A client that stops reading is dropped; nothing waits for it.
		if err := rc.SetWriteDeadline(time.Now().Add(h.streamWrite)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if _, err := fmt.Fprint(w, msg); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
		// The deadline is for this write only: over HTTP/2 a deadline
		// that passes between writes resets the stream.
		if err := rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	}
	w.WriteHeader(http.StatusOK)
	// Catch up from where the page (or the stream before a reconnect)
	// left off; subscribing first means nothing falls in between.
	hello := "retry: 2000\n: connected\n\n"
	if since, ok := sinceOf(r); ok {
		services, known := h.hub.Since(since)
		if !known {
			services = []string{AllServices}
		}
		services, others := shownOf(sub, services)
		seq := h.hub.Seq()
		lv.seen = seq
		banner := h.bannerHash(r.Context())
		hello += changeEvents(services, seq, banner)
		if others || view.kind == viewOverview {
			hello += h.checkList(r.Context(), sub, view, lv, seq, banner)
		}
	}
	if err := write(hello); err != nil {
		return nil
	}
	ping := time.NewTicker(h.ping)
	defer ping.Stop()
	// The list check runs at most once per listCheckEvery, however many
	// services change meanwhile.
	var listDue <-chan time.Time
	var lastList time.Time
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-h.hub.Done():
			return nil
		case <-sub.Ready():
			services, seq := sub.Take()
			lv.seen = seq
			if len(services) > 0 {
				// The banner is read again after any change: only for
				// something to send, not for every wake-up.
				banner := h.bannerHash(r.Context())
				if err := write(changeEvents(services, seq, banner)); err != nil {
					return nil
				}
				lv.banner = banner
			}
			if others := sub.TakeOthers(); (others || (view.kind == viewOverview && len(services) > 0)) && listDue == nil {
				listDue = time.After(time.Until(nextListCheck(time.Now(), lastList)))
			}
		case <-listDue:
			listDue, lastList = nil, time.Now()
			if msg := h.checkList(r.Context(), sub, view, lv, h.hub.Seq(), h.bannerHash(r.Context())); msg != "" {
				if err := write(msg); err != nil {
					return nil
				}
			}
		case <-ping.C:
			if _, err := VerifySession(r.Context(), h.e.Records(), s.Cookie, h.e.Now()); err != nil && !errors.Is(err, errStoreUnhealthy) {
				_ = write("event: signout\ndata: {}\n\n")
				return nil
			}
			if err := write(": ping\n\n"); err != nil {
				return nil
			}
		}
	}
}

// nextListCheck is when a stream that last checked its list at last
// checks again: on a whole multiple of listCheckEvery, so that the streams
// showing the same filter check together and share one reading
// (sharedList), and at least half a period after last.
func nextListCheck(now, last time.Time) time.Time {
	at := now.Add(listCheckEvery).Truncate(listCheckEvery)
	if at.Sub(last) < listCheckEvery/2 {
		at = at.Add(listCheckEvery)
	}
	return at
}

// listCheckEvery is how often at most a stream looks again at what its
// page lists when services outside it changed: its rows (a service may
// have entered or left the page's filter), the counts per state and the
// banner.
const listCheckEvery = time.Second

// What page a stream feeds (?view= of /ui/events): the overview with its
// filter (the same ?q, ?selector, ?state and ?page), a service's page
// (?service=), or another page. Without ?view= a stream hears of every
// service's changes, one by one, as before views existed.
const (
	viewAll      = ""
	viewOverview = "overview"
	viewService  = "service"
	viewNone     = "none"
)

type streamView struct {
	kind    string
	filter  overviewFilter
	service string
}

func parseStreamView(r *http.Request) streamView {
	q := r.URL.Query()
	switch v := q.Get("view"); v {
	case viewAll:
		return streamView{kind: viewAll}
	case viewOverview:
		return streamView{kind: viewOverview, filter: parseOverviewFilter(r)}
	case viewService:
		return streamView{kind: viewService, service: q.Get("service")}
	default:
		return streamView{kind: viewNone}
	}
}

// listState is what a stream last told its page about the list.
type listState struct {
	seen   uint64 // the latest announcement the stream was handed
	names  []string
	counts string // the counts and the summary, as sent
	banner string
}

// subscribeView subscribes to the services view shows and returns what
// the page shows of the list now.
func (h *Handler) subscribeView(ctx context.Context, view streamView) (*Subscription, *listState) {
	lv := &listState{}
	switch view.kind {
	case viewAll:
		return h.hub.Subscribe(), lv
	case viewOverview:
		list := h.listServices(ctx, view.filter)
		lv.names = serviceNames(list.Services)
		lv.counts = string(jsonBytes(countsOf(list)))
		return h.hub.SubscribeView(lv.names), lv
	case viewService:
		return h.hub.SubscribeView([]string{view.service}), lv
	default:
		return h.hub.SubscribeView(nil), lv
	}
}

// checkList looks at the page's list again: when its services changed it
// watches the new ones and says "change *" (the page refetches its rows);
// when the counts or the banner changed it sends a list event.
func (h *Handler) checkList(ctx context.Context, sub *Subscription, view streamView, lv *listState, seq uint64, banner string) string {
	var out string
	ld := listData{}
	if view.kind == viewOverview {
		list := h.sharedList(ctx, view.filter, lv.seen)
		names := serviceNames(list.Services)
		if !slices.Equal(names, lv.names) {
			lv.names = names
			sub.Watch(names)
			out += changeEvents([]string{AllServices}, seq, banner)
			lv.banner = banner
		}
		if c := string(jsonBytes(countsOf(list))); c != lv.counts {
			lv.counts = c
			ld = countsOf(list)
		}
	}
	if ld.Counts == nil && banner == lv.banner {
		return out
	}
	ld.Banner = banner
	lv.banner = banner
	return out + fmt.Sprintf("id: %d\nevent: list\ndata: %s\n\n", seq, jsonBytes(ld))
}

// listData is a list event: the counts per state at the top of the
// overview and its summary line (when they changed), and the banner's
// hash.
type listData struct {
	Counts  map[string]int `json:"counts,omitempty"`
	Summary string         `json:"summary,omitempty"`
	Banner  string         `json:"banner"`
}

func countsOf(l overviewList) listData {
	d := listData{Counts: map[string]int{}, Summary: l.Summary()}
	for _, c := range l.Counts {
		d.Counts[c.State] = c.Count
	}
	return d
}

func serviceNames(services []*config.Service) []string {
	out := make([]string, len(services))
	for i, svc := range services {
		out[i] = svc.Name
	}
	return out
}

// shownOf splits announced services into those sub's view shows and
// whether any other changed.
func shownOf(sub *Subscription, services []string) (shown []string, others bool) {
	for _, service := range services {
		if service == AllServices || sub.Shows(service) {
			shown = append(shown, service)
		} else {
			others = true
		}
	}
	return shown, others
}

// changeEvents formats change events: the service, and the banner's hash
// (the page refetches the banner only when it differs). The last event
// carries the sequence number as its id, which EventSource sends back as
// Last-Event-ID when it reconnects.
func changeEvents(services []string, seq uint64, banner string) string {
	var buf bytes.Buffer
	for i, service := range services {
		if i == len(services)-1 {
			fmt.Fprintf(&buf, "id: %d\n", seq)
		}
		fmt.Fprintf(&buf, "event: change\ndata: %s\n\n", jsonBytes(changeData{Service: service, Banner: banner}))
	}
	return buf.String()
}

type changeData struct {
	Service string `json:"service"`
	Banner  string `json:"banner,omitempty"`
}

// bannerHash is the banner's hash now ("" if it cannot be read: pages
// refetch then).
func (h *Handler) bannerHash(ctx context.Context) string {
	b, err := h.cachedBanner(ctx)
	if err != nil {
		return ""
	}
	return b.Hash
}

// sinceOf is the announcement a stream resumes after: Last-Event-ID on a
// reconnect, else the page's ?since.
func sinceOf(r *http.Request) (uint64, bool) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("since")
	}
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, err == nil
}
