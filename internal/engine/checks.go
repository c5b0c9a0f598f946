package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// defaultCheckInterval is how often a check without an interval runs.
const defaultCheckInterval = 30 * time.Second

type checkKey struct{ service, env, name string }

// checkService runs bake checks on the leader: the checks of an
// environment run while releases wait to enter it (they watch the
// environment below, where those releases bake). A check never overlaps
// itself; when each is next due is reckoned on the engine's clock.
type checkService struct {
	duty
	e *Engine

	mu      sync.Mutex
	next    map[checkKey]time.Time // when each check is due again
	running map[checkKey]bool
	// idle: until when runOnce leaves a service alone (nothing waited
	// behind its checked environments when last looked).
	idle map[string]time.Time
}

func newCheckService(e *Engine) *checkService {
	s := &checkService{e: e, next: map[checkKey]time.Time{}, running: map[checkKey]bool{}, idle: map[string]time.Time{}}
	s.duty = newDuty("checks", e.IsLeader, s.runOnce)
	return s
}

// wake makes runOnce look at service again at its next pass (the service
// changed in this process).
func (s *checkService) wake(service string) {
	s.mu.Lock()
	delete(s.idle, service)
	s.mu.Unlock()
}

// runOnce starts every check that is due now.
func (s *checkService) runOnce(ctx context.Context) {
	e := s.e
	now := e.clock.Now()
	inHand := false
	defer func() {
		s.mu.Lock()
		running := len(s.running)
		s.mu.Unlock()
		if !inHand && running == 0 {
			s.rest() // a change to a service nudges the checks
		}
	}()
	for si := range e.Config().Services {
		svc := &e.Config().Services[si]
		s.mu.Lock()
		idle := now.Before(s.idle[svc.Name])
		s.mu.Unlock()
		if idle {
			continue
		}
		var d *pipeline.Decision
		waiting := false
		for i, env := range svc.Environments {
			if len(env.Checks) == 0 || !s.anyDue(svc.Name, env, now) {
				continue
			}
			if d == nil {
				st, err := e.stateOf(ctx, e.store, svc)
				if err != nil {
					e.log.Error("error loading state for checks", "service", svc.Name, "error", err)
					break
				}
				dd := pipeline.Decide(st, now)
				d = &dd
			}
			if len(d.Environments[i].Queue) == 0 {
				continue
			}
			waiting, inHand = true, true
			for _, spec := range env.Checks {
				key := checkKey{svc.Name, env.Name, spec.Name}
				s.mu.Lock()
				due := !s.running[key] && !now.Before(s.next[key])
				if due {
					interval := spec.Interval
					if interval <= 0 {
						interval = defaultCheckInterval
					}
					s.running[key] = true
					s.next[key] = now.Add(interval)
				}
				s.mu.Unlock()
				if !due {
					continue
				}
				service, env, spec := svc.Name, env.Name, spec
				s.goWork(func() {
					defer func() {
						s.mu.Lock()
						delete(s.running, key)
						s.mu.Unlock()
					}()
					if _, err := e.runCheck(ctx, service, env, spec); err != nil && ctx.Err() == nil {
						e.log.Error("check failed to run", "service", service, "environment", env, "check", spec.Name, "error", err)
					}
				})
			}
		}
		if d != nil && !waiting {
			// Nothing waits behind a checked environment: look again after
			// the next change to the service (wake), or in checksIdleFor
			// (changes made by other replicas).
			s.mu.Lock()
			s.idle[svc.Name] = now.Add(checksIdleFor)
			s.mu.Unlock()
		}
	}
}

// checksIdleFor is how long the leader goes without reading a service's
// state for its checks once nothing waits to enter a checked environment,
// unless the service changes in this process first.
const checksIdleFor = 5 * time.Second

// anyDue reports whether a check of env is due at now; the stored state is
// read only then, not every second.
func (s *checkService) anyDue(service string, env config.Environment, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, spec := range env.Checks {
		key := checkKey{service, env.Name, spec.Name}
		if !s.running[key] && !now.Before(s.next[key]) {
			return true
		}
	}
	return false
}

