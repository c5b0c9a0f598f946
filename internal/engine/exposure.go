package engine

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// ExposureFlushInterval is how often every replica writes what its routers
// counted and the beacons it took since the last batch: small, periodic
// batches, one unit of work per service with something new, rather than
// a write per request or beacon. A process that dies loses at most one
// batch, which is use not counted (never use invented).
const ExposureFlushInterval = time.Second

// exposurePromInterval is how often the leader reads the exposure of
// releases waiting behind a gate whose requests Prometheus counts.
const exposurePromInterval = 10 * time.Second

// maxPendingPeople bounds the beacons a replica holds between two
// batches; beyond it beacons are refused (the gate then waits longer,
// it is never fooled).
const maxPendingPeople = 100_000

type exposureKey struct {
	service, env string
	release      int64
}

// exposureService counts use for the exposure gate (issue 18): on every
// replica, its routers' requests and the banner beacons it receives,
// written in batches; on the leader, the Prometheus sources.
type exposureService struct {
	e *Engine

	mu       sync.Mutex
	requests map[exposureKey]int64
	people   map[exposureKey]map[string]struct{}
	npeople  int
	lastProm time.Time
	// soon wakes a resting flush loop when a beacon is counted.
	soon chan struct{}

	keyMu sync.Mutex
	key   []byte
}

func newExposureService(e *Engine) *exposureService {
	return &exposureService{e: e, requests: map[exposureKey]int64{}, people: map[exposureKey]map[string]struct{}{},
		soon: make(chan struct{}, 1)}
}

// ExposureSpec is the pipeline's view of an environment's exposure gate.
func ExposureSpec(x *config.Exposure) *pipeline.Exposure {
	if x == nil {
		return nil
	}
	out := &pipeline.Exposure{Requests: x.Requests, People: x.People, MaxWait: x.MaxWait,
		Promote: x.AfterMaxWait == config.AfterMaxWaitPromote, Source: store.ExposureRouter}
	if x.Prometheus != nil {
		out.Source = store.ExposurePrometheus
	}
	return out
}

// peopleCounted reports whether use of env is counted in people for the
// gate of the environment above it, and how many that gate asks for.
func peopleCounted(svc *config.Service, env string) (int, bool) {
	_, i, ok := svc.Environment(env)
	if !ok || i+1 >= len(svc.Environments) {
		return 0, false
	}
	x := svc.Environments[i+1].Exposure
	if x == nil || x.People <= 0 {
		return 0, false
	}
	return x.People, true
}

// ErrNoPeopleGate says a beacon was sent for an environment whose use no
// exposure gate counts in people.
var ErrNoPeopleGate = errors.New("no exposure gate counts people here")

// ErrTooManyBeacons says the beacons waiting for the next batch are at
// their bound; the beacon is refused, never counted unchecked.
var ErrTooManyBeacons = errors.New("too many beacons waiting to be written")

// Beacon takes one banner beacon: person (a random per-browser id) used
// release releaseID of service in env. It is held in memory and written
// with the next batch; the same person twice is one person.
func (e *Engine) Beacon(ctx context.Context, service, env string, releaseID int64, person string) error {
	svc, ok := e.Config().Service(service)
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownService, service)
	}
	if _, _, ok := svc.Environment(env); !ok {
		return fmt.Errorf("%w: %s has no environment %q", ErrUnknownEnvironment, service, env)
	}
	if _, ok := peopleCounted(svc, env); !ok {
		return fmt.Errorf("%w: the environment after %s/%s has no exposure.people", ErrNoPeopleGate, service, env)
	}
	x := e.exposure
	x.mu.Lock()
	defer x.mu.Unlock()
	k := exposureKey{service, env, releaseID}
	set := x.people[k]
	if set == nil {
		set = map[string]struct{}{}
		x.people[k] = set
	}
	if _, seen := set[person]; seen {
		return nil
	}
	if x.npeople >= maxPendingPeople {
		return fmt.Errorf("%w; try again in a second", ErrTooManyBeacons)
	}
	set[person] = struct{}{}
	x.npeople++
	select {
	case x.soon <- struct{}{}:
	default:
	}
	return nil
}

