package pipeline

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// EnvSpec is what the decision needs to know about one environment from the
// configuration.
type EnvSpec struct {
	Name string
	// Bake is how long a release must have run in the environment below
	// before it may enter this one. Unused for the first environment.
	Bake time.Duration
	// Window, if set, is when promotions into the environment may start.
	Window Window
	// Checks name the checks that must be healthy, in an evaluation made
	// after the release's bake started, before it may enter.
	Checks []string
	// CanarySteps, if set, make promotions into the environment canary
	// rollouts with these steps.
	CanarySteps []CanaryStep
	// Fix, if set, is the environment's fix lane.
	Fix *FixLane
	// Approval, if set, is the environment's approval gate.
	Approval *ApprovalGate
	// Exposure, if set, is the use a release must also have seen in the
	// environment below before its bake is complete.
	Exposure *Exposure
}

// State is the stored state of one service that the decision reads. Releases
// and Deployments may be limited to the ones that can still matter (newer
// than the oldest environment's current release), but must include each
// environment's current release and every active deployment.
type State struct {
	Service      string
	Environments []EnvSpec
	Releases     []Release
	Deployments  []Deployment
	Marks        []Mark
	// Locks are the service's unreleased locks, including those on every
	// service and selector locks; expired ones, and selector locks whose
	// selector does not match Labels, are ignored by the decision.
	Locks []Lock
	// Labels are the service's labels in the configuration now: a
	// selector lock holds the service while they match (decision time).
	Labels map[string]string
	// Checks are the latest result of each check of each environment.
	Checks []CheckResult
	// Canaries are the service's canaries that have not ended.
	Canaries []Canary
	// Approvals are the approvals of the service's releases (those that
	// can still matter).
	Approvals []Approval
	// Bisect is the service's bisect in progress, if any: it holds
	// automatic deploys into its environment and promotions out of it.
	Bisect *Bisect
	// Exposure is the use each release had in each environment (requests
	// answered, distinct people), for environments with an exposure gate.
	Exposure []ExposureCount
}

// WaitKind names what the next promotion into an environment waits for.
type WaitKind string

const (
	// WaitNothing: the environment runs the newest release it may have.
	WaitNothing WaitKind = "up_to_date"
	// WaitDeployment: a deployment into the environment is in progress;
	// nothing else starts there until it ends.
	WaitDeployment WaitKind = "deployment"
	// WaitBake: a release is baking in the environment below.
	WaitBake WaitKind = "bake"
	// WaitRelease: no release has reached the environment below yet.
	WaitRelease WaitKind = "release"
	// WaitLock: the environment is locked.
	WaitLock WaitKind = "lock"
	// WaitWindow: a release is ready but the promotion window is closed.
	WaitWindow WaitKind = "window"
	// WaitChecks: a release's bake is over but a check has not been
	// healthy since it started (inconclusive, not yet run): missing data
	// is not good news (rule 9).
	WaitChecks WaitKind = "checks"
	// WaitBisect: a bisect is deploying older releases to the environment
	// (or the one below); automatic deploys wait until it ends.
	WaitBisect WaitKind = "bisect"
)

// Wait says what the next promotion into an environment waits for and, when
// known, until when.
type Wait struct {
	Kind    WaitKind
	Version string    // the release concerned, if any
	Until   time.Time // when the wait ends by itself; zero if unknown
	Message string    // a sentence for people
}

// EnvStatus is one environment of a service as the decision sees it.
type EnvStatus struct {
	Name    string
	Current *Release    // the release running there; nil before the first deploy
	Since   time.Time   // when Current's deployment finished
	Active  *Deployment // the deployment in progress, if any
	// Canary is the active deployment's canary rollout, if it has one.
	Canary *Canary
	Wait   Wait
	// Locks are the locks holding the environment now.
	Locks []Lock
	// Queue is the releases waiting to enter the environment, oldest
	// first: newer than what it runs and already in the one below.
	Queue []Release
}

