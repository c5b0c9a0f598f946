package config

import (
	"fmt"
	"slices"
	"time"

	"gopkg.in/yaml.v3"
)

// The fields of an environment's issue-16 blocks.
var (
	culpritFindingFields = []string{"check", "repeat"}
	fixFields            = []string{"bake", "approvals"}
	approvalFields       = []string{"required", "count", "not_author"}
)

// CulpritFinding makes a failing bake check start a bisect by itself: when
// Check fails a bake with more than one release since the version the
// environment runs, bakery bisects those releases on the first
// environment to find the first one whose check fails.
type CulpritFinding struct {
	// Check names one of the environment's checks.
	Check string
	// Repeat is how many runs of the check each probe takes (default 3).
	Repeat int
}

// FixLane lets fix releases (bakery release create --fix) through the
// environment's locks after a shorter bake and approvals by people other
// than the release's creator. Every other release still waits for the
// lock.
type FixLane struct {
	// Bake is a fix release's bake in the environment before this one
	// (no longer than the environment's own bake).
	Bake time.Duration
	// Approvals is how many people other than the creator must approve
	// it (bakery approve) before it passes a lock.
	Approvals int
}

// Approval makes approvals a gate of the environment: a baked release
// waits until Count people have approved it (bakery approve).
type Approval struct {
	Required bool
	// Count is how many approvals are needed (default 1).
	Count int
	// NotAuthor: the release's author cannot approve it.
	NotAuthor bool
}

// maxApprovals bounds approval counts: more is a typo, not a policy.
const maxApprovals = 10

// gates reads culprit_finding, fix and approval of an environment (not
// the first: they are about entering an environment after a bake).
func (p *parser) gates(f fields, env *Environment, first bool) {
	for _, key := range []string{"culprit_finding", "fix", "approval"} {
		if v := f.get(key); v != nil && first {
			p.add(v, f.field(key), "the first environment cannot have %s: it is about releases entering an environment after their bake in the one before; put it on a later environment", key)
			return
		}
	}
	if v := f.get("culprit_finding"); v != nil {
		env.CulpritFinding = p.culpritFinding(v, f.field("culprit_finding"), env)
	}
	if v := f.get("fix"); v != nil {
		env.Fix = p.fixLane(v, f.field("fix"), env)
	}
	if v := f.get("approval"); v != nil {
		env.Approval = p.approval(v, f.field("approval"))
	}
}

func (p *parser) culpritFinding(n *yaml.Node, path string, env *Environment) *CulpritFinding {
	f, ok := p.mapping(n, n, path, "culprit_finding", culpritFindingFields)
	if !ok {
		return nil
	}
	cf := &CulpritFinding{Check: p.str(f, "check", "smoke"), Repeat: 3}
	var names []string
	for _, c := range env.Checks {
		names = append(names, c.Name)
	}
	good := true
	switch {
	case cf.Check == "" && f.get("check") == nil:
		p.add(f.at("check"), f.field("check"), "culprit_finding needs check: the name of one of this environment's checks, e.g. check: smoke")
		good = false
	case !slices.Contains(names, cf.Check):
		known := "this environment has no checks; add a checks block"
		if len(names) > 0 {
			known = fmt.Sprintf("this environment's checks are: %v", names)
		}
		p.add(f.get("check"), f.field("check"), "culprit_finding.check %q names no check of this environment; %s", cf.Check, known)
		good = false
	}
	if v := f.get("repeat"); v != nil {
		r, ok := p.intIn(v, f.field("repeat"), 1, 20, "repeat is how many runs of the check each probe takes: a whole number from 1 to 20")
		good = good && ok
		cf.Repeat = r
	}
	if !good {
		return nil
	}
	return cf
}

func (p *parser) fixLane(n *yaml.Node, path string, env *Environment) *FixLane {
	f, ok := p.mapping(n, n, path, "fix", fixFields)
	if !ok {
		return nil
	}
	fl := &FixLane{Bake: env.Bake, Approvals: 1}
	if v := f.get("bake"); v != nil {
		d, ok := p.duration(v, f.field("bake"))
		if !ok {
			return nil
		}
		if d > env.Bake {
			p.add(v, f.field("bake"), "fix.bake %s is longer than the environment's bake %s: a fix release bakes for a shorter time, not a longer one", d, env.Bake)
			return nil
		}
		fl.Bake = d
	}
	if v := f.get("approvals"); v != nil {
		a, ok := p.intIn(v, f.field("approvals"), 0, maxApprovals, fmt.Sprintf("approvals is how many people other than the fix's creator must approve it: a whole number from 0 to %d", maxApprovals))
		if !ok {
			return nil
		}
		fl.Approvals = a
	}
	return fl
}

func (p *parser) approval(n *yaml.Node, path string) *Approval {
	f, ok := p.mapping(n, n, path, "approval", approvalFields)
	if !ok {
		return nil
	}
	a := &Approval{Required: true, Count: 1}
	if v := f.get("required"); v != nil {
		a.Required = p.boolean(v, f.field("required"))
	}
	if v := f.get("count"); v != nil {
		c, ok := p.intIn(v, f.field("count"), 1, maxApprovals, fmt.Sprintf("count is how many approvals a release needs: a whole number from 1 to %d", maxApprovals))
		if !ok {
			return nil
		}
		a.Count = c
	}
	if v := f.get("not_author"); v != nil {
		a.NotAuthor = p.boolean(v, f.field("not_author"))
	}
	if !a.Required {
		return nil // the gate is off
	}
	return a
}
