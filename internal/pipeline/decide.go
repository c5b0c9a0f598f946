package pipeline

import (
	"fmt"
	"sort"
	"time"
)

// EnvSpec is what the decision needs to know about one environment from the
// configuration.
type EnvSpec struct {
	Name string
	// Bake is how long a release must have run in the environment below
	// before it may enter this one. Unused for the first environment.
	Bake time.Duration
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
	Wait    Wait
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
		if active := ix.active(env.Name); active != nil {
			status.Active = active
			status.Wait = Wait{Kind: WaitDeployment, Version: active.Version,
				Message: fmt.Sprintf("deployment of %s is %s", active.Version, active.State)}
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
		if len(cands) == 0 {
			if i == 0 || ix.hasAnyIn(lower) {
				status.Wait = Wait{Kind: WaitNothing, Message: "up to date"}
			} else {
				status.Wait = Wait{Kind: WaitRelease, Message: fmt.Sprintf("waiting for a release to reach %s", lower)}
			}
			d.Environments = append(d.Environments, status)
			continue
		}

		// The newest candidate whose bake is complete wins.
		chosen := -1
		var nextDeadline time.Time
		var nextVersion string
		for k := len(cands) - 1; k >= 0; k-- {
			c := cands[k]
			if i == 0 {
				chosen = k
				break
			}
			deadline := c.bakeStart.Add(env.Bake)
			if !now.Before(deadline) {
				chosen = k
				break
			}
			if nextDeadline.IsZero() || !deadline.After(nextDeadline) {
				nextDeadline, nextVersion = deadline, c.release.Version
			}
		}
		if chosen < 0 {
			status.Wait = Wait{Kind: WaitBake, Version: nextVersion, Until: nextDeadline,
				Message: fmt.Sprintf("%s is baking in %s until %s", nextVersion, lower, nextDeadline.UTC().Format(time.RFC3339))}
			d.Environments = append(d.Environments, status)
			d.NextCheck = earliest(d.NextCheck, nextDeadline)
			continue
		}
		c := cands[chosen]
		p := Promotion{Environment: env.Name, Release: c.release}
		if cur != nil {
			p.FromVersion = cur.Version
		}
		if i == 0 {
			p.Reason = fmt.Sprintf("new release %s enters %s", c.release.Version, env.Name)
		} else {
			p.BakeStarted = c.bakeStart
			p.BakeDeadline = c.bakeStart.Add(env.Bake)
			p.Reason = fmt.Sprintf("%s baked in %s for %s (since %s)", c.release.Version, lower, env.Bake,
				c.bakeStart.UTC().Format(time.RFC3339))
		}
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
	marks map[string]map[int64]string
}

func newIndex(st State) *index {
	ix := &index{
		releases: append([]Release(nil), st.Releases...),
		byID:     make(map[int64]*Release, len(st.Releases)),
		deps:     make(map[string][]Deployment),
		marks:    make(map[string]map[int64]string),
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
		if ix.marks[m.Environment] == nil {
			ix.marks[m.Environment] = make(map[int64]string)
		}
		ix.marks[m.Environment][m.ReleaseID] = m.Kind
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
		bakeStart = make(map[int64]time.Time)
		for _, dep := range ix.deps[lower] {
			if dep.State != DeploymentSucceeded {
				continue
			}
			if t, ok := bakeStart[dep.ReleaseID]; !ok || dep.FinishedAt.Before(t) {
				bakeStart[dep.ReleaseID] = dep.FinishedAt
			}
		}
	}
	var out []candidate
	for _, r := range ix.releases {
		if r.ID <= floor || r.Rejected || tried[r.ID] || ix.marks[env][r.ID] == MarkSuperseded {
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