// Promotion is a decision to start deploying a release into an environment.
type Promotion struct {
	Environment string
	Release     Release
	// FromVersion is the version the environment runs now ("" if none).
	FromVersion string
	// BakeStarted and BakeDeadline explain the decision: the release's bake in
	// the environment below started and ended then. Zero for the first
	// environment, which has no bake.
	BakeStarted  time.Time
	BakeDeadline time.Time
	Reason       string
	// Fix says the promotion goes by the fix lane (a shorter bake,
	// approvals, and perhaps through a lock).
	Fix bool
}

// Supersession records that a waiting release will never be promoted into
// an environment because a newer one is promoted in its place (rule 2).
type Supersession struct {
	Environment string
	Release     Release
	By          Release
}

// Decision is everything the engine must do for one service now, and when it
// must look again.
type Decision struct {
	Promotions   []Promotion
	Supersession []Supersession
	Environments []EnvStatus
	// NextCheck is the earliest time at which the decision could change
	// without any new event (a bake deadline). Zero if no such time.
	NextCheck time.Time
}

// Decide computes what should happen to one service at time now. It is a pure
// function of its arguments.
//
// Each environment is decided on its own: what happens in a later
// environment never holds back an earlier one (rule 1). The first environment
// takes the newest release at once. Every later environment takes the newest
// release whose bake in the environment below is complete; the bake clock
// starts when the release's first deployment below succeeded and is not reset
// by newer releases deployed on top of it (rule 2). Releases older than the
// one promoted are superseded.
func Decide(st State, now time.Time) Decision {
	ix := newIndex(st)
	var d Decision
	for i, env := range st.Environments {
		status := EnvStatus{Name: env.Name}
		cur, since := ix.current(env.Name)
		if cur != nil {
			status.Current = cur
			status.Since = since
		}
		// Locks are shown even while a deployment runs: a lock placed
		// during a canary holds it at its step.
		status.Locks = activeLocks(st.Locks, st.Service, st.Labels, env.Name, now)
		for _, l := range status.Locks {
			if !l.ExpiresAt.IsZero() {
				d.NextCheck = earliest(d.NextCheck, l.ExpiresAt)
			}
		}
		if active := ix.active(env.Name); active != nil {
			status.Active = active
			status.Wait = Wait{Kind: WaitDeployment, Version: active.Version,
				Message: fmt.Sprintf("deployment of %s is %s", active.Version, active.State)}
			for k := range st.Canaries {
				if c := st.Canaries[k]; c.DeploymentID == active.ID && !c.State.IsTerminal() {
					status.Canary = &c
					status.Wait.Message = canaryMessage(c, env.CanarySteps)
					if len(status.Locks) > 0 && c.State == CanaryRunning {
						l := status.Locks[0]
						status.Wait.Message += fmt.Sprintf(", held at this step: locked by %s: %s", l.Actor, l.Reason)
					}
				}
			}
			d.Environments = append(d.Environments, status)
			continue
		}
		if b := st.Bisect; b != nil && !b.State.IsTerminal() && bisectHolds(st.Environments, i, b.Environment) {
			msg := fmt.Sprintf("bisect of %s in progress", st.Service)
			if b.Probe != "" {
				msg += fmt.Sprintf(" (probing %s in %s)", b.Probe, b.Environment)
			}
			if i > 0 {
				msg += "; promotions out of " + b.Environment + " wait until it ends"
			} else {
				msg += "; automatic deploys wait until it ends"
			}
			status.Wait = Wait{Kind: WaitBisect, Version: b.Probe, Message: msg}
			d.Environments = append(d.Environments, status)
			continue
		}
		var floor int64
		if cur != nil {
			floor = cur.ID
		}
		var lower string
		if i > 0 {
			lower = st.Environments[i-1].Name
		}
		cands := ix.candidates(env.Name, lower, floor)
		for _, c := range cands {
			status.Queue = append(status.Queue, c.release)
		}
		if len(cands) == 0 {
			switch {
			case len(status.Locks) > 0:
				status.Wait = lockWait(status.Locks, "")
			case i > 0 && ix.onItsWay(env.Name, lower, floor) != nil:
				r := ix.onItsWay(env.Name, lower, floor)
				status.Wait = Wait{Kind: WaitRelease, Version: r.Version,
					Message: fmt.Sprintf("waiting for %s to reach %s", r.Version, lower)}
			case i == 0 || ix.hasAnyIn(lower):
				status.Wait = Wait{Kind: WaitNothing, Message: "up to date"}
			default:
				status.Wait = Wait{Kind: WaitRelease, Message: fmt.Sprintf("waiting for a release to reach %s", lower)}
			}
			d.Environments = append(d.Environments, status)
			continue
		}

		// The newest candidate whose bake is complete wins.
		chosen := -1
		var nextDeadline time.Time
		var nextVersion string
		var exposureHeld *Wait // the exposure gate holds a release whose bake time is over
		for k := len(cands) - 1; k >= 0; k-- {
			c := cands[k]
			if fixReady(st, ix, i, env, c, now) {
				// A fix with its approvals and its shorter bake: the fix
				// lane is the fast way, exposure does not hold it.
				chosen = k
				break
			}
			if bakeOver(ix, i, env, c, now) {
				// The exposure step of the gate: the bake is complete only
				// when the release has also seen the use asked for below.
				g := exposureFor(&st, ix, i, env, c, now)
				if g.passes() {
					chosen = k
					break
				}
				w := exposureWait(env, lower, c, g)
				exposureHeld = &w
				if !g.maxWaitAt.IsZero() && !g.maxWaitOver {
					d.NextCheck = earliest(d.NextCheck, g.maxWaitAt)
				}
				continue
			}
			deadline := c.bakeStart.Add(env.Bake)
			if env.Fix != nil && c.release.Fix && len(fixApprovers(st, env.Name, c.release)) >= env.Fix.Approvals {
				deadline = c.bakeStart.Add(env.Fix.Bake)
			}
			if nextDeadline.IsZero() || !deadline.After(nextDeadline) {
				nextDeadline, nextVersion = deadline, c.release.Version
			}
		}
		// The gate: a lock holds everything (rule 3); a closed window holds
		// releases that are ready (rule 4). Neither touches other
		// environments (rule 1).
		// The fix lane: a fix release with its approvals and its (shorter)
		// bake passes the locks; the lock stays for every other release.
		viaFix := false
		if len(status.Locks) > 0 {
			for k := len(cands) - 1; k >= 0; k-- {
				if fixReady(st, ix, i, env, cands[k], now) {
					chosen, viaFix = k, true
					break
				}
			}
		}
		if len(status.Locks) > 0 && !viaFix {
			ready := ""
			if chosen >= 0 {
				ready = cands[chosen].release.Version
			} else {
				d.NextCheck = earliest(d.NextCheck, nextDeadline)
			}
			status.Wait = lockWait(status.Locks, ready)
			note, until := fixNote(st, env, cands)
			status.Wait.Message += note
			d.NextCheck = earliest(d.NextCheck, until)
			d.Environments = append(d.Environments, status)
			continue
		}
		if chosen < 0 && exposureHeld != nil {
			status.Wait = *exposureHeld
			d.Environments = append(d.Environments, status)
			d.NextCheck = earliest(d.NextCheck, nextDeadline)
			continue
		}
		if chosen < 0 {
			status.Wait = Wait{Kind: WaitBake, Version: nextVersion, Until: nextDeadline,
				Message: fmt.Sprintf("%s is baking in %s until %s", nextVersion, lower, nextDeadline.UTC().Format(time.RFC3339))}
			status.Wait.Message += exposureSoFar(&st, ix, i, env, cands, nextVersion, now)
			d.Environments = append(d.Environments, status)
			d.NextCheck = earliest(d.NextCheck, nextDeadline)
			continue
		}
		if w, ok := checksHold(st.Checks, env, cands[chosen]); !ok {
			status.Wait = w
			d.Environments = append(d.Environments, status)
			continue
		}
		if w, ok := gateHolds(st, env, cands[chosen].release); !ok {
			status.Wait = w
			d.Environments = append(d.Environments, status)
			continue
		}
		if env.Window != nil && !env.Window.Open(now) {
			v := cands[chosen].release.Version
			w := Wait{Kind: WaitWindow, Version: v}
			if opens, ok := env.Window.NextOpen(now); ok {
				w.Until = opens
				w.Message = fmt.Sprintf("%s is ready; the promotion window opens at %s", v, opens.UTC().Format(time.RFC3339))
				d.NextCheck = earliest(d.NextCheck, opens)
			} else {
				w.Message = fmt.Sprintf("%s is ready; the promotion window does not open in the next two years", v)
			}
			status.Wait = w
			d.Environments = append(d.Environments, status)
			continue
		}
		c := cands[chosen]
		p := Promotion{Environment: env.Name, Release: c.release}
		if cur != nil {
			p.FromVersion = cur.Version
		}
		switch {
		case i == 0:
			p.Reason = fmt.Sprintf("new release %s enters %s", c.release.Version, env.Name)
		case viaFix || (fixReady(st, ix, i, env, c, now) && !bakeOver(ix, i, env, c, now)):
			p.BakeStarted = c.bakeStart
			p.BakeDeadline = c.bakeStart.Add(env.Fix.Bake)
			p.Fix = true
			p.Reason = fmt.Sprintf("fix %s baked in %s for its fix bake of %s and was approved by %s", c.release.Version, lower,
				env.Fix.Bake, strings.Join(fixApprovers(st, env.Name, c.release), ", "))
			if viaFix {
				l := status.Locks[0]
				p.Reason += fmt.Sprintf("; it passes the lock by %s (%s), which stays for every other release", l.Actor, l.Reason)
			}
		case ix.hasMark(env.Name, c.release.ID, MarkBakeSkipped) && now.Before(c.bakeStart.Add(env.Bake)):
			p.BakeStarted = c.bakeStart
			p.BakeDeadline = c.bakeStart.Add(env.Bake)
			p.Reason = fmt.Sprintf("%s's bake in %s was skipped after %s", c.release.Version, lower,
				now.Sub(c.bakeStart).Round(time.Second))
		default:
			p.BakeStarted = c.bakeStart
			p.BakeDeadline = c.bakeStart.Add(env.Bake)
			p.Reason = fmt.Sprintf("%s baked in %s for %s (since %s)", c.release.Version, lower, env.Bake,
				c.bakeStart.UTC().Format(time.RFC3339))
		}
		p.Reason += exposureReason(&st, ix, i, env, c, now)
		d.Promotions = append(d.Promotions, p)
		for _, older := range cands[:chosen] {
			d.Supersession = append(d.Supersession, Supersession{Environment: env.Name, Release: older.release, By: c.release})
		}
		status.Wait = Wait{Kind: WaitDeployment, Version: c.release.Version,
			Message: fmt.Sprintf("promoting %s", c.release.Version)}
		d.Environments = append(d.Environments, status)
		// Newer candidates still baking will need a look at their deadline.
		for _, newer := range cands[chosen+1:] {
			if i > 0 {
				d.NextCheck = earliest(d.NextCheck, newer.bakeStart.Add(env.Bake))
			}
		}
	}
	return d
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

type candidate struct {
	release   Release
	bakeStart time.Time
}

// index answers the decision's questions about one service's state.
type index struct {
	releases []Release // ordered by ID
	byID     map[int64]*Release
	// deps lists the deployments of each environment, ordered by ID.
	deps  map[string][]Deployment
	marks map[markKey]bool
}

type markKey struct {
	env  string
	id   int64
	kind string
}

func (ix *index) hasMark(env string, id int64, kind string) bool {
	return ix.marks[markKey{env, id, kind}]
}

// activeLocks are the locks that hold env of service at now, oldest first.
func activeLocks(locks []Lock, service string, labels map[string]string, env string, now time.Time) []Lock {
	var out []Lock
	for _, l := range locks {
		if l.Environment == env && l.Holds(service, labels) && l.ActiveAt(now) {
			out = append(out, l)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].CreatedAt.Before(out[b].CreatedAt) })
	return out
}

