package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

func rels(n int) []BisectRelease {
	out := make([]BisectRelease, n)
	for i := range out {
		out[i] = BisectRelease{Version: fmt.Sprintf("v%d", i+2)} // v1 is the good version
	}
	return out
}

func probe(v, outcome string) BisectProbe {
	return BisectProbe{Version: v, Outcome: outcome, Runs: []string{outcome, outcome, outcome}}
}

func TestNextBisectStep(t *testing.T) {
	withMig := func(rs []BisectRelease, i int, ids ...string) []BisectRelease {
		rs[i].Migrations = ids
		return rs
	}
	tests := []struct {
		name    string
		in      BisectInput
		kind    BisectStepKind
		version string
		reason  string // a part of the reason, when it matters
	}{
		{name: "nothing in range", in: BisectInput{}, kind: StepStuck, reason: "no release"},
		{name: "bad first", in: BisectInput{Releases: rels(7)}, kind: StepProbe, version: "v8"},
		{name: "then the middle", in: BisectInput{Releases: rels(7), Tried: []BisectProbe{probe("v8", CheckFailing)}},
			kind: StepProbe, version: "v4"},
		{name: "upper half after a healthy middle", in: BisectInput{Releases: rels(7),
			Tried: []BisectProbe{probe("v8", CheckFailing), probe("v4", CheckHealthy)}}, kind: StepProbe, version: "v6"},
		{name: "neighbours name the culprit", in: BisectInput{Releases: rels(7),
			Tried: []BisectProbe{probe("v8", CheckFailing), probe("v4", CheckHealthy), probe("v6", CheckFailing), probe("v5", CheckFailing)}},
			kind: StepCulprit, version: "v5", reason: "v4, passes"},
		{name: "the oldest release in range is the culprit", in: BisectInput{Releases: rels(3),
			Tried: []BisectProbe{probe("v4", CheckFailing), probe("v3", CheckFailing), probe("v2", CheckFailing)}},
			kind: StepCulprit, version: "v2", reason: "good version"},
		{name: "a single release that fails is the culprit", in: BisectInput{Releases: rels(1),
			Tried: []BisectProbe{probe("v2", CheckFailing)}}, kind: StepCulprit, version: "v2"},
		{name: "bad version passes", in: BisectInput{Releases: rels(4), Tried: []BisectProbe{probe("v5", CheckHealthy)}},
			kind: StepStuck, reason: "passes on the bad version v5"},
		{name: "flaky probe is reported, not guessed past", in: BisectInput{Releases: rels(7),
			Tried: []BisectProbe{probe("v8", CheckFailing),
				{Version: "v4", Outcome: ProbeOutcome([]string{"healthy", "failing", "healthy"}), Runs: []string{"healthy", "failing", "healthy"}}}},
			kind: StepStuck, version: "v4", reason: "inconclusive on v4 (runs: healthy, failing, healthy)"},
		{name: "inconclusive probe stops", in: BisectInput{Releases: rels(7),
			Tried: []BisectProbe{probe("v8", CheckInconclusive)}}, kind: StepStuck, version: "v8"},
		{name: "not monotonic", in: BisectInput{Releases: rels(7),
			Tried: []BisectProbe{probe("v8", CheckFailing), probe("v4", CheckFailing), probe("v6", CheckHealthy)}},
			kind: StepStuck, reason: "does not tell good from bad"},
		{name: "migration stop: probe carries migrations below a newer one", in: BisectInput{
			Releases: withMig(withMig(rels(7), 2, "0003_users"), 5, "0004_orders"),
			Tried:    []BisectProbe{probe("v8", CheckFailing)}},
			kind: StepStuck, version: "v4", reason: "v4 carries migrations (0003_users) and the newer v7 carries 0004_orders"},
		{name: "migration stop: newer migration past the bad version", in: BisectInput{
			Releases: withMig(rels(7), 2, "0003_users"), Newer: []BisectRelease{{Version: "v9", Migrations: []string{"0005"}}},
			Tried: []BisectProbe{probe("v8", CheckFailing)}},
			kind: StepStuck, version: "v4", reason: "newer v9"},
		{name: "the newest migration may be probed", in: BisectInput{
			Releases: withMig(rels(7), 2, "0003_users"),
			Tried:    []BisectProbe{probe("v8", CheckFailing)}},
			kind: StepProbe, version: "v4"},
		{name: "a release without migrations goes below a newer migration", in: BisectInput{
			Releases: withMig(rels(7), 5, "0004_orders"),
			Tried:    []BisectProbe{probe("v8", CheckFailing)}},
			kind: StepProbe, version: "v4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextBisectStep(tt.in)
			if got.Kind != tt.kind || got.Version != tt.version {
				t.Fatalf("got %s %q (%s), want %s %q", got.Kind, got.Version, got.Reason, tt.kind, tt.version)
			}
			if !strings.Contains(got.Reason, tt.reason) {
				t.Fatalf("reason %q does not say %q", got.Reason, tt.reason)
			}
		})
	}
}

func TestProbeOutcome(t *testing.T) {
	tests := []struct {
		runs []string
		want string
	}{
		{nil, CheckInconclusive},
		{[]string{"healthy"}, CheckHealthy},
		{[]string{"failing", "failing", "failing"}, CheckFailing},
		{[]string{"healthy", "healthy", "failing"}, CheckInconclusive},
		{[]string{"failing", "inconclusive"}, CheckInconclusive},
		{[]string{"inconclusive", "inconclusive"}, CheckInconclusive},
	}
	for _, tt := range tests {
		if got := ProbeOutcome(tt.runs); got != tt.want {
			t.Errorf("ProbeOutcome(%v) = %s, want %s", tt.runs, got, tt.want)
		}
	}
}

// TestBisectFindsEveryCulprit runs the search to its end for every
// position of the first failing release among n, and holds it to the
// bound: the culprit found, in at most MaxBisectProbes(n) probes.
func TestBisectFindsEveryCulprit(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 8, 32, 128} {
		for first := 0; first < n; first++ {
			in := BisectInput{Releases: rels(n)}
			probes := 0
			for {
				step := NextBisectStep(in)
				if step.Kind == StepCulprit {
					if step.Version != in.Releases[first].Version {
						t.Fatalf("n=%d first=%d: culprit %s, want %s", n, first, step.Version, in.Releases[first].Version)
					}
					break
				}
				if step.Kind != StepProbe {
					t.Fatalf("n=%d first=%d: %s: %s", n, first, step.Kind, step.Reason)
				}
				probes++
				i := 0
				for in.Releases[i].Version != step.Version {
					i++
				}
				outcome := CheckHealthy
				if i >= first {
					outcome = CheckFailing
				}
				in.Tried = append(in.Tried, probe(step.Version, outcome))
			}
			if probes > MaxBisectProbes(n) {
				t.Fatalf("n=%d first=%d: %d probes, more than %d", n, first, probes, MaxBisectProbes(n))
			}
		}
	}
	if MaxBisectProbes(8) != 4 {
		t.Fatalf("MaxBisectProbes(8) = %d, want ⌈log2 8⌉+1 = 4", MaxBisectProbes(8))
	}
}
