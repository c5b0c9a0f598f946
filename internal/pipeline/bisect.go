package pipeline

import (
	"fmt"
	"strings"
	"time"
)

// KindBisect is the kind of a deployment a bisect makes: a probe of an
// older release into the first environment, or the return to what that
// environment ran before. Bisect deployments are not bakes: they never
// start a release's bake clock for the environment above.
const KindBisect = "bisect"

// BisectState is where a bisect stands. The last three are terminal.
type BisectState string

const (
	// BisectRunning: probes are being deployed and checked.
	BisectRunning BisectState = "running"
	// BisectFound: the culprit was found and rejected.
	BisectFound BisectState = "found"
	// BisectStuck: the search cannot go on (an inconclusive or flaky
	// probe, a failed probe deploy, a migration in the way, a lock); it
	// says why and names no culprit.
	BisectStuck BisectState = "stuck"
	// BisectCancelled: a person cancelled it.
	BisectCancelled BisectState = "cancelled"
)

// IsTerminal reports whether the bisect has ended.
func (s BisectState) IsTerminal() bool {
	return s == BisectFound || s == BisectStuck || s == BisectCancelled
}

// BisectProbe is what one probe of a bisect found: the check's outcome on
// each of its runs and their agreement.
type BisectProbe struct {
	Version string `json:"version"`
	// Outcome is healthy or failing only when every run agreed; any
	// disagreement (a flaky check) or inconclusive run makes it
	// inconclusive.
	Outcome string `json:"outcome"`
	// Runs are each run's outcome, in order.
	Runs []string `json:"runs"`
	// Evidence is the check's reason on the run that decided the outcome
	// (the first failing one, or the last one).
	Evidence string `json:"evidence,omitempty"`
	// Deployed says whether the probe needed a deployment (false when the
	// environment already ran the release).
	Deployed bool      `json:"deployed"`
	At       time.Time `json:"at"`
}

// Bisect is one search for the first release whose check fails, between
// a good and a bad version, on a service's first environment.
type Bisect struct {
	ID          int64
	Service     string
	Environment string
	Good, Bad   string
	Check       string
	Repeat      int
	// RestoreGood: when done, the environment returns to the newest release
	// found healthy instead of what it ran before.
	RestoreGood bool
	// ReturnTo is the version the environment ran when the bisect started.
	ReturnTo string
	State    BisectState
	// Probe is the version being probed now ("" between probes);
	// ProbeDeployment its deployment (0 when none was needed).
	Probe           string
	ProbeDeployment int64
	Tried           []BisectProbe
	Culprit         string
	Deploys         int
	StartedBy       string
	Reason          string
	// Result says, for people, how it ended (or where it stands).
	Result    string
	CreatedAt time.Time
	UpdatedAt time.Time
	EndedAt   time.Time
}

// ProbeOutcome combines the runs of one probe: they must agree. Every run
// healthy is healthy, every run failing is failing; an inconclusive run, or
// runs that disagree (a flaky check), make the probe inconclusive — it is
// reported, never guessed past.
func ProbeOutcome(runs []string) string {
	if len(runs) == 0 {
		return CheckInconclusive
	}
	first := runs[0]
	for _, r := range runs {
		if r != first || (r != CheckHealthy && r != CheckFailing) {
			return CheckInconclusive
		}
	}
	return first
}

// BisectRelease is one release in a bisect's range, as the search needs
// it: its version and whether it carries migrations.
type BisectRelease struct {
	Version    string
	Migrations []string
}

// BisectInput is what the search reads.
type BisectInput struct {
	// Releases are the releases after the good version up to and
	// including the bad one, oldest first. The good version itself is
	// taken to pass the check (it is not probed).
	Releases []BisectRelease
	// Newer are the releases after the bad one up to what the environment
	// ran when the bisect started: their migrations are applied there too.
	Newer []BisectRelease
	// Tried are the probes so far, in the order they ran.
	Tried []BisectProbe
}

// BisectStepKind says what the search wants next.
type BisectStepKind string

const (
	// StepProbe: deploy Version and run the check on it.
	StepProbe BisectStepKind = "probe"
	// StepCulprit: Version is the first release whose check fails.
	StepCulprit BisectStepKind = "culprit"
	// StepStuck: the search cannot go on; Reason says why.
	StepStuck BisectStepKind = "stuck"
)