func lockWait(locks []Lock, ready string) Wait {
	l := locks[0]
	scope := ""
	if l.Service == AllServices {
		scope = " (every service)"
	}
	msg := fmt.Sprintf("locked%s by %s since %s: %s", scope, l.Actor, l.CreatedAt.UTC().Format(time.RFC3339), l.Reason)
	if l.Selector != "" {
		msg = fmt.Sprintf("locked: %s/%s by %s: %s (since %s)", l.Selector, l.Environment, l.Actor, l.Reason,
			l.CreatedAt.UTC().Format(time.RFC3339))
	}
	if ready != "" {
		msg += "; " + ready + " is ready and waits for the unlock"
	}
	w := Wait{Kind: WaitLock, Version: ready, Message: msg}
	// The wait ends by itself only if every lock expires.
	for _, l := range locks {
		if l.ExpiresAt.IsZero() {
			return w
		}
		if l.ExpiresAt.After(w.Until) {
			w.Until = l.ExpiresAt
		}
	}
	return w
}

func newIndex(st State) *index {
	ix := &index{
		releases: append([]Release(nil), st.Releases...),
		byID:     make(map[int64]*Release, len(st.Releases)),
		deps:     make(map[string][]Deployment),
		marks:    make(map[markKey]bool),
	}
	sort.Slice(ix.releases, func(a, b int) bool { return ix.releases[a].ID < ix.releases[b].ID })
	for k := range ix.releases {
		ix.byID[ix.releases[k].ID] = &ix.releases[k]
	}
	for _, dep := range st.Deployments {
		ix.deps[dep.Environment] = append(ix.deps[dep.Environment], dep)
	}
	for env := range ix.deps {
		ds := ix.deps[env]
		sort.Slice(ds, func(a, b int) bool { return ds[a].ID < ds[b].ID })
	}
	for _, m := range st.Marks {
		ix.marks[markKey{m.Environment, m.ReleaseID, m.Kind}] = true
	}
	return ix
}

