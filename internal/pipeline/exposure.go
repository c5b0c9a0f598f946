package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// Exposure is an environment's exposure gate: besides its bake time, a
// release must have seen this much use in the environment below before it
// may enter. A bake that ends at 3 a.m. with nobody on staging proves
// nothing; this gate asks for proof of use.
type Exposure struct {
	// Requests is how many requests the release (or a newer one) must have
	// answered below; 0: not required.
	Requests int64
	// People is how many distinct people must have used the release (or a
	// newer one) below, counted from the banner's beacons; 0: not required.
	People int
	// MaxWait bounds the wait for exposure, measured from the bake's start;
	// 0: wait for ever. After it the gate holds and says so, or promotes
	// when Promote is set (after_max_wait: promote).
	MaxWait time.Duration
	Promote bool
	// Source is where requests are counted ("router" or "prometheus");
	// "" counts every source's.
	Source string
}

// ExposureCount is the use one release had in one environment: what the
// router (or Prometheus) counted of requests it answered, and the distinct
// people (random per-browser ids from banner beacons) who used it.
type ExposureCount struct {
	Environment string
	ReleaseID   int64
	// Source says who counted Requests ("router", "prometheus").
	Source   string
	Requests int64
	// People are distinct per-browser ids; they carry no personal data.
	People []string
}

// WaitExposure: a release's bake time is over but it has not yet seen the
// use the exposure gate asks for in the environment below.
const WaitExposure WaitKind = "exposure"

// exposureSeen is what a candidate has been exposed to below: its own use
// and every newer release's (a newer release contains its changes, so rule
// 2's non-starving bake holds for exposure too).
type exposureSeen struct {
	requests int64
	people   int
}

// exposureOf sums the use of release id and every newer release in env.
// People are counted up to need (0: all): a gate that asks for 3 need not
// build a set of 10,000.
func exposureOf(counts []ExposureCount, env string, id int64, need int) exposureSeen {
	var out exposureSeen
	people := map[string]struct{}{}
	for _, c := range counts {
		if c.Environment != env || c.ReleaseID < id {
			continue
		}
		out.requests += c.Requests
		for _, p := range c.People {
			if need > 0 && len(people) >= need {
				break
			}
			people[p] = struct{}{}
		}
	}
	out.people = len(people)
	return out
}

// exposureGate is one candidate's exposure gate at a moment.
type exposureGate struct {
	// met: the exposure asked for has been seen, or there is no exposure
	// gate, or the bake was skipped (rule 5 ends the exposure wait too).
	met bool
	// promoteAfterMaxWait: not met, but max_wait is over and the
	// environment promotes anyway.
	promoteAfterMaxWait bool
	// maxWaitOver: the wait has lasted max_wait (and holds, unless
	// promoteAfterMaxWait).
	maxWaitOver bool
	// maxWaitAt is when max_wait ends (zero: no max_wait).
	maxWaitAt time.Time
	seen      exposureSeen
}

// exposureFor evaluates env's exposure gate for candidate c at now.
// Missing data (a router that is down, a Prometheus that cannot be reached)
// adds no count, so it never completes the gate (rule 9).
func exposureFor(st *State, ix *index, i int, env EnvSpec, c candidate, now time.Time) exposureGate {
	x := env.Exposure
	if i == 0 || x == nil || (x.Requests <= 0 && x.People <= 0) || ix.hasMark(env.Name, c.release.ID, MarkBakeSkipped) {
		return exposureGate{met: true}
	}
	g := exposureGate{seen: exposureOf(st.Exposure, st.Environments[i-1].Name, c.release.ID, x.People)}
	g.met = g.seen.requests >= x.Requests && g.seen.people >= x.People
	if !g.met && x.MaxWait > 0 {
		g.maxWaitAt = c.bakeStart.Add(x.MaxWait)
		if !now.Before(g.maxWaitAt) {
			g.maxWaitOver = true
			g.promoteAfterMaxWait = x.Promote
		}
	}
	return g
}

// passes reports whether the gate lets the candidate through.
func (g exposureGate) passes() bool { return g.met || g.promoteAfterMaxWait }