// BisectStep is the search's next step.
type BisectStep struct {
	Kind    BisectStepKind
	Version string
	// Good is the newest release found healthy so far ("" if none was
	// probed: then the bisect's good version).
	Good   string
	Reason string
}

// NextBisectStep is the pure binary search: given the range and the probes
// so far, the next release to probe, the culprit, or why the search is
// stuck. The bad version is probed first (a bisect whose bad version passes
// has nothing to find); then the middle of what is left, until the newest
// healthy and the oldest failing release are neighbours. A probe that is
// inconclusive stops the search, and so does a release carrying migrations
// that would be deployed below a newer migration already applied.
func NextBisectStep(in BisectInput) BisectStep {
	n := len(in.Releases)
	if n == 0 {
		return BisectStep{Kind: StepStuck, Reason: "there is no release after the good version up to the bad one"}
	}
	index := make(map[string]int, n)
	for i, r := range in.Releases {
		index[r.Version] = i
	}
	lo, hi := -1, n // lo: newest known healthy (-1: the good version); hi: oldest known failing
	known := false  // whether the bad version was probed
	for _, p := range in.Tried {
		i, ok := index[p.Version]
		if !ok {
			continue
		}
		switch p.Outcome {
		case CheckHealthy:
			if i > lo {
				lo = i
			}
		case CheckFailing:
			if i < hi {
				hi = i
			}
		default:
			return BisectStep{Kind: StepStuck, Version: p.Version, Good: goodOf(in, lo),
				Reason: fmt.Sprintf("the check was inconclusive on %s (runs: %s): a flaky or unmeasurable probe is reported, not guessed past",
					p.Version, strings.Join(p.Runs, ", "))}
		}
		if i == n-1 {
			known = true
		}
	}
	if !known {
		return probeOrStop(in, n-1, lo)
	}
	if lo == n-1 {
		return BisectStep{Kind: StepStuck, Good: goodOf(in, lo),
			Reason: fmt.Sprintf("the check passes on the bad version %s: there is no failing release to find", in.Releases[n-1].Version)}
	}
	if lo >= hi {
		return BisectStep{Kind: StepStuck, Good: goodOf(in, lo),
			Reason: fmt.Sprintf("the check passes on %s but fails on the older %s: it does not tell good from bad releases",
				in.Releases[lo].Version, in.Releases[hi].Version)}
	}
	if hi == lo+1 {
		return BisectStep{Kind: StepCulprit, Version: in.Releases[hi].Version, Good: goodOf(in, lo),
			Reason: fmt.Sprintf("%s is the first release whose check fails (%s)", in.Releases[hi].Version, goodClause(in, lo))}
	}
	return probeOrStop(in, lo+(hi-lo)/2, lo)
}

func goodOf(in BisectInput, lo int) string {
	if lo < 0 {
		return ""
	}
	return in.Releases[lo].Version
}

func goodClause(in BisectInput, lo int) string {
	if lo < 0 {
		return "the release before it is the good version"
	}
	return "the release before it, " + in.Releases[lo].Version + ", passes"
}

// probeOrStop proposes probing Releases[i], unless it carries migrations
// and a newer release (in the range or after it, already applied in the
// environment) carries one too: deploying it would put its code and its
// migrations below a newer schema.
func probeOrStop(in BisectInput, i, lo int) BisectStep {
	r := in.Releases[i]
	if len(r.Migrations) > 0 {
		newer := append(append([]BisectRelease(nil), in.Releases[i+1:]...), in.Newer...)
		for _, nr := range newer {
			if len(nr.Migrations) > 0 {
				return BisectStep{Kind: StepStuck, Version: r.Version, Good: goodOf(in, lo),
					Reason: fmt.Sprintf("%s carries migrations (%s) and the newer %s carries %s, already applied: a release with migrations is never deployed below a newer migration, so the bisect stops here",
						r.Version, strings.Join(r.Migrations, ", "), nr.Version, strings.Join(nr.Migrations, ", "))}
			}
		}
	}
	return BisectStep{Kind: StepProbe, Version: r.Version, Good: goodOf(in, lo),
		Reason: fmt.Sprintf("probing %s", r.Version)}
}

// MaxBisectProbes is the most probes NextBisectStep needs for n releases:
// the bad version, then ⌈log2 n⌉ halvings.
func MaxBisectProbes(n int) int {
	p := 1
	for k := 1; k < n; k *= 2 {
		p++
	}
	return p
}