// current is the release of the newest succeeded deployment in env.
func (ix *index) current(env string) (*Release, time.Time) {
	ds := ix.deps[env]
	for k := len(ds) - 1; k >= 0; k-- {
		if ds[k].State == DeploymentSucceeded {
			if r, ok := ix.byID[ds[k].ReleaseID]; ok {
				return r, ds[k].FinishedAt
			}
		}
	}
	return nil, time.Time{}
}

func (ix *index) active(env string) *Deployment {
	for _, dep := range ix.deps[env] {
		if dep.State.IsActive() {
			dep := dep
			return &dep
		}
	}
	return nil
}

func (ix *index) hasAnyIn(env string) bool {
	for _, dep := range ix.deps[env] {
		if dep.State == DeploymentSucceeded {
			return true
		}
	}
	return false
}

// candidates lists, oldest first, the releases that may be promoted into env:
// newer than what env runs, not rejected, not superseded there, never
// deployed there before, and (unless env is the first) running successfully
// in the environment below, with the time their bake started.
func (ix *index) candidates(env, lower string, floor int64) []candidate {
	tried := make(map[int64]bool)
	for _, dep := range ix.deps[env] {
		tried[dep.ReleaseID] = true
	}
	var bakeStart map[int64]time.Time
	if lower != "" {
		bakeStart = bakeStarts(ix.deps[lower])
	}
	var out []candidate
	for _, r := range ix.releases {
		if r.ID <= floor || r.Rejected || tried[r.ID] || ix.hasMark(env, r.ID, MarkSuperseded) || ix.hasMark(env, r.ID, MarkFailedBake) {
			continue
		}
		c := candidate{release: r}
		if lower != "" {
			t, ok := bakeStart[r.ID]
			if !ok {
				continue
			}
			c.bakeStart = t
		}
		out = append(out, c)
	}
	return out
}