// progress is what the gate has seen of what it asks for, e.g. "212 of
// 500 requests, 1 of 3 people".
func (g exposureGate) progress(x *Exposure) string {
	var parts []string
	if x.Requests > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d requests", g.seen.requests, x.Requests))
	}
	if x.People > 0 {
		noun := "people"
		if x.People == 1 {
			noun = "person"
		}
		parts = append(parts, fmt.Sprintf("%d of %d %s", g.seen.people, x.People, noun))
	}
	return strings.Join(parts, ", ")
}

// exposureWait is the wait of a candidate whose bake time is over but whose
// exposure gate holds: "3f2c1ab baked 1h; 212 of 500 requests, 1 of 3
// people in staging".
func exposureWait(env EnvSpec, lower string, c candidate, g exposureGate) Wait {
	w := Wait{Kind: WaitExposure, Version: c.release.Version}
	w.Message = fmt.Sprintf("%s baked %s; %s in %s", c.release.Version, shortDur(env.Bake), g.progress(env.Exposure), lower)
	switch {
	case g.maxWaitOver:
		w.Message += fmt.Sprintf("; max_wait %s is over, holding (after_max_wait: hold): skip the bake to promote it anyway", shortDur(env.Exposure.MaxWait))
	case !g.maxWaitAt.IsZero():
		w.Until = g.maxWaitAt
		w.Message += fmt.Sprintf("; max_wait ends at %s", g.maxWaitAt.UTC().Format(time.RFC3339))
	}
	return w
}

// shortDur prints a duration without trailing zero units: "1h", "10m".
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// exposureSoFar is what a release still baking has seen of the exposure
// asked for, appended to its bake wait: "; 212 of 500 requests so far".
func exposureSoFar(st *State, ix *index, i int, env EnvSpec, cands []candidate, version string, now time.Time) string {
	if i == 0 || env.Exposure == nil {
		return ""
	}
	for _, c := range cands {
		if c.release.Version == version {
			if g := exposureFor(st, ix, i, env, c, now); !g.met {
				return "; " + g.progress(env.Exposure) + " so far"
			}
		}
	}
	return ""
}

// exposureReason explains a promotion's exposure in its reason.
func exposureReason(st *State, ix *index, i int, env EnvSpec, c candidate, now time.Time) string {
	x := env.Exposure
	if i == 0 || x == nil || (x.Requests <= 0 && x.People <= 0) || ix.hasMark(env.Name, c.release.ID, MarkBakeSkipped) {
		return ""
	}
	g := exposureFor(st, ix, i, env, c, now)
	if g.met {
		return "; exposure met: " + g.progress(x)
	}
	return fmt.Sprintf("; max_wait %s is over with %s: promoted (after_max_wait: promote)", shortDur(x.MaxWait), g.progress(x))
}

// ExposureProgress is what the release a gate would take next has seen of
// the gate's exposure, for people: the surfaces (status, watch, the
// dashboard, the staging banner) show it.
type ExposureProgress struct {
	// Lower is the environment where use is counted.
	Lower string
	// Version is the release it is about: the environment below's current
	// release, which the people there use now.
	Version                  string
	Requests, RequestsNeeded int64
	People, PeopleNeeded     int
	MaxWait                  time.Duration
	Promote                  bool
}

// ExposureOf is environment i's exposure gate's progress for the release
// running below it (nil if i has no gate or nothing runs below). It
// counts like Decide: the release's own use and every newer release's.
func ExposureOf(st State, i int) *ExposureProgress {
	if i <= 0 || i >= len(st.Environments) || st.Environments[i].Exposure == nil {
		return nil
	}
	x := st.Environments[i].Exposure
	lower := st.Environments[i-1].Name
	cur, _ := newIndex(st).current(lower)
	if cur == nil {
		return nil
	}
	seen := exposureOf(st.Exposure, lower, cur.ID, x.People)
	return &ExposureProgress{Lower: lower, Version: cur.Version, Requests: seen.requests, RequestsNeeded: x.Requests,
		People: seen.people, PeopleNeeded: x.People, MaxWait: x.MaxWait, Promote: x.Promote}
}
