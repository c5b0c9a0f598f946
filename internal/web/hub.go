package web

import (
	"context"
	"sync"
	"time"
)

// AllServices is what a subscriber receives instead of a list of services
// when more changed than it can be told about one by one: reload everything.
const AllServices = "*"

// maxPending is how many distinct services a subscriber may have pending
// before they collapse into AllServices.
const maxPending = 64

// historySize is how many past announcements the hub remembers, so that a
// page can catch up on what changed between its rendering and its event
// stream, or while its stream reconnected.
const historySize = 512

// dispatchers is how many notifications the hub filters at once (the
// filter reads the database; SQLite has four read connections).
const dispatchers = 4

// Hub carries "this service changed" from the engine to the open event
// streams. Notify never blocks: it queues the service (once, however often
// it is notified) and wakes the hub's dispatchers, which (after an
// optional filter that drops notifications that changed nothing visible)
// hand the service to every subscriber. A subscriber has a set of pending
// services, not a queue, so a slow client never holds anything up:
// repeated changes of one service coalesce, and past maxPending distinct
// services the set collapses to AllServices.
//
// Every announcement has a sequence number. A page records the number when
// it is rendered and its event stream starts from there (and EventSource
// resumes from the last id it saw), so nothing that happens in between is
// missed.
type Hub struct {
	inMu     sync.Mutex
	queue    []string            // services to filter, first notified first
	queued   map[string]struct{} // what is in queue
	inflight map[string]bool     // being filtered; true: notified again meanwhile
	gens     map[string]uint64   // per service: how many notifications so far
	gen      uint64              // notifications of all services so far
	wake     chan struct{}

	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	// watchers counts, per service, the subscriptions whose view shows it;
	// watchAll counts those that watch every service. Together they say
	// whether a change is worth rendering (Watched).
	watchers map[string]int
	watchAll int
	filter   func(ctx context.Context, service string) bool
	seq      uint64
	history  []announcement // ring of the last historySize

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// NewHub starts a hub. Close it to stop its dispatchers and end every
// subscription.
func NewHub() *Hub {
	h := &Hub{
		queued:   map[string]struct{}{},
		inflight: map[string]bool{},
		gens:     map[string]uint64{},
		wake:     make(chan struct{}, dispatchers),
		subs:     map[*Subscription]struct{}{},
		watchers: map[string]int{},
		done:     make(chan struct{}),
	}
	for range dispatchers {
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.dispatch()
		}()
	}
	return h
}

// Notify records that service changed. It is engine.Options.OnChange: it
// returns at once, whatever the subscribers do.
func (h *Hub) Notify(service string) {
	h.inMu.Lock()
	h.gens[service]++
	h.gen++
	if again, busy := h.inflight[service]; busy {
		// Being filtered now, perhaps from data read before this change:
		// filter it once more when that ends.
		if !again {
			h.inflight[service] = true
		}
		h.inMu.Unlock()
		return
	}
	if _, ok := h.queued[service]; !ok {
		h.queued[service] = struct{}{}
		h.queue = append(h.queue, service)
	}
	h.inMu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// SetFilter installs a func that decides whether a notification is worth
// passing on (the engine re-decides every service every 30 s, mostly
// without changing anything). It runs on the dispatchers, never on the
// engine's goroutines.
func (h *Hub) SetFilter(f func(ctx context.Context, service string) bool) {
	h.mu.Lock()
	h.filter = f
	h.mu.Unlock()
}

// genOf counts the notifications of service so far. Whatever was built
// from data read after the count was taken is current until it changes.
func (h *Hub) genOf(service string) uint64 {
	h.inMu.Lock()
	defer h.inMu.Unlock()
	return h.gens[service]
}

// pending reports whether a notification of service waits to be filtered
// (or is being filtered).
func (h *Hub) pending(service string) bool {
	h.inMu.Lock()
	defer h.inMu.Unlock()
	_, queued := h.queued[service]
	_, busy := h.inflight[service]
	return queued || busy
}

// globalGen counts the notifications of every service so far.
func (h *Hub) globalGen() uint64 {
	h.inMu.Lock()
	defer h.inMu.Unlock()
	return h.gen
}

// next takes the first queued service, marking it in flight.
func (h *Hub) next() (string, bool) {
	h.inMu.Lock()
	defer h.inMu.Unlock()
	if len(h.queue) == 0 {
		return "", false
	}
	service := h.queue[0]
	h.queue = h.queue[1:]
	delete(h.queued, service)
	h.inflight[service] = false
	return service, true
}

// finished ends a service's flight; it is queued again if it was notified
// meanwhile.
func (h *Hub) finished(service string) {
	h.inMu.Lock()
	again := h.inflight[service]
	delete(h.inflight, service)
	h.inMu.Unlock()
	if again {
		h.Notify(service)
	}
}

func (h *Hub) dispatch() {
	for {
		service, ok := h.next()
		if !ok {
			select {
			case <-h.done:
				return
			case <-h.wake:
				continue
			}
		}
		select {
		case <-h.done:
			return
		default:
		}
		h.mu.RLock()
		filter := h.filter
		h.mu.RUnlock()
		pass := true
		if filter != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			pass = filter(ctx, service)
			cancel()
		}
		if pass {
			h.broadcast(service)
		}
		h.finished(service)
		// More may be queued than wake-ups were sent.
		select {
		case h.wake <- struct{}{}:
		default:
		}
	}
}

type announcement struct {
	seq     uint64
	service string
}