// bakeStarts maps each release to when its bake in the environment whose
// deployments are deps started: its first successful deployment there
// (rule 2). Decide and BakeStart share it.
func bakeStarts(deps []Deployment) map[int64]time.Time {
	out := make(map[int64]time.Time)
	for _, dep := range deps {
		if dep.State != DeploymentSucceeded || dep.Kind == KindBisect {
			continue // a bisect's probe is not a bake
		}
		if t, ok := out[dep.ReleaseID]; !ok || dep.FinishedAt.Before(t) {
			out[dep.ReleaseID] = dep.FinishedAt
		}
	}
	return out
}

// onItsWay is the newest release that may still reach env but has not
// reached lower yet: newer than what env runs, not rejected or passed over
// in env, and not failed or cancelled in lower. Nil if none. It names what
// an environment with nothing to promote waits for.
func (ix *index) onItsWay(env, lower string, floor int64) *Release {
	tried := map[int64]bool{}
	for _, dep := range ix.deps[env] {
		tried[dep.ReleaseID] = true
	}
	stopped := map[int64]bool{}
	for _, dep := range ix.deps[lower] {
		if dep.State == DeploymentSucceeded {
			stopped[dep.ReleaseID] = true // already there: a candidate, or passed over
		} else if dep.State.IsTerminal() {
			stopped[dep.ReleaseID] = true
		}
	}
	for k := len(ix.releases) - 1; k >= 0; k-- {
		r := &ix.releases[k]
		if r.ID <= floor {
			break
		}
		if r.Rejected || tried[r.ID] || stopped[r.ID] || ix.hasMark(env, r.ID, MarkSuperseded) ||
			ix.hasMark(lower, r.ID, MarkSuperseded) || ix.hasMark(env, r.ID, MarkFailedBake) {
			continue
		}
		return r
	}
	return nil
}

