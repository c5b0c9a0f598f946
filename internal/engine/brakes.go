package engine

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

func requireReason(what, reason string) error {
	if strings.TrimSpace(reason) == "" {
		return fmt.Errorf("%w: %s needs a reason: say why (--reason in the CLI, \"reason\" in the API); it goes on the record", ErrInvalid, what)
	}
	return validText("reason", reason, maxReason)
}

// environment looks up service/env in the configuration.
func (e *Engine) environment(service, env string) (*config.Service, int, error) {
	svc, err := e.Service(service)
	if err != nil {
		return nil, 0, err
	}
	_, i, ok := svc.Environment(env)
	if !ok {
		names := make([]string, len(svc.Environments))
		for k, en := range svc.Environments {
			names[k] = en.Name
		}
		return nil, 0, fmt.Errorf("%w %q: %s has %s", ErrUnknownEnvironment, env, svc.Name, strings.Join(names, ", "))
	}
	return svc, i, nil
}

// servicesWith lists the configured services that have env, sorted (the
// order in which their locks are taken, so two such commands never
// deadlock).
func (e *Engine) servicesWith(env string) []*config.Service {
	var out []*config.Service
	cfg := e.Config()
	for i := range cfg.Services {
		if _, _, ok := cfg.Services[i].Environment(env); ok {
			out = append(out, &cfg.Services[i])
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out
}

// LockParams is a lock to place.
type LockParams struct {
	Service string // a service, or pipeline.AllServices; "" with Selector
	// Selector, instead of Service, locks every service whose labels match
	// it at decision time (team=payments,tier=1): one lock record.
	Selector    string
	Environment string
	Reason      string
	Expires     time.Duration // 0: until unlocked
}

// Lock brakes automatic promotions into an environment. When it returns,
// the lock holds (rule 3): it was written in a unit of work (mutateAll)
// that held the service lock of every service concerned, the same lock
// every promotion decision takes (promotions start only inside a unit of
// work, see unit.go), so no promotion decided before can still be about to
// start, and every later decision sees the lock. A selector lock concerns
// the services whose labels match it now; a service that matches only
// after a reload decides after the lock was written, and so sees it.
func (e *Engine) Lock(ctx context.Context, actor string, p LockParams) (pipeline.Lock, error) {
	if err := requireReason("a lock", p.Reason); err != nil {
		return pipeline.Lock{}, err
	}
	if p.Expires < 0 {
		return pipeline.Lock{}, fmt.Errorf("%w: expiry %s is negative; give a duration such as 2h, or none to hold until unlocked", ErrInvalid, p.Expires)
	}
	sel, err := lockSelector(p.Service, p.Selector)
	if err != nil {
		return pipeline.Lock{}, err
	}
	services, err := e.lockScope(p.Service, sel, p.Environment)
	if err != nil {
		return pipeline.Lock{}, err
	}
	var l pipeline.Lock
	// The lock is written, and every service it concerns decided again
	// (which arms the wake-up at the lock's expiry, if any), in one unit
	// of work that holds their service locks.
	err = e.mutateAll(ctx, serviceNamesOf(services), func(u *unit) error {
		tx, now := u.tx, u.now
		if err := e.expireLocks(ctx, tx, p.Service, now); err != nil {
			return err
		}
		held, err := tx.LockList(ctx, &store.LockListParams{Environment: p.Environment})
		if err != nil {
			return err
		}
		for _, h := range held {
			if h.Service == p.Service && h.Selector == sel {
				return fmt.Errorf("%w: %s is locked already by %s since %s: %s", ErrConflict, lockScopeName(p.Service, sel, p.Environment),
					h.Actor, h.CreatedAt.UTC().Format(time.RFC3339), h.Reason)
			}
		}
		ins := &store.LockInsertParams{Service: p.Service, Selector: sel, Environment: p.Environment, Actor: actor, Reason: p.Reason, CreatedAt: now}
		if p.Expires > 0 {
			ins.ExpiresAt = now.Add(p.Expires)
		}
		if l, err = tx.LockInsert(ctx, ins); err != nil {
			return err
		}
		data := map[string]any{"lock_id": l.ID}
		if !l.ExpiresAt.IsZero() {
			data["expires_at"] = l.ExpiresAt.UTC().Format(time.RFC3339Nano)
		}
		if sel != "" {
			data["selector"] = sel
			data["matching"] = len(services)
		}
		return u.event(&pipeline.Event{Type: pipeline.EventLockPlaced, Service: eventService(l), Environment: p.Environment,
			Actor: actor, Reason: p.Reason, Data: data})
	})
	if err != nil {
		return pipeline.Lock{}, err
	}
	e.log.Info("locked", "service", p.Service, "selector", sel, "environment", p.Environment, "actor", actor, "reason", p.Reason)
	return l, nil
}

// lockSelector checks that a lock names a service or a selector, not
// both, and returns the selector in canonical form ("" for none).
func lockSelector(service, selector string) (string, error) {
	if selector == "" {
		return "", nil
	}
	if service != "" {
		return "", fmt.Errorf("%w: give a service or a selector, not both (service %q, selector %q)", ErrInvalid, service, selector)
	}
	sel, err := config.ParseSelector(selector)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return sel.String(), nil
}

// eventService is the Service of a lock's events: a selector lock's
// events are about more than one service, as those of the lock on every
// service are (Data["selector"] names which).
func eventService(l pipeline.Lock) string {
	if l.Selector != "" {
		return pipeline.AllServices
	}
	return l.Service
}

func scopeName(service, env string) string {
	return lockScopeName(service, "", env)
}

func lockScopeName(service, selector, env string) string {
	switch {
	case selector != "":
		return selector + "/" + env
	case service == pipeline.AllServices:
		return "every service's " + env
	}
	return service + "/" + env
}

// MatchingServices lists the configured services that have env and whose
// labels match selector now, sorted.
func (e *Engine) MatchingServices(selector, env string) ([]string, error) {
	sel, err := lockSelector("", selector)
	if err != nil {
		return nil, err
	}
	return serviceNamesOf(e.matching(sel, env)), nil
}

// matching is the services with env whose labels match sel (canonical)
// now, sorted (the order their locks are taken in).
func (e *Engine) matching(sel, env string) []*config.Service {
	var out []*config.Service
	for _, svc := range e.servicesWith(env) {
		if pipeline.SelectorMatches(sel, svc.Labels) {
			out = append(out, svc)
		}
	}
	return out
}

// lockScope is the services a lock on service/env (or on selector/env)
// concerns now. A selector may match none: the lock still holds for
// services that match after a reload.
func (e *Engine) lockScope(service, sel, env string) ([]*config.Service, error) {
	if sel != "" {
		if len(e.servicesWith(env)) == 0 {
			return nil, fmt.Errorf("%w %q: no service has it", ErrUnknownEnvironment, env)
		}
		return e.matching(sel, env), nil
	}
	if service != pipeline.AllServices {
		svc, _, err := e.environment(service, env)
		if err != nil {
			return nil, err
		}
		return []*config.Service{svc}, nil
	}
	services := e.servicesWith(env)
	if len(services) == 0 {
		return nil, fmt.Errorf("%w %q: no service has it", ErrUnknownEnvironment, env)
	}
	return services, nil
}

// Unlock releases the lock on service/env (or on every service's env) and
// lets promotions that were held go at once.
func (e *Engine) Unlock(ctx context.Context, actor, service, env, reason string) (pipeline.Lock, error) {
	return e.unlock(ctx, actor, service, "", env, reason)
}

// UnlockSelector releases the selector lock on env; selector is
// canonicalised first, so key order and spaces do not matter.
func (e *Engine) UnlockSelector(ctx context.Context, actor, selector, env, reason string) (pipeline.Lock, error) {
	if selector == "" {
		return pipeline.Lock{}, fmt.Errorf("%w: the selector is empty: give key=value pairs joined by commas, such as team=payments", ErrInvalid)
	}
	return e.unlock(ctx, actor, "", selector, env, reason)
}

func (e *Engine) unlock(ctx context.Context, actor, service, selector, env, reason string) (pipeline.Lock, error) {
	if err := validText("reason", reason, maxReason); err != nil {
		return pipeline.Lock{}, err
	}
	sel, err := lockSelector(service, selector)
	if err != nil {
		return pipeline.Lock{}, err
	}
	services, err := e.lockScope(service, sel, env)
	if err != nil {
		return pipeline.Lock{}, err
	}
	var released pipeline.Lock
	err = e.mutateAll(ctx, serviceNamesOf(services), func(u *unit) error {
		tx, now := u.tx, u.now
		held, err := tx.LockList(ctx, &store.LockListParams{Environment: env})
		if err != nil {
			return err
		}
		found := false
		for _, h := range held {
			if h.Service == service && h.Selector == sel {
				released, found = h, true
			}
		}
		if !found {
			return fmt.Errorf("%w: %s is not locked%s", ErrNotFound, lockScopeName(service, sel, env), unlockHint(held, service, sel, env, services, now))
		}
		if err := tx.LockRelease(ctx, &store.LockReleaseParams{ID: released.ID, By: actor, Reason: reason, At: now}); err != nil {
			return err
		}
		data := map[string]any{"lock_id": released.ID, "held_for": now.Sub(released.CreatedAt).Round(time.Second).String(),
			"locked_by": released.Actor, "lock_reason": released.Reason}
		if sel != "" {
			data["selector"] = sel
			data["matching"] = len(services)
		}
		return u.event(&pipeline.Event{Type: pipeline.EventLockReleased, Service: eventService(released), Environment: env,
			Actor: actor, Reason: reason, Data: data})
	})
	if err != nil {
		return pipeline.Lock{}, err
	}
	e.log.Info("unlocked", "service", service, "selector", sel, "environment", env, "actor", actor)
	return released, nil
}

// unlockHint names the locks that hold what a person tried to unlock when
// its own lock is not there: the lock on every service, a selector lock
// that matches the service, or (for a selector) the selector locks held.
func unlockHint(held []pipeline.Lock, service, sel, env string, services []*config.Service, now time.Time) string {
	var hints []string
	switch {
	case sel != "":
		for _, h := range held {
			if h.Selector != "" && h.ActiveAt(now) {
				hints = append(hints, h.Selector)
			}
		}
		if len(hints) > 0 {
			return fmt.Sprintf("; the selector locks held on %s are %s", env, strings.Join(hints, "; "))
		}
		return ""
	case service != pipeline.AllServices:
		for _, h := range held {
			switch {
			case h.Service == pipeline.AllServices:
				hints = append(hints, fmt.Sprintf("the lock on every service's %s holds it (bakery unlock --all %s)", env, env))
			case h.Selector != "" && len(services) == 1 && pipeline.SelectorMatches(h.Selector, services[0].Labels):
				hints = append(hints, fmt.Sprintf("the selector lock %s/%s by %s holds it (bakery unlock --selector %s %s)",
					h.Selector, env, h.Actor, h.Selector, env))
			}
		}
	}
	if len(hints) == 0 {
		return ""
	}
	return "; " + strings.Join(hints, "; ")
}

// expireLocks releases the locks of service (and of every service) whose
// expiry has passed, on the record.
func (e *Engine) expireLocks(ctx context.Context, tx store.Tx, service string, now time.Time) error {
	p := &store.LockListParams{}
	if service != pipeline.AllServices {
		p.Service = service
	}
	held, err := tx.LockList(ctx, p)
	if err != nil {
		return err
	}
	for _, l := range held {
		if l.ActiveAt(now) {
			continue
		}
		if err := tx.LockRelease(ctx, &store.LockReleaseParams{ID: l.ID, By: pipeline.ActorSystem, Reason: "expired", At: l.ExpiresAt}); err != nil {
			return err
		}
		data := map[string]any{"lock_id": l.ID}
		if l.Selector != "" {
			data["selector"] = l.Selector
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventLockExpired, Service: eventService(l), Environment: l.Environment,
			Actor: pipeline.ActorSystem, Reason: fmt.Sprintf("the lock %s placed at %s expired at %s (%s)", l.Actor,
				l.CreatedAt.UTC().Format(time.RFC3339), l.ExpiresAt.UTC().Format(time.RFC3339), l.Reason),
			Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// SkipBake ends the bake of the newest release waiting to enter env now
// (rule 5). Locks, the window and checks still apply.
func (e *Engine) SkipBake(ctx context.Context, actor, service, env, reason string) (pipeline.Release, error) {
	return e.skipBake(ctx, actor, service, env, reason, "")
}

func (e *Engine) skipBake(ctx context.Context, actor, service, env, reason, selector string) (pipeline.Release, error) {
	if err := requireReason("skipping a bake", reason); err != nil {
		return pipeline.Release{}, err
	}
	svc, i, err := e.environment(service, env)
	if err != nil {
		return pipeline.Release{}, err
	}
	if i == 0 {
		return pipeline.Release{}, fmt.Errorf("%w: %s is %s's first environment and has no bake; skip the bake of a later one", ErrInvalid, env, svc.Name)
	}
	var rel pipeline.Release
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		st, err := e.stateOf(ctx, tx, svc)
		if err != nil {
			return err
		}
		queue := pipeline.Decide(st, now).Environments[i].Queue
		if len(queue) == 0 {
			return fmt.Errorf("%w: no release is waiting to enter %s/%s, so there is no bake to skip", ErrConflict, svc.Name, env)
		}
		rel = queue[len(queue)-1]
		if err := tx.MarkInsert(ctx, &store.MarkInsertParams{ReleaseID: rel.ID, Environment: env, Kind: pipeline.MarkBakeSkipped,
			Actor: actor, Reason: reason, CreatedAt: now}); err != nil {
			return err
		}
		ev := &pipeline.Event{Type: pipeline.EventBakeSkipped, Service: svc.Name, Environment: env,
			Version: rel.Version, Actor: actor, Reason: reason}
		if selector != "" {
			ev.Data = map[string]any{"selector": selector}
		}
		return u.event(ev)
	})
	if err != nil {
		return pipeline.Release{}, err
	}
	e.log.Info("bake skipped", "service", svc.Name, "environment", env, "version", rel.Version, "actor", actor, "reason", reason)
	return rel, nil
}

// SkipOutcome is what skipping the bake by selector did to one matching
// service: Release is the release whose bake ended, or Why says why
// nothing was skipped there.
type SkipOutcome struct {
	Service string
	Skipped bool
	Release pipeline.Release
	Why     string
}

// SkipBakeSelector ends the bake of the newest release waiting to enter
// env of every service whose labels match selector, each in its own unit
// of work (rule 5 for each). Services with nothing waiting are reported,
// not errors; a selector that matches no service, or a skip that ends no
// bake at all, is an error.
func (e *Engine) SkipBakeSelector(ctx context.Context, actor, selector, env, reason string) ([]SkipOutcome, error) {
	if err := requireReason("skipping a bake", reason); err != nil {
		return nil, err
	}
	if selector == "" {
		return nil, fmt.Errorf("%w: the selector is empty: give key=value pairs joined by commas, such as team=payments", ErrInvalid)
	}
	sel, err := lockSelector("", selector)
	if err != nil {
		return nil, err
	}
	if len(e.servicesWith(env)) == 0 {
		return nil, fmt.Errorf("%w %q: no service has it", ErrUnknownEnvironment, env)
	}
	services := e.matching(sel, env)
	if len(services) == 0 {
		return nil, fmt.Errorf("%w: selector %s matches no service with %s; see which labels services have with bakery status --selector", ErrNotFound, sel, env)
	}
	var out []SkipOutcome
	skipped := 0
	for _, svc := range services {
		rel, err := e.skipBake(ctx, actor, svc.Name, env, reason, sel)
		switch {
		case err == nil:
			out = append(out, SkipOutcome{Service: svc.Name, Skipped: true, Release: rel})
			skipped++
		case errors.Is(err, ErrConflict), errors.Is(err, ErrInvalid):
			out = append(out, SkipOutcome{Service: svc.Name, Why: err.Error()})
		default:
			return out, fmt.Errorf("error skipping the bake of %s into %s (%d of %d matching services done): %w", svc.Name, env, len(out), len(services), err)
		}
	}
	if skipped == 0 {
		return out, fmt.Errorf("%w: selector %s matches %d service(s) with %s and none has a release waiting to enter it, so there is no bake to skip",
			ErrConflict, sel, len(services), env)
	}
	e.log.Info("bakes skipped by selector", "selector", sel, "environment", env, "skipped", skipped, "matching", len(services), "actor", actor)
	return out, nil
}

// cancelActive cancels the deployment in progress in env, if any: its
// worker notices at its next heartbeat and stops the command.
func (e *Engine) cancelActive(ctx context.Context, tx store.Tx, service, env, actor, why string, now time.Time) error {
	active, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: service, Environment: env,
		States: []pipeline.DeploymentState{pipeline.DeploymentPending, pipeline.DeploymentRunning}})
	if err != nil {
		return err
	}
	for _, d := range active {
		msg := "cancelled: " + why
		if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: d.ID, Attempt: d.Attempt,
			FromStates: []pipeline.DeploymentState{d.State}, State: pipeline.DeploymentCancelled, FinishedAt: now, Error: &msg}); err != nil {
			return err
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventDeploymentCancels, Service: service, Environment: env,
			Version: d.Version, Actor: actor, Reason: why, DeploymentID: d.ID}); err != nil {
			return err
		}
		// A canary of the deployment ends with it: weight 0.
		c, err := tx.CanaryGetByDeployment(ctx, d.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !c.State.IsTerminal() {
			if _, err := e.endCanary(ctx, tx, c, pipeline.CanaryCancelled, "cancelled: "+why, now); err != nil {
				return err
			}
			e.syncRoutersSoon()
		}
	}
	return nil
}