// CheckNow runs every check of service/env once, now, and records the
// results; the leader does the same on each check's interval.
func (e *Engine) CheckNow(ctx context.Context, service, env string) ([]pipeline.CheckResult, error) {
	svc, i, err := e.environment(service, env)
	if err != nil {
		return nil, err
	}
	var out []pipeline.CheckResult
	for _, spec := range svc.Environments[i].Checks {
		r, err := e.runCheck(ctx, svc.Name, env, spec)
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// newChecker makes the checker of spec; a command check's output is
// masked like a deploy command's.
func (e *Engine) newChecker(spec check.Spec) (check.Checker, error) {
	if spec.Command != nil {
		cmd := *spec.Command
		cmd.Mask = e.masker
		spec.Command = &cmd
	}
	return check.New(spec)
}

// runCheck evaluates one check and records the result with what it means:
// a failing check marks the release running below failed-bake and locks
// promotion into env with the check's name, value and bound as the reason
// (rule 8); the decision is taken again in the same transaction.
func (e *Engine) runCheck(ctx context.Context, service, env string, spec check.Spec) (pipeline.CheckResult, error) {
	checker, err := e.newChecker(spec)
	if err != nil {
		return pipeline.CheckResult{}, err
	}
	ranOn := e.bisectBelow(ctx, service, env)
	res := checker.Check(ctx)
	reason := e.forViewers("check result", res.Reason, "service", service, "environment", env, "check", spec.Name)
	r := pipeline.CheckResult{Environment: env, Name: spec.Name, Outcome: string(res.Outcome), Value: res.Value, Reason: reason,
		At: e.clock.Now()}
	svc, i, err := e.environment(service, env)
	if err != nil {
		return r, err
	}
	err = e.mutate(ctx, service, func(u *unit) error {
		tx, now := u.tx, u.now
		st, err := e.stateOf(ctx, tx, svc)
		if err != nil {
			return err
		}
		d := pipeline.Decide(st, now)
		var below *pipeline.Release
		if i > 0 {
			below = d.Environments[i-1].Current
			if why := bisectUnsure(st, d, i-1, ranOn); why != "" {
				// What the check measured is not the release it would be
				// recorded against: leave it out (the check runs again).
				e.log.Info("check result left out", "service", service, "environment", env, "check", spec.Name, "why", why)
				u.noDecision()
				return nil
			}
		}
		if below != nil {
			r.ReleaseID = below.ID
		}
		previous := ""
		for _, p := range st.Checks {
			if p.Environment == env && p.Name == spec.Name {
				previous = p.Outcome
			}
		}
		if err := tx.CheckResultInsert(ctx, service, &r); err != nil {
			return err
		}
		return e.recordCheck(ctx, tx, svc, env, below, r, previous, now)
	})
	if err != nil {
		return r, fmt.Errorf("error recording check %s of %s/%s: %w", spec.Name, service, env, err)
	}
	return r, nil
}

func (e *Engine) recordCheck(ctx context.Context, tx store.Tx, svc *config.Service, env string, below *pipeline.Release,
	r pipeline.CheckResult, previous string, now time.Time) error {
	version := ""
	if below != nil {
		version = below.Version
	}
	data := map[string]any{"check": r.Name}
	if r.Value != nil {
		data["value"] = *r.Value
	}
	if r.Outcome != pipeline.CheckFailing {
		if r.Outcome == previous {
			return nil
		}
		typ := pipeline.EventCheckHealthy
		if r.Outcome == pipeline.CheckInconclusive {
			typ = pipeline.EventCheckInconclusive
		}
		_, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: typ, Service: svc.Name, Environment: env, Version: version,
			Actor: pipeline.ActorSystem, Reason: r.Reason, Data: data})
		return err
	}
	e.log.Warn("check failed", "service", svc.Name, "environment", env, "check", r.Name, "version", version, "reason", r.Reason)
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCheckFailed, Service: svc.Name, Environment: env, Version: version,
		Actor: pipeline.ActorSystem, Reason: r.Reason, Data: data}); err != nil {
		return err
	}
	if below != nil {
		if err := tx.MarkInsert(ctx, &store.MarkInsertParams{ReleaseID: below.ID, Environment: env, Kind: pipeline.MarkFailedBake,
			Actor: pipeline.ActorSystem, Reason: r.Reason, CreatedAt: now}); err != nil {
			return err
		}
	}
	if err := e.lockUnlessHeld(ctx, tx, svc.Name, env, pipeline.ActorSystem, "check "+r.Reason, map[string]any{"check": r.Name}, now); err != nil {
		return err
	}
	return e.findCulprit(ctx, tx, svc, env, below, r.Name, now)
}