// checksHold reports whether every check of env has been healthy in an
// evaluation made since c's bake started; if not, what the promotion
// waits for.
func checksHold(results []CheckResult, env EnvSpec, c candidate) (Wait, bool) {
	for _, name := range env.Checks {
		var latest *CheckResult
		for i := range results {
			if results[i].Environment == env.Name && results[i].Name == name {
				latest = &results[i]
			}
		}
		w := Wait{Kind: WaitChecks, Version: c.release.Version}
		switch {
		case latest == nil || latest.At.Before(c.bakeStart):
			w.Message = fmt.Sprintf("%s is baked; waiting for check %s to run since its bake started", c.release.Version, name)
			return w, false
		case latest.Outcome != CheckHealthy:
			w.Message = fmt.Sprintf("%s is baked; check %s is %s: %s", c.release.Version, name, latest.Outcome, latest.Reason)
			return w, false
		}
	}
	return Wait{}, true
}

// bisectHolds reports whether a bisect on environment benv holds
// environment i: benv itself (no automatic deploys into it) and the one
// above it (no promotions out of it).
func bisectHolds(envs []EnvSpec, i int, benv string) bool {
	if envs[i].Name == benv {
		return true
	}
	return i > 0 && envs[i-1].Name == benv
}

func canaryMessage(c Canary, steps []CanaryStep) string {
	if c.State == CanaryPromoting {
		return fmt.Sprintf("%s passed its canary; replacing the stable version", c.Version)
	}
	return fmt.Sprintf("%s is a canary at %d%% (step %d of %d)", c.Version, c.Weight, c.Step+1, max(len(steps), c.Step+1))
}
