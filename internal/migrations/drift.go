package migrations

import (
	"fmt"
	"strings"
	"time"
)

// Has reports whether the migration id counts as applied in st. IDs match
// as equal strings or equal numbers ("00042" and "42"). When st.Latest is
// set (golang-migrate), every numeric id up to the single applied version
// counts as applied, the version itself only when st is not dirty.
func (st State) Has(id string) bool {
	id = strings.TrimSpace(id)
	if id == "" {
		return false
	}
	if st.Latest {
		if len(st.Applied) == 0 {
			return false
		}
		cur := st.Applied[len(st.Applied)-1].ID
		if sameID(cur, id) {
			return !st.Dirty
		}
		return numeric(cur) && numeric(id) && compareNumeric(id, cur) < 0
	}
	for _, a := range st.Applied {
		if sameID(a.ID, id) {
			return true
		}
	}
	return false
}

// appliedIDs are the IDs in st.Applied that count as applied: all of them,
// except a dirty golang-migrate version.
func (st State) appliedIDs() []Applied {
	if st.Latest && st.Dirty && len(st.Applied) > 0 {
		return st.Applied[:len(st.Applied)-1]
	}
	return st.Applied
}

// MissingIDs returns which of want are not applied in st, in want's order
// and without duplicates (for a release that declares the migrations it
// needs). See State.Has for how IDs match. (It cannot be called Missing:
// that is the DriftKind.)
func MissingIDs(st State, want []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, w := range want {
		w = strings.TrimSpace(w)
		if w == "" || seen[w] {
			continue
		}
		seen[w] = true
		if !st.Has(w) {
			out = append(out, w)
		}
	}
	return out
}

// Environment is one environment's read for drift.
type Environment struct {
	Name  string
	State State
	// Err is non-nil when the database was unreachable or unreadable; the
	// environment is then reported as Unreachable and never as "no drift".
	Err    error
	ReadAt time.Time
	// FirstSeen maps migration ID → when bakery first saw it applied there.
	// The caller keeps these across reads; may be nil. For tools that record
	// no time (golang-migrate, rails) it is what makes Missing possible.
	FirstSeen map[string]time.Time
}

// DriftKind is a kind of problem.
type DriftKind string

// The kinds of drift.
const (
	// SkippedRehearsal: applied in a later environment but never in the
	// earlier one.
	SkippedRehearsal DriftKind = "skipped_rehearsal"
	// Missing: applied in an earlier environment and missing in the next
	// one for longer than that environment's bake.
	Missing DriftKind = "missing"
	// Unreachable: the environment's database could not be read.
	Unreachable DriftKind = "unreachable"
	// Dirty: a migration failed or is incomplete in the environment.
	Dirty DriftKind = "dirty"
)

// Drift is one problem.
type Drift struct {
	Kind DriftKind
	// Migration is the migration's ID; "" for unreachable and dirty.
	Migration string
	// Environment is where the problem shows: the unreachable or dirty one,
	// the later one for missing and skipped_rehearsal.
	Environment string
	// Other is the other environment involved (the earlier one); "" for
	// unreachable and dirty.
	Other string
	// Since is, for missing, since when the migration has been applied in
	// the earlier environment.
	Since *time.Time
	// Message is a sentence for people.
	Message string
}

// Compare computes drift across envs in promotion order. bakes[i] is the
// bake of envs[i] — how long a release stays in envs[i-1] before it may go
// to envs[i] — so a migration applied in envs[i-1] may be absent from
// envs[i] for bakes[i] before it counts as missing; a missing bakes entry is
// 0. now is the current time.
//
// The result lists, environment by environment: unreachable or dirty, then
// skipped rehearsals (compared with the nearest earlier environment that
// could be read), then missing migrations (compared with the directly
// preceding environment; nothing is derived across an unreachable one).
//
// How long a migration has been applied in the earlier environment is the
// earlier of FirstSeen and AppliedAt; when neither is known it counts as
// first seen at that environment's ReadAt (now when ReadAt is zero).
func Compare(envs []Environment, bakes []time.Duration, now time.Time) []Drift {
	var out []Drift
	for j, e := range envs {
		if e.Err != nil {
			out = append(out, Drift{
				Kind:        Unreachable,
				Environment: e.Name,
				Message: fmt.Sprintf("the %s database could not be read, so its migrations and drift are unknown: %s",
					e.Name, scrub(e.Err.Error())),
			})
			continue
		}
		if e.State.Dirty {
			detail := e.State.Detail
			if detail == "" {
				detail = "a migration failed or is incomplete"
			}
			out = append(out, Drift{
				Kind:        Dirty,
				Environment: e.Name,
				Message:     fmt.Sprintf("the %s database is dirty: %s", e.Name, detail),
			})
		}
		if j == 0 {
			continue
		}

		// Skipped rehearsal: against the nearest earlier readable environment.
		if i := nearestReadable(envs, j); i >= 0 {
			prev := envs[i]
			for _, a := range e.State.appliedIDs() {
				if prev.State.Has(a.ID) {
					continue
				}
				out = append(out, Drift{
					Kind:        SkippedRehearsal,
					Migration:   a.ID,
					Environment: e.Name,
					Other:       prev.Name,
					Message: fmt.Sprintf("%s is applied in %s but was never applied in %s (it skipped the rehearsal)",
						a.ID, e.Name, prev.Name),
				})
			}
		}

		// Missing: against the directly preceding environment only.
		prev := envs[j-1]
		if prev.Err != nil {
			continue
		}
		var bake time.Duration
		if j < len(bakes) {
			bake = bakes[j]
		}
		for _, a := range prev.State.appliedIDs() {
			if e.State.Has(a.ID) {
				continue
			}
			since := firstApplied(prev, a, now)
			age := now.Sub(since)
			if age <= bake {
				continue
			}
			s := since
			out = append(out, Drift{
				Kind:        Missing,
				Migration:   a.ID,
				Environment: e.Name,
				Other:       prev.Name,
				Since:       &s,
				Message: fmt.Sprintf("%s has been applied in %s since %s (%s ago) but is still not applied in %s, longer than its %s bake",
					a.ID, prev.Name, since.UTC().Format(time.RFC3339), humanDuration(age), e.Name, humanDuration(bake)),
			})
		}
	}
	return out
}

// nearestReadable returns the index of the nearest environment before j
// whose database was read, or -1.
func nearestReadable(envs []Environment, j int) int {
	for i := j - 1; i >= 0; i-- {
		if envs[i].Err == nil {
			return i
		}
	}
	return -1
}

// firstApplied is since when a has been applied in env.
func firstApplied(env Environment, a Applied, now time.Time) time.Time {
	var since time.Time
	if t, ok := env.FirstSeen[a.ID]; ok && !t.IsZero() {
		since = t
	}
	if a.AppliedAt != nil && !a.AppliedAt.IsZero() && (since.IsZero() || a.AppliedAt.Before(since)) {
		since = *a.AppliedAt
	}
	if since.IsZero() {
		since = env.ReadAt
	}
	if since.IsZero() {
		since = now
	}
	return since
}

// humanDuration writes d the way people say it: "3d 4h", "2h 5m", "45m",
// "30s", "0s".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d/time.Second))
	}
	days := int(d / (24 * time.Hour))
	hours := int(d % (24 * time.Hour) / time.Hour)
	mins := int(d % time.Hour / time.Minute)
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	}
	return fmt.Sprintf("%dm", mins)
}