// BeaconKey is the key banner beacon tickets are signed with: one random
// key stored once and shared by every replica.
func (e *Engine) BeaconKey(ctx context.Context) ([]byte, error) {
	x := e.exposure
	x.keyMu.Lock()
	defer x.keyMu.Unlock()
	if x.key != nil {
		return x.key, nil
	}
	candidate := make([]byte, 32)
	if _, err := rand.Read(candidate); err != nil {
		return nil, fmt.Errorf("error making a beacon key: %w", err)
	}
	var key []byte
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		key, err = tx.BeaconKey(ctx, candidate, e.clock.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	x.key = key
	return key, nil
}

// deployed names the version a one-upstream router serves as soon as its
// deployment succeeded in this process, so that its first requests count
// for it (other replicas' routers learn it at their next batch, within
// ExposureFlushInterval).
func (x *exposureService) deployed(service, env, version string) {
	svc, ok := x.e.Config().Service(service)
	if !ok {
		return
	}
	if en, _, ok := svc.Environment(env); !ok || en.Router == nil {
		return
	}
	if r := x.e.routerFor(service, env); r != nil {
		r.SetVersion(version)
	}
}

// run flushes every ExposureFlushInterval until ctx ends, and once more
// at the end. Without a built-in router in this process there is nothing
// to count but beacons, and a beacon wakes it: it then looks every
// dutyRest (for Prometheus-counted exposure, read every
// exposurePromInterval), not every second.
func (x *exposureService) run(ctx context.Context) {
	timer := time.NewTimer(ExposureFlushInterval)
	defer timer.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			x.flush(context.WithoutCancel(ctx))
			return
		case <-x.soon:
			// Within ExposureFlushInterval of the last flush, as when it
			// flushes every second.
			if wait := time.Until(last.Add(ExposureFlushInterval)); wait > 0 {
				timer.Reset(wait)
				continue
			}
		case <-timer.C:
		}
		x.flush(ctx)
		if x.e.IsLeader() && x.e.clock.Now().Sub(x.lastProm) >= exposurePromInterval {
			x.lastProm = x.e.clock.Now()
			x.readPrometheus(ctx)
		}
		last = time.Now()
		wait := ExposureFlushInterval
		if !x.e.hasRouters() {
			wait = dutyRest
		}
		timer.Reset(wait)
	}
}

// takeRouters names each one-upstream router's version (the environment's
// current release) and takes what the routers counted.
func (x *exposureService) takeRouters(ctx context.Context) {
	e := x.e
	for _, svc := range e.Config().Services {
		for i, env := range svc.Environments {
			if env.Router == nil || i+1 >= len(svc.Environments) {
				continue
			}
			r := e.routerFor(svc.Name, env.Name)
			if r == nil {
				continue
			}
			deps, err := e.store.DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Environment: env.Name,
				States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
			if err != nil {
				e.log.Warn("error reading what a router serves", "service", svc.Name, "environment", env.Name, "error", err)
				continue
			}
			version := ""
			if len(deps) > 0 {
				version = deps[0].Version
			}
			r.SetVersion(version)
			for v, n := range r.TakeAnswered() {
				rel, err := e.store.ReleaseGet(ctx, svc.Name, v)
				if err != nil {
					e.log.Warn("requests of an unknown release not counted", "service", svc.Name, "environment", env.Name, "version", v, "error", err)
					continue
				}
				x.mu.Lock()
				x.requests[exposureKey{svc.Name, env.Name, rel.ID}] += n
				x.mu.Unlock()
			}
		}
	}
}

