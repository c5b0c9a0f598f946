package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// FixLane is an environment's fix lane: a fix release passes the
// environment's locks (people's and bakery's own) once its Bake in the
// environment before is over and Approvals people other than its creator
// approved it. Every other release still waits for the lock.
type FixLane struct {
	Bake      time.Duration
	Approvals int
}

// ApprovalGate makes baked releases wait for Count approvals into the
// environment; with NotAuthor the release's author's own does not count.
type ApprovalGate struct {
	Count     int
	NotAuthor bool
}

// WaitApproval: a release is ready but waits for approvals (the approval
// gate), or a fix waits for approvals to pass a lock.
const WaitApproval WaitKind = "approval"

// approvers are the distinct people who approved release r into env, in
// the order they did, leaving out those skip says do not count.
func approvers(approvals []Approval, env string, r Release, skip func(Approval) bool) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range approvals {
		if a.Environment != env || a.ReleaseID != r.ID || skip(a) {
			continue
		}
		key := a.Actor
		if a.TokenID != 0 {
			key = fmt.Sprintf("#%d", a.TokenID)
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, a.Actor)
		}
	}
	return out
}

// byCreator reports whether a is the creator's own approval of r: by the
// token that created r (or, for a release made without a token ID, by
// its name).
func byCreator(r Release) func(Approval) bool {
	return func(a Approval) bool {
		if r.CreatorTokenID != 0 && a.TokenID != 0 {
			return a.TokenID == r.CreatorTokenID
		}
		return r.Creator != "" && a.Actor == r.Creator
	}
}

// fixApprovers are the approvals of fix r into env that count for the
// fix lane: anyone's but its creator's.
func fixApprovers(st State, env string, r Release) []string {
	return approvers(st.Approvals, env, r, byCreator(r))
}

// fixReady reports whether candidate c passes env's locks by the fix lane
// at now: a fix release, with enough approvals by others than its
// creator, whose fix bake is over (or was skipped).
func fixReady(st State, ix *index, i int, env EnvSpec, c candidate, now time.Time) bool {
	if env.Fix == nil || !c.release.Fix || i == 0 {
		return false
	}
	if len(fixApprovers(st, env.Name, c.release)) < env.Fix.Approvals {
		return false
	}
	return ix.hasMark(env.Name, c.release.ID, MarkBakeSkipped) || !now.Before(c.bakeStart.Add(env.Fix.Bake))
}

// fixNote says, for a lock's wait, where the newest fix release waiting
// behind it stands; "" if there is none. until is when its fix bake ends
// (zero when it waits for approvals, or is ready).
func fixNote(st State, env EnvSpec, cands []candidate) (note string, until time.Time) {
	if env.Fix == nil {
		return "", time.Time{}
	}
	for k := len(cands) - 1; k >= 0; k-- {
		c := cands[k]
		if !c.release.Fix {
			continue
		}
		got := fixApprovers(st, env.Name, c.release)
		if missing := env.Fix.Approvals - len(got); missing > 0 {
			return fmt.Sprintf("; fix %s may pass the lock after %s by someone other than its creator %s (bakery approve %s %s %s --reason R)",
				c.release.Version, plural(missing, "more approval", "more approvals"), creatorName(c.release), st.Service, env.Name,
				c.release.Version), time.Time{}
		}
		end := c.bakeStart.Add(env.Fix.Bake)
		return fmt.Sprintf("; fix %s passes the lock when its fix bake ends at %s", c.release.Version, end.UTC().Format(time.RFC3339)), end
	}
	return "", time.Time{}
}

func creatorName(r Release) string {
	if r.Creator == "" {
		return "(unknown)"
	}
	return r.Creator
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// gateHolds reports whether the approval gate of env lets release r in;
// if not, the wait says how many approvals are missing and who may give
// them.
func gateHolds(st State, env EnvSpec, r Release) (Wait, bool) {
	g := env.Approval
	if g == nil {
		return Wait{}, true
	}
	skip := func(Approval) bool { return false }
	who := "any deployer"
	if g.NotAuthor {
		skip = func(a Approval) bool { return r.Author != "" && a.Actor == r.Author }
		if r.Author != "" {
			who = "any deployer but its author " + r.Author
		}
	}
	got := approvers(st.Approvals, env.Name, r, skip)
	if len(got) >= g.Count {
		return Wait{}, true
	}
	msg := fmt.Sprintf("%s is ready and waits for %s into %s: %s may approve (bakery approve %s %s %s --reason R)",
		r.Version, plural(g.Count-len(got), "approval", "approvals"), env.Name, who, st.Service, env.Name, r.Version)
	if len(got) > 0 {
		msg += "; approved so far by " + strings.Join(got, ", ")
	}
	return Wait{Kind: WaitApproval, Version: r.Version, Message: msg}, false
}
