package readmodel_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/window"
)

// TestExpectedInProduction: a waiting release is expected in the last
// environment at its bake's end, or at the window's next opening if it is
// closed then; a lock does not move it ("if nothing holds it"); a release
// that is not waiting has no expectation.
func TestExpectedInProduction(t *testing.T) {
	t.Parallel()
	fri := time.Date(2026, 11, 27, 16, 30, 0, 0, time.UTC) // a Friday
	weekdays, err := window.ParseEntry("Mon-Fri 09:00-18:00")
	require.NoError(t, err)
	office := window.New(time.UTC, []window.Entry{weekdays}, nil)
	rel := func(id int64) pipeline.Release {
		return pipeline.Release{ID: id, Service: "web", Version: "v" + string(rune('0'+id)), CreatedAt: fri.Add(time.Duration(id) * time.Minute)}
	}
	staging := func(id int64, finished time.Time) pipeline.Deployment {
		return pipeline.Deployment{ID: id, Service: "web", Environment: "staging", ReleaseID: id, Version: rel(id).Version,
			State: pipeline.DeploymentSucceeded, Attempt: 1, Kind: pipeline.KindAuto, CreatedAt: finished.Add(-time.Minute),
			StartedAt: finished.Add(-time.Minute), FinishedAt: finished}
	}
	state := func(w pipeline.Window, locked bool) pipeline.State {
		st := pipeline.State{Service: "web",
			Environments: []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: time.Hour, Window: w}},
			Releases:     []pipeline.Release{rel(1), rel(2)},
			Deployments:  []pipeline.Deployment{staging(1, fri), staging(2, fri.Add(time.Hour))}}
		if locked {
			st.Locks = []pipeline.Lock{{ID: 1, Service: "web", Environment: "production", Actor: "ana", Reason: "x", CreatedAt: fri}}
		}
		return st
	}
	now := fri.Add(10 * time.Minute)

	// No window, locked: v1 bakes until 17:30, v2 until 18:30.
	m := readmodel.Build(state(nil, true), now)
	at, ok := m.Environments[1].ExpectedAt(1)
	require.True(t, ok)
	require.Equal(t, fri.Add(time.Hour), at)
	at, ok = m.Environments[1].ExpectedAt(2)
	require.True(t, ok)
	require.Equal(t, fri.Add(2*time.Hour), at)

	// Office hours: v1 baked at 17:30, inside; v2 at 18:30, after closing:
	// Monday 09:00.
	m = readmodel.Build(state(office, false), now)
	at, _ = m.Environments[1].ExpectedAt(1)
	require.Equal(t, fri.Add(time.Hour), at)
	at, _ = m.Environments[1].ExpectedAt(2)
	require.Equal(t, time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), at)

	// Monday 10:00, both baked and the window open: both expected now.
	mon := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	m = readmodel.Build(state(office, true), mon)
	at, _ = m.Environments[1].ExpectedAt(1)
	require.Equal(t, mon, at)

	// The first environment has no queue, and a release not in the queue
	// has no expectation.
	_, ok = m.Environments[0].ExpectedAt(1)
	require.False(t, ok)
	_, ok = m.Environments[1].ExpectedAt(9)
	require.False(t, ok)
}