// currentIn is the release env runs and the succeeded deployments that
// put releases there, newest first.
func currentIn(ctx context.Context, tx store.Tx, service, env string) ([]pipeline.Deployment, error) {
	return tx.DeploymentList(ctx, &store.DeploymentListParams{Service: service, Environment: env,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1000})
}

// manualDeploy writes a deployment a person asked for, its event and its
// job.
func (e *Engine) manualDeploy(ctx context.Context, tx store.Tx, kind, eventType string, svc *config.Service, env string,
	rel pipeline.Release, from, actor, reason string, now time.Time) (pipeline.Deployment, error) {
	dep, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: svc.Name, Environment: env, ReleaseID: rel.ID,
		Kind: kind, Actor: actor, Reason: reason, CreatedAt: now})
	if err != nil {
		return dep, err
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: eventType, Service: svc.Name, Environment: env,
		Version: rel.Version, FromVersion: from, ToVersion: rel.Version, Actor: actor, Reason: reason, DeploymentID: dep.ID}); err != nil {
		return dep, err
	}
	return dep, tx.JobInsert(ctx, deployJob(dep.ID, dep.Attempt))
}

// EmergencyParams is a break-glass deploy.
type EmergencyParams struct {
	Service  string
	Version  string
	Artifact string // creates the release if it does not exist
	Message  string
	Author   string
	Reason   string
}

