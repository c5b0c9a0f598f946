package pipeline

import (
	"fmt"
	"time"
)

// ReleaseState is where one release stands with respect to entering an
// environment, as the decision sees it. The dashboard's queue, the API's
// service view and `bakery status` all show these states; none of them
// works a state out on its own.
type ReleaseState string

const (
	// ReleaseLive: the release runs in the environment now.
	ReleaseLive ReleaseState = "live"
	// ReleaseDeploying: a deployment of the release into the environment
	// is in progress.
	ReleaseDeploying ReleaseState = "deploying"
	// ReleaseCanary: the deployment in progress is a canary rollout.
	ReleaseCanary ReleaseState = "canary"
	// ReleaseBaking: the release runs in the environment below and its
	// bake there is not over.
	ReleaseBaking ReleaseState = "baking"
	// ReleaseBaked: the release's bake is over; it waits for the rest of
	// the gate (lock, checks, window) or is about to be promoted.
	ReleaseBaked ReleaseState = "baked"
	// ReleaseBakeSkipped: someone ended the release's bake early (rule 5);
	// like baked, the rest of the gate still applies.
	ReleaseBakeSkipped ReleaseState = "bake_skipped"
	// ReleaseFailedBake: a check failed while the release baked (rule 8);
	// it is never promoted into the environment automatically.
	ReleaseFailedBake ReleaseState = "failed_bake"
	// ReleaseSuperseded: a newer release entered the environment while
	// this one waited (rule 2); it is never promoted there.
	ReleaseSuperseded ReleaseState = "superseded"
	// ReleaseRejected: the release was rolled back (rule 7) and is never
	// promoted automatically again.
	ReleaseRejected ReleaseState = "rejected"
	// ReleaseBelow: the release has not reached the environment below yet
	// (it is deploying there or waiting to).
	ReleaseBelow ReleaseState = "lower"
	// ReleaseFailedBelow: the release's deployment into the environment
	// below failed; it will not reach this one.
	ReleaseFailedBelow ReleaseState = "failed_below"
	// ReleaseFailed: the release's deployment into the environment failed
	// or was cancelled; it is not tried there again automatically.
	ReleaseFailed ReleaseState = "failed"
	// ReleaseEarlier: the release ran in the environment before the one
	// that runs there now.
	ReleaseEarlier ReleaseState = "earlier"
)

// Waiting reports whether a release in this state is in the queue of
// releases that may still enter the environment by themselves.
func (s ReleaseState) Waiting() bool {
	return s == ReleaseBaking || s == ReleaseBaked || s == ReleaseBakeSkipped
}

// QueueEntry is one release between an environment and the one below it.
type QueueEntry struct {
	Release Release
	State   ReleaseState
	// BakeStart and BakeEnd are the release's bake in the environment
	// below, exactly as Decide computes them; zero when it has not reached
	// it.
	BakeStart, BakeEnd time.Time
	// Deployment is the deployment in progress for ReleaseDeploying and
	// ReleaseCanary (in this environment) and for ReleaseBelow while it
	// deploys below.
	Deployment *Deployment
	// Canary is the rollout, for ReleaseCanary.
	Canary *Canary
	// Why is a short sentence for people.
	Why string
}

// BakeStart is when release id's bake in the environment lower started:
// when its first deployment there succeeded (rule 2: a newer release on top
// does not reset it). ok is false when it never ran there. Decide uses the
// same rule.
func BakeStart(st State, lower string, id int64) (time.Time, bool) {
	var deps []Deployment
	for _, dep := range st.Deployments {
		if dep.Environment == lower && dep.ReleaseID == id {
			deps = append(deps, dep)
		}
	}
	t, ok := bakeStarts(deps)[id]
	return t, ok
}

// bakeOver reports whether a candidate's bake for env is over at now: the
// first environment has none, a skipped bake is over, otherwise its
// deadline has passed. Decide and Queue share it.
func bakeOver(ix *index, i int, env EnvSpec, c candidate, now time.Time) bool {
	return i == 0 || ix.hasMark(env.Name, c.release.ID, MarkBakeSkipped) || !now.Before(c.bakeStart.Add(env.Bake))
}