// flush writes the batch: one unit of work per service, which also takes
// the service's decision again (a gate the batch completes promotes).
func (x *exposureService) flush(ctx context.Context) {
	x.takeRouters(ctx)
	x.mu.Lock()
	reqs, people := x.requests, x.people
	x.requests, x.people, x.npeople = map[exposureKey]int64{}, map[exposureKey]map[string]struct{}{}, 0
	x.mu.Unlock()
	byService := map[string][]store.ExposureAddParams{}
	at := x.e.clock.Now()
	keys := map[exposureKey]bool{}
	for k := range reqs {
		keys[k] = true
	}
	for k := range people {
		keys[k] = true
	}
	for k := range keys {
		p := store.ExposureAddParams{Service: k.service, Environment: k.env, ReleaseID: k.release, Requests: reqs[k], At: at}
		for id := range people[k] {
			p.People = append(p.People, id)
		}
		sort.Strings(p.People)
		byService[k.service] = append(byService[k.service], p)
	}
	for service, adds := range byService {
		err := x.e.mutate(ctx, service, func(u *unit) error {
			for i := range adds {
				if err := u.tx.ExposureAdd(u.ctx, &adds[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			// Put the batch back for the next flush: use is not lost to
			// a failed write.
			x.e.log.Warn("error writing exposure; retrying with the next batch", "service", service, "error", err)
			x.mu.Lock()
			for _, a := range adds {
				k := exposureKey{a.Service, a.Environment, a.ReleaseID}
				x.requests[k] += a.Requests
				for _, id := range a.People {
					if x.people[k] == nil {
						x.people[k] = map[string]struct{}{}
					}
					x.people[k][id] = struct{}{}
					x.npeople++
				}
			}
			x.mu.Unlock()
		}
	}
}

// readPrometheus reads, for every gate whose requests Prometheus counts,
// the requests each release waiting behind it answered below. A query
// that fails or returns no data writes nothing: missing data is not
// exposure (rule 9).
func (x *exposureService) readPrometheus(ctx context.Context) {
	e := x.e
	for _, svc := range e.Config().Services {
		var sets []store.ExposureSetParams
		for i, env := range svc.Environments {
			if i == 0 || env.Exposure == nil || env.Exposure.Prometheus == nil {
				continue
			}
			st, err := e.stateOf(ctx, e.store, &svc)
			if err != nil {
				e.log.Warn("error loading state for exposure", "service", svc.Name, "error", err)
				continue
			}
			lower := svc.Environments[i-1].Name
			for _, q := range pipeline.Queue(st, i, e.clock.Now()) {
				if !q.State.Waiting() {
					continue
				}
				n, ok := x.promRequests(ctx, svc.Name, lower, env.Exposure.Prometheus, q.Release.Version)
				if ok {
					sets = append(sets, store.ExposureSetParams{Service: svc.Name, Environment: lower, ReleaseID: q.Release.ID, Requests: n, At: e.clock.Now()})
				}
			}
		}
		if len(sets) == 0 {
			continue
		}
		if err := e.mutate(ctx, svc.Name, func(u *unit) error {
			for i := range sets {
				if err := u.tx.ExposureSet(u.ctx, &sets[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			e.log.Warn("error writing exposure read from Prometheus", "service", svc.Name, "error", err)
		}
	}
}

func (x *exposureService) promRequests(ctx context.Context, service, env string, p *config.ExposurePrometheus, version string) (int64, bool) {
	query := strings.ReplaceAll(p.Query, config.VersionPlaceholder, version)
	// A count is never negative: min 0 is the bound a check needs, and a
	// negative value (a broken query) is failing, not counted.
	zero := 0.0
	c, err := check.New(check.Spec{Name: "exposure", Timeout: 5 * time.Second, Prometheus: &check.PrometheusSpec{URL: p.URL, Query: query, Min: &zero}})
	if err != nil {
		x.e.log.Warn("exposure query not run", "service", service, "environment", env, "error", err)
		return 0, false
	}
	res := c.Check(ctx)
	if res.Outcome != check.Healthy || res.Value == nil || math.IsNaN(*res.Value) || *res.Value < 0 {
		x.e.log.Warn("no exposure from Prometheus: not counted", "service", service, "environment", env, "version", version, "reason", res.Reason)
		return 0, false
	}
	return int64(math.Round(*res.Value)), true
}
