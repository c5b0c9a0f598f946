package migrations

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) time.Time { return now.Add(-d) }

func agoPtr(d time.Duration) *time.Time { t := ago(d); return &t }

// applied lists IDs without times.
func applied(ids ...string) []Applied {
	out := make([]Applied, len(ids))
	for i, id := range ids {
		out[i] = Applied{ID: id}
	}
	return out
}

func env(name string, st State, firstSeen map[string]time.Time) Environment {
	return Environment{Name: name, State: st, ReadAt: now, FirstSeen: firstSeen}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	unreachable := errors.New(`postgres database "app" at db:5432 is unreachable: dial tcp: connection refused`)
	cases := []struct {
		name  string
		envs  []Environment
		bakes []time.Duration
		want  []Drift
	}{
		{
			name:  "in step",
			envs:  []Environment{env("staging", State{Applied: applied("1", "2")}, nil), env("production", State{Applied: applied("1", "2")}, nil)},
			bakes: []time.Duration{0, time.Hour},
		},
		{
			name:  "skipped the rehearsal",
			envs:  []Environment{env("staging", State{Applied: applied("1")}, nil), env("production", State{Applied: applied("1", "2")}, nil)},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: SkippedRehearsal, Migration: "2", Environment: "production", Other: "staging",
				Message: "2 is applied in production but was never applied in staging (it skipped the rehearsal)"}},
		},
		{
			name: "missing within the bake",
			envs: []Environment{
				env("staging", State{Applied: applied("1", "2")}, map[string]time.Time{"1": ago(48 * time.Hour), "2": ago(30 * time.Minute)}),
				env("production", State{Applied: applied("1")}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
		},
		{
			name: "missing beyond the bake, by FirstSeen",
			envs: []Environment{
				env("staging", State{Applied: applied("1", "2")}, map[string]time.Time{"1": ago(48 * time.Hour), "2": ago(2 * time.Hour)}),
				env("production", State{Applied: applied("1")}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: Missing, Migration: "2", Environment: "production", Other: "staging", Since: agoPtr(2 * time.Hour),
				Message: "2 has been applied in staging since 2026-03-01T10:00:00Z (2h ago) but is still not applied in production, longer than its 1h bake"}},
		},
		{
			name: "missing beyond the bake, by the tool's time, the earlier of the two",
			envs: []Environment{
				env("staging", State{Applied: []Applied{{ID: "2", AppliedAt: agoPtr(50 * time.Hour)}}}, map[string]time.Time{"2": ago(10 * time.Minute)}),
				env("production", State{}, nil),
			},
			bakes: []time.Duration{0, 24 * time.Hour},
			want: []Drift{{Kind: Missing, Migration: "2", Environment: "production", Other: "staging", Since: agoPtr(50 * time.Hour),
				Message: "2 has been applied in staging since 2026-02-27T10:00:00Z (2d 2h ago) but is still not applied in production, longer than its 1d bake"}},
		},
		{
			name: "no time known: first seen now, within the bake",
			envs: []Environment{
				env("staging", State{Applied: applied("20240101120000")}, nil),
				env("production", State{}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
		},
		{
			name: "unreachable later environment: reported, no missing derived",
			envs: []Environment{
				env("staging", State{Applied: applied("1", "2")}, map[string]time.Time{"1": ago(100 * time.Hour), "2": ago(100 * time.Hour)}),
				{Name: "production", Err: unreachable, ReadAt: now},
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: Unreachable, Environment: "production",
				Message: `the production database could not be read, so its migrations and drift are unknown: postgres database "app" at db:5432 is unreachable: dial tcp: connection refused`}},
		},
		{
			name: "unreachable earlier environment: no skipped rehearsal derived",
			envs: []Environment{
				{Name: "staging", Err: unreachable, ReadAt: now},
				env("production", State{Applied: applied("1", "2")}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: Unreachable, Environment: "staging",
				Message: `the staging database could not be read, so its migrations and drift are unknown: postgres database "app" at db:5432 is unreachable: dial tcp: connection refused`}},
		},
		{
			name: "unreachable in the middle: the rehearsal is checked against the one before",
			envs: []Environment{
				env("staging", State{Applied: applied("1")}, map[string]time.Time{"1": ago(100 * time.Hour)}),
				{Name: "canary", Err: unreachable, ReadAt: now},
				env("production", State{Applied: applied("1", "2")}, nil),
			},
			bakes: []time.Duration{0, time.Hour, time.Hour},
			want: []Drift{
				{Kind: Unreachable, Environment: "canary",
					Message: `the canary database could not be read, so its migrations and drift are unknown: postgres database "app" at db:5432 is unreachable: dial tcp: connection refused`},
				{Kind: SkippedRehearsal, Migration: "2", Environment: "production", Other: "staging",
					Message: "2 is applied in production but was never applied in staging (it skipped the rehearsal)"},
			},
		},
		{
			name: "dirty",
			envs: []Environment{
				env("staging", State{Applied: applied("3"), Latest: true, Dirty: true, Detail: "dirty at version 3: fix it with migrate force"}, nil),
				env("production", State{Applied: applied("2"), Latest: true}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: Dirty, Environment: "staging",
				Message: "the staging database is dirty: dirty at version 3: fix it with migrate force"}},
		},
		{
			name: "golang-migrate: a lower version later is missing the higher one",
			envs: []Environment{
				env("staging", State{Applied: applied("20240103120000"), Latest: true}, map[string]time.Time{"20240103120000": ago(3 * time.Hour)}),
				env("production", State{Applied: applied("20240101120000"), Latest: true}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: Missing, Migration: "20240103120000", Environment: "production", Other: "staging", Since: agoPtr(3 * time.Hour),
				Message: "20240103120000 has been applied in staging since 2026-03-01T09:00:00Z (3h ago) but is still not applied in production, longer than its 1h bake"}},
		},
		{
			name: "golang-migrate: a higher version later skipped the rehearsal",
			envs: []Environment{
				env("staging", State{Applied: applied("20240101120000"), Latest: true}, nil),
				env("production", State{Applied: applied("20240103120000"), Latest: true}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want: []Drift{{Kind: SkippedRehearsal, Migration: "20240103120000", Environment: "production", Other: "staging",
				Message: "20240103120000 is applied in production but was never applied in staging (it skipped the rehearsal)"}},
		},
		{
			name: "golang-migrate: a dirty version counts as not applied",
			envs: []Environment{
				env("staging", State{Applied: applied("5"), Latest: true, Dirty: true, Detail: "dirty at version 5"}, map[string]time.Time{"5": ago(100 * time.Hour)}),
				env("production", State{Applied: applied("4"), Latest: true}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
			want:  []Drift{{Kind: Dirty, Environment: "staging", Message: "the staging database is dirty: dirty at version 5"}},
		},
		{
			name: "golang-migrate staging ahead of rails-like production listing",
			envs: []Environment{
				env("staging", State{Applied: applied("7"), Latest: true}, nil),
				env("production", State{Applied: applied("3", "5", "7")}, nil),
			},
			bakes: []time.Duration{0, time.Hour},
		},
		{
			name: "each pair uses the later environment's bake",
			envs: []Environment{
				env("staging", State{Applied: applied("1", "2")}, map[string]time.Time{"2": ago(2 * time.Hour)}),
				env("canary", State{Applied: applied("1", "2")}, map[string]time.Time{"2": ago(90 * time.Minute)}),
				env("production", State{Applied: applied("1")}, nil),
			},
			bakes: []time.Duration{0, time.Hour, 24 * time.Hour},
		},
		{
			name: "a missing bakes entry is no bake",
			envs: []Environment{
				env("staging", State{Applied: applied("2")}, map[string]time.Time{"2": ago(time.Minute)}),
				env("production", State{}, nil),
			},
			want: []Drift{{Kind: Missing, Migration: "2", Environment: "production", Other: "staging", Since: agoPtr(time.Minute),
				Message: "2 has been applied in staging since 2026-03-01T11:59:00Z (1m ago) but is still not applied in production, longer than its 0s bake"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Compare(tc.envs, tc.bakes, now)
			require.Equal(t, tc.want, got)
		})
	}
	require.Empty(t, Compare(nil, nil, now))
}

func TestCompareUnreachableNeverLeaksCredentials(t *testing.T) {
	t.Parallel()
	envs := []Environment{
		{Name: "staging", Err: errors.New("dial postgres://app:hunter2@db/app failed; password=hunter2 root:hunter2@tcp(db:3306)/x")},
	}
	got := Compare(envs, nil, now)
	require.Len(t, got, 1)
	require.Equal(t, Unreachable, got[0].Kind)
	require.NotContains(t, got[0].Message, "hunter2")
}

func TestMissingIDs(t *testing.T) {
	t.Parallel()
	list := State{Applied: applied("1", "2", "20240101120000_init")}
	require.Empty(t, MissingIDs(list, []string{"1", "2", "20240101120000_init"}))
	require.Equal(t, []string{"3", "20240102120000_next"}, MissingIDs(list, []string{"1", "3", "3", "", "20240102120000_next"}))
	require.Empty(t, MissingIDs(list, []string{"00002"}), "numbers match as numbers")
	require.Nil(t, MissingIDs(list, nil))

	latest := State{Applied: applied("20240102120000"), Latest: true}
	require.Empty(t, MissingIDs(latest, []string{"20240101120000", "20240102120000"}), "everything up to the latest")
	require.Equal(t, []string{"20240103120000", "x"}, MissingIDs(latest, []string{"20240103120000", "x"}))

	dirty := State{Applied: applied("20240102120000"), Latest: true, Dirty: true}
	require.Equal(t, []string{"20240102120000"}, MissingIDs(dirty, []string{"20240101120000", "20240102120000"}), "the dirty version is not applied")

	empty := State{Latest: true}
	require.Equal(t, []string{"1"}, MissingIDs(empty, []string{"1"}))
	require.Equal(t, []string{"1"}, MissingIDs(State{}, []string{"1"}))
}

func TestHumanDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		0:                             "0s",
		30 * time.Second:              "30s",
		45 * time.Minute:              "45m",
		time.Hour:                     "1h",
		2*time.Hour + 5*time.Minute:   "2h 5m",
		24 * time.Hour:                "1d",
		76*time.Hour + 10*time.Minute: "3d 4h",
	} {
		require.Equal(t, want, humanDuration(d), d.String())
	}
}