func (h *Hub) broadcast(service string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seq++
	a := announcement{seq: h.seq, service: service}
	if len(h.history) < historySize {
		h.history = append(h.history, a)
	} else {
		h.history[int((h.seq-1)%historySize)] = a
	}
	for s := range h.subs {
		if s.all || s.watch[service] {
			s.add(service, h.seq)
		} else {
			s.other(h.seq)
		}
	}
}

// Seq is the number of the latest announcement. Read it before reading
// what a page shows.
func (h *Hub) Seq() uint64 {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.seq
}

// Since returns the services announced after seq, in order, without
// repeats. ok is false when the hub cannot tell (seq is older than it
// remembers, or from before a restart): reload everything then.
func (h *Hub) Since(seq uint64) (services []string, ok bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	if seq > h.seq {
		return nil, false
	}
	if h.seq-seq > uint64(len(h.history)) {
		return nil, false
	}
	seen := map[string]bool{}
	for n := seq + 1; n <= h.seq; n++ {
		a := h.history[int((n-1)%historySize)]
		if !seen[a.service] {
			seen[a.service] = true
			services = append(services, a.service)
		}
	}
	return services, true
}

// Subscribe opens a subscription to every service's changes; Watch
// narrows it to the services a page shows. Close it when the client goes.
func (h *Hub) Subscribe() *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1), pending: map[string]struct{}{}, all: true}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.watchAll++
	h.mu.Unlock()
	return s
}

// SubscribeView opens a subscription that watches services from the start
// (see Watch).
func (h *Hub) SubscribeView(services []string) *Subscription {
	s := &Subscription{hub: h, ready: make(chan struct{}, 1), pending: map[string]struct{}{}, watch: make(map[string]bool, len(services))}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	for _, service := range services {
		if !s.watch[service] {
			s.watch[service] = true
			h.watchers[service]++
		}
	}
	h.mu.Unlock()
	return s
}

// Watched reports whether an open subscription shows service (or every
// service): only then is its row worth rendering when it changes. At
// 10,000 services a dashboard shows a page of 100; rendering the row of
// every other service that changed in a burst was most of the server's
// work for that dashboard.
func (h *Hub) Watched(service string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.watchAll > 0 || h.watchers[service] > 0
}

// unwatchLocked takes s's view out of the hub's counts; h.mu is held.
func (h *Hub) unwatchLocked(s *Subscription) {
	if s.all {
		h.watchAll--
		s.all = false
	}
	for service := range s.watch {
		if h.watchers[service]--; h.watchers[service] <= 0 {
			delete(h.watchers, service)
		}
	}
	s.watch = nil
}

// Go runs f in a goroutine until the hub closes (done is closed then);
// Close waits for it to return.
func (h *Hub) Go(f func(done <-chan struct{})) {
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		f(h.done)
	}()
}

// Subscribers is how many subscriptions are open.
func (h *Hub) Subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// Done is closed when the hub closes: event streams end then.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close stops the dispatcher and tells every stream to end. It is safe to
// call more than once.
func (h *Hub) Close() {
	h.closeOnce.Do(func() { close(h.done) })
	h.wg.Wait()
}

// Subscription is one client's view of the hub.
type Subscription struct {
	hub   *Hub
	ready chan struct{}

	// all and watch are its view, guarded by hub.mu: every service, or
	// the services in watch. Changes of others only set others.
	all   bool
	watch map[string]bool

	mu       sync.Mutex
	order    []string
	pending  map[string]struct{}
	overflow bool
	others   bool   // a service outside the view changed since TakeOthers
	seq      uint64 // of the latest announcement handed to it
}

// Watch sets the services the subscription's page shows: from now on only
// their changes are handed out by Take, one by one, and a change of any
// other service only makes TakeOthers true (a page may then check whether
// its list or its counts moved, once for many changes).
func (s *Subscription) Watch(services []string) {
	watch := make(map[string]bool, len(services))
	for _, service := range services {
		watch[service] = true
	}
	h := s.hub
	h.mu.Lock()
	h.unwatchLocked(s)
	s.watch = watch
	for service := range watch {
		h.watchers[service]++
	}
	h.mu.Unlock()
}

// Shows reports whether service is in the subscription's view.
func (s *Subscription) Shows(service string) bool {
	s.hub.mu.RLock()
	defer s.hub.mu.RUnlock()
	return s.all || s.watch[service]
}

func (s *Subscription) other(seq uint64) {
	s.mu.Lock()
	s.seq = seq
	s.others = true
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// TakeOthers reports whether a service outside the view changed since the
// last call, and forgets it.
func (s *Subscription) TakeOthers() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.others
	s.others = false
	return o
}

func (s *Subscription) add(service string, seq uint64) {
	s.mu.Lock()
	s.seq = seq
	if !s.overflow {
		if _, ok := s.pending[service]; !ok {
			if len(s.order) >= maxPending {
				s.overflow = true
				s.order, s.pending = nil, map[string]struct{}{}
			} else {
				s.pending[service] = struct{}{}
				s.order = append(s.order, service)
			}
		}
	}
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// Ready receives a value when something is pending.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take returns the services that changed since the last Take, in the order
// they first changed, or [AllServices] after an overflow, and the sequence
// number of the latest announcement among them.
func (s *Subscription) Take() ([]string, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.overflow {
		s.overflow = false
		return []string{AllServices}, s.seq
	}
	out := s.order
	s.order, s.pending = nil, map[string]struct{}{}
	return out, s.seq
}

// Close ends the subscription; the hub forgets it.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	if _, open := s.hub.subs[s]; open {
		delete(s.hub.subs, s)
		s.hub.unwatchLocked(s)
	}
	s.hub.mu.Unlock()
}