// Queue lists, newest first, the releases between environment i of st and
// the one below it with each one's state as Decide sees it at now: the
// candidates Decide chooses from (baking, baked, bake skipped), the one
// running there, and the ones it passed over (superseded, rejected, failed
// bake). Releases older than the one the environment ran before its
// current one are left out.
func Queue(st State, i int, now time.Time) []QueueEntry {
	if i <= 0 || i >= len(st.Environments) {
		return nil
	}
	env, lower := st.Environments[i], st.Environments[i-1].Name
	ix := newIndex(st)
	cur, _ := ix.current(env.Name)
	var curID, prevID int64
	if cur != nil {
		curID = cur.ID
	}
	deployedHere := map[int64]bool{}
	ds := ix.deps[env.Name]
	for k := len(ds) - 1; k >= 0; k-- {
		if ds[k].State != DeploymentSucceeded {
			continue
		}
		deployedHere[ds[k].ReleaseID] = true
		if prevID == 0 && ds[k].ReleaseID < curID {
			prevID = ds[k].ReleaseID
		}
	}
	active := ix.active(env.Name)
	activeBelow := ix.active(lower)
	cands := map[int64]candidate{}
	for _, c := range ix.candidates(env.Name, lower, curID) {
		cands[c.release.ID] = c
	}
	failedBelow := map[int64]bool{}
	for _, dep := range ix.deps[lower] {
		if dep.State == DeploymentFailed {
			failedBelow[dep.ReleaseID] = true
		}
	}
	var out []QueueEntry
	for k := len(ix.releases) - 1; k >= 0; k-- {
		r := ix.releases[k]
		if r.ID <= prevID {
			break
		}
		e := QueueEntry{Release: r}
		if start, ok := BakeStart(st, lower, r.ID); ok {
			e.BakeStart, e.BakeEnd = start, start.Add(env.Bake)
			if env.Fix != nil && r.Fix && len(fixApprovers(st, env.Name, r)) >= env.Fix.Approvals {
				e.BakeEnd = start.Add(env.Fix.Bake) // an approved fix bakes for the fix lane's time
			}
		}
		switch {
		case r.ID == curID:
			e.State, e.Why = ReleaseLive, "in "+env.Name
		case active != nil && active.ReleaseID == r.ID:
			e.State, e.Deployment = ReleaseDeploying, active
			e.Why = "deploying to " + env.Name
			for j := range st.Canaries {
				if c := st.Canaries[j]; c.DeploymentID == active.ID && !c.State.IsTerminal() {
					e.State, e.Canary = ReleaseCanary, &c
					if c.State == CanaryRunning {
						e.Why = fmt.Sprintf("canary in %s at %d%%", env.Name, c.Weight)
					}
				}
			}
		case r.Rejected:
			e.State, e.Why = ReleaseRejected, "rejected"
		case r.ID < curID && deployedHere[r.ID]:
			e.State, e.Why = ReleaseEarlier, "ran in "+env.Name+" before"
		case ix.hasMark(env.Name, r.ID, MarkFailedBake):
			e.State, e.Why = ReleaseFailedBake, "failed bake in "+lower
		case r.ID < curID || ix.hasMark(env.Name, r.ID, MarkSuperseded) || ix.hasMark(lower, r.ID, MarkSuperseded):
			e.State, e.Why = ReleaseSuperseded, "superseded"
		default:
			if c, ok := cands[r.ID]; ok {
				switch {
				case ix.hasMark(env.Name, r.ID, MarkBakeSkipped):
					e.State, e.Why = ReleaseBakeSkipped, "bake skipped"
				case fixReady(st, ix, i, env, c, now):
					e.State, e.Why = ReleaseBaked, "baked"
				case bakeOver(ix, i, env, c, now) && exposureFor(&st, ix, i, env, c, now).passes():
					e.State, e.Why = ReleaseBaked, "baked"
				case bakeOver(ix, i, env, c, now):
					// Its time is up; the exposure gate still holds it.
					g := exposureFor(&st, ix, i, env, c, now)
					e.State, e.Why = ReleaseBaking, "waiting for use in "+lower+": "+g.progress(env.Exposure)
				default:
					e.State, e.Why = ReleaseBaking, "baking in "+lower
				}
				break
			}
			switch {
			case activeBelow != nil && activeBelow.ReleaseID == r.ID:
				e.State, e.Deployment, e.Why = ReleaseBelow, activeBelow, "deploying to "+lower
			case failedBelow[r.ID]:
				e.State, e.Why = ReleaseFailedBelow, "failed in "+lower
			case e.BakeStart.IsZero():
				e.State, e.Why = ReleaseBelow, "waiting for "+lower
			default:
				// It ran below and is no candidate: its deployment here
				// failed or was cancelled.
				e.State, e.Why = ReleaseFailed, "failed in "+env.Name
			}
		}
		out = append(out, e)
	}
	return out
}