// Emergency deploys a release straight to the service's last environment,
// bypassing lower environments, bake, locks and windows, and then locks
// automatic promotion into that environment so that the next promotion
// cannot silently overwrite the fix (rule 6).
func (e *Engine) Emergency(ctx context.Context, actor string, p EmergencyParams) (pipeline.Deployment, error) {
	if err := requireReason("an emergency deploy", p.Reason); err != nil {
		return pipeline.Deployment{}, err
	}
	svc, err := e.Service(p.Service)
	if err != nil {
		return pipeline.Deployment{}, err
	}
	if err := validRelease(p.Version, p.Artifact, p.Message, p.Author); err != nil {
		return pipeline.Deployment{}, err
	}
	last := svc.Environments[len(svc.Environments)-1].Name
	var dep pipeline.Deployment
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		rel, err := tx.ReleaseGet(ctx, svc.Name, p.Version)
		if errors.Is(err, store.ErrNotFound) {
			if p.Artifact == "" {
				return fmt.Errorf("%w: %s has no release %s; pass --artifact (\"artifact\" in the API) to create it", ErrNotFound, svc.Name, p.Version)
			}
			rel, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: svc.Name, Version: p.Version, Artifact: p.Artifact,
				Message: p.Message, Author: p.Author, CreatedAt: now})
			if err != nil {
				return err
			}
			if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventReleaseCreated, Service: svc.Name,
				Version: rel.Version, Actor: actor, Reason: "for an emergency deploy: " + p.Reason,
				Data: map[string]any{"artifact": rel.Artifact, "message": rel.Message, "author": rel.Author}}); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		why := "emergency deploy of " + rel.Version
		if err := e.cancelActive(ctx, tx, svc.Name, last, actor, why, now); err != nil {
			return err
		}
		from := ""
		if cur, err := currentIn(ctx, tx, svc.Name, last); err != nil {
			return err
		} else if len(cur) > 0 {
			from = cur[0].Version
		}
		if dep, err = e.manualDeploy(ctx, tx, pipeline.KindEmergency, pipeline.EventEmergencyDecided, svc, last, rel, from, actor, p.Reason, now); err != nil {
			return err
		}
		return e.lockUnlessHeld(ctx, tx, svc.Name, last, actor, why, nil, now)
	})
	if err != nil {
		return pipeline.Deployment{}, err
	}
	e.log.Warn("emergency deploy", "service", svc.Name, "environment", last, "version", p.Version, "actor", actor, "reason", p.Reason)
	return dep, nil
}

// RollbackParams is a rollback.
type RollbackParams struct {
	Service     string
	Environment string
	To          string // a version; empty: the previous good release
	Reason      string
}

// Rollback redeploys the previous good release (or the named one) to an
// environment now and marks the release it replaces rejected: it is never
// promoted automatically again (rule 7).
func (e *Engine) Rollback(ctx context.Context, actor string, p RollbackParams) (pipeline.Deployment, pipeline.Release, error) {
	if err := requireReason("a rollback", p.Reason); err != nil {
		return pipeline.Deployment{}, pipeline.Release{}, err
	}
	if p.To != "" {
		if err := validVersion("to", p.To); err != nil {
			return pipeline.Deployment{}, pipeline.Release{}, err
		}
	}
	svc, _, err := e.environment(p.Service, p.Environment)
	if err != nil {
		return pipeline.Deployment{}, pipeline.Release{}, err
	}
	var dep pipeline.Deployment
	var rejected pipeline.Release
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		history, err := currentIn(ctx, tx, svc.Name, p.Environment)
		if err != nil {
			return err
		}
		if len(history) == 0 {
			return fmt.Errorf("%w: %s/%s runs nothing yet; there is nothing to roll back", ErrConflict, svc.Name, p.Environment)
		}
		cur := history[0]
		var target pipeline.Release
		if p.To != "" {
			if target, err = tx.ReleaseGet(ctx, svc.Name, p.To); errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%w: %s has no release %s", ErrNotFound, svc.Name, p.To)
			} else if err != nil {
				return err
			}
			if target.ID == cur.ReleaseID {
				return fmt.Errorf("%w: %s/%s runs %s already", ErrConflict, svc.Name, p.Environment, p.To)
			}
		} else {
			for _, d := range history[1:] {
				if d.ReleaseID == cur.ReleaseID {
					continue
				}
				r, err := tx.ReleaseGetByID(ctx, d.ReleaseID)
				if err != nil {
					return err
				}
				if !r.Rejected {
					target = r
					break
				}
			}
			if target.ID == 0 {
				return fmt.Errorf("%w: %s/%s ran no good release before %s; name one with --to VERSION", ErrConflict, svc.Name, p.Environment, cur.Version)
			}
		}
		if rejected, err = tx.ReleaseGetByID(ctx, cur.ReleaseID); err != nil {
			return err
		}
		if !rejected.Rejected {
			if err := tx.ReleaseReject(ctx, rejected.ID); err != nil {
				return err
			}
			rejected.Rejected = true
			if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventReleaseRejected, Service: svc.Name, Environment: p.Environment,
				Version: rejected.Version, Actor: actor, Reason: p.Reason}); err != nil {
				return err
			}
		}
		if err := e.cancelActive(ctx, tx, svc.Name, p.Environment, actor, "rollback to "+target.Version, now); err != nil {
			return err
		}
		dep, err = e.manualDeploy(ctx, tx, pipeline.KindRollback, pipeline.EventRollbackDecided, svc, p.Environment, target, cur.Version, actor, p.Reason, now)
		return err
	})
	if err != nil {
		return pipeline.Deployment{}, pipeline.Release{}, err
	}
	e.log.Warn("rollback", "service", svc.Name, "environment", p.Environment, "to", dep.Version, "rejected", rejected.Version, "actor", actor)
	return dep, rejected, nil
}

// lockUnlessHeld places a lock on service/env for an automatic brake
// (emergency deploy, failing check) unless the service's own lock already
// holds it; the lock and its event are written in tx.
func (e *Engine) lockUnlessHeld(ctx context.Context, tx store.Tx, service, env, actor, reason string, data map[string]any, now time.Time) error {
	held, err := tx.LockList(ctx, &store.LockListParams{Service: service, Environment: env})
	if err != nil {
		return err
	}
	for _, h := range held {
		if h.Service == service && h.ActiveAt(now) {
			return nil
		}
	}
	if err := e.expireLocks(ctx, tx, service, now); err != nil {
		return err
	}
	l, err := tx.LockInsert(ctx, &store.LockInsertParams{Service: service, Environment: env, Actor: actor, Reason: reason, CreatedAt: now})
	if err != nil {
		return err
	}
	if data == nil {
		data = map[string]any{}
	}
	data["lock_id"] = l.ID
	_, err = tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventLockPlaced, Service: service, Environment: env,
		Actor: actor, Reason: reason, Data: data})
	return err
}
