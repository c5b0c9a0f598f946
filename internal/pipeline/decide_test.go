package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// world builds a service's stored state in a few lines per test case.
type world struct {
	st     State
	nextID int64
}

func newWorld(bake time.Duration, envs ...string) *world {
	w := &world{st: State{Service: "web"}}
	for i, e := range envs {
		spec := EnvSpec{Name: e}
		if i > 0 {
			spec.Bake = bake
		}
		w.st.Environments = append(w.st.Environments, spec)
	}
	return w
}

func (w *world) release(version string) *world {
	id := int64(len(w.st.Releases) + 1)
	w.st.Releases = append(w.st.Releases, Release{ID: id, Service: "web", Version: version, CreatedAt: t0})
	return w
}

func (w *world) rid(version string) int64 {
	for _, r := range w.st.Releases {
		if r.Version == version {
			return r.ID
		}
	}
	panic("no release " + version)
}

// deployed records a deployment of version into env that ended in state at
// time at (for succeeded/failed) or is still active.
func (w *world) deployed(env, version string, state DeploymentState, at time.Time) *world {
	w.nextID++
	d := Deployment{ID: w.nextID, Service: "web", Environment: env, ReleaseID: w.rid(version),
		Version: version, State: state, Attempt: 1, Kind: KindAuto, CreatedAt: at}
	if state.IsTerminal() {
		d.FinishedAt = at
	}
	w.st.Deployments = append(w.st.Deployments, d)
	return w
}

func (w *world) reject(version string) *world {
	for k := range w.st.Releases {
		if w.st.Releases[k].Version == version {
			w.st.Releases[k].Rejected = true
		}
	}
	return w
}

func (w *world) superseded(env, version string) *world {
	w.st.Marks = append(w.st.Marks, Mark{ReleaseID: w.rid(version), Environment: env, Kind: MarkSuperseded})
	return w
}

func promoted(d Decision) map[string]string {
	out := map[string]string{}
	for _, p := range d.Promotions {
		out[p.Environment] = p.Release.Version
	}
	return out
}

func supersededVersions(d Decision) []string {
	var out []string
	for _, s := range d.Supersession {
		out = append(out, s.Environment+":"+s.Release.Version)
	}
	return out
}

func TestDecide(t *testing.T) {
	t.Parallel()
	const bake = time.Hour

	tests := []struct {
		name  string
		world *world
		now   time.Time
		check func(t *testing.T, d Decision)
	}{
		{
			name:  "a new release enters the first environment at once",
			world: newWorld(bake, "staging", "production").release("a"),
			now:   t0,
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "a"}, promoted(d))
				require.Equal(t, WaitRelease, d.Environments[1].Wait.Kind)
				require.True(t, d.NextCheck.IsZero())
			},
		},
		{
			name:  "only the newest of several new releases enters staging; older ones are superseded there",
			world: newWorld(bake, "staging", "production").release("a").release("b").release("c"),
			now:   t0,
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "c"}, promoted(d))
				require.Equal(t, []string{"staging:a", "staging:b"}, supersededVersions(d))
			},
		},
		{
			name: "one nanosecond before the bake deadline nothing is promoted and the deadline is the next check",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0),
			now: t0.Add(bake - time.Nanosecond),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, t0.Add(bake), d.NextCheck)
				w := d.Environments[1].Wait
				require.Equal(t, WaitBake, w.Kind)
				require.Equal(t, "a", w.Version)
				require.Equal(t, t0.Add(bake), w.Until)
				require.Equal(t, "a", d.Environments[0].Current.Version)
				require.Equal(t, WaitNothing, d.Environments[0].Wait.Kind)
			},
		},
		{
			name: "at the bake deadline exactly the release is promoted",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Equal(t, t0, d.Promotions[0].BakeStarted)
				require.Equal(t, t0.Add(bake), d.Promotions[0].BakeDeadline)
				require.Empty(t, d.Promotions[0].FromVersion)
			},
		},
		{
			name: "a newer release deployed on top does not reset the older one's bake (no starvation)",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("staging", "b", DeploymentSucceeded, t0.Add(50*time.Minute)),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Empty(t, d.Supersession)
				// b is still baking and needs a look at its own deadline.
				require.Equal(t, t0.Add(50*time.Minute+bake), d.NextCheck)
			},
		},
		{
			name: "the newest baked release wins and older baked ones are superseded",
			world: newWorld(bake, "staging", "production").release("a").release("b").release("c").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("staging", "b", DeploymentSucceeded, t0.Add(10*time.Minute)).
				deployed("staging", "c", DeploymentSucceeded, t0.Add(90*time.Minute)),
			now: t0.Add(80 * time.Minute),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "b"}, promoted(d))
				require.Equal(t, []string{"production:a"}, supersededVersions(d))
				require.Equal(t, "b", d.Promotions[0].Release.Version)
			},
		},
		{
			name: "a release not newer than what production runs is never promoted (no downgrade)",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("production", "b", DeploymentSucceeded, t0),
			now: t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				// Staging catches up with b; production, already on b, gets nothing older.
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
				require.Equal(t, WaitNothing, d.Environments[1].Wait.Kind)
				require.Equal(t, "b", d.Environments[1].Current.Version)
			},
		},
		{
			name: "a release whose deployment into production failed is not promoted again; production keeps its version",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("production", "a", DeploymentSucceeded, t0.Add(bake)).
				deployed("staging", "b", DeploymentSucceeded, t0.Add(bake)).
				deployed("production", "b", DeploymentFailed, t0.Add(2*bake)),
			now: t0.Add(3 * bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, "a", d.Environments[1].Current.Version)
			},
		},
		{
			name: "a release that failed in staging never bakes and never reaches production",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentFailed, t0),
			now: t0.Add(2 * bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Nil(t, d.Environments[0].Current)
				require.Equal(t, WaitRelease, d.Environments[1].Wait.Kind)
			},
		},
		{
			name: "after a failed staging deploy the next release still enters staging",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentFailed, t0),
			now: t0,
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
			},
		},
		{
			name: "at most one deployment per environment: an active one holds the next",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentRunning, t0),
			now: t0,
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, WaitDeployment, d.Environments[0].Wait.Kind)
				require.Equal(t, "a", d.Environments[0].Active.Version)
			},
		},
		{
			name: "staging never waits for production: a running production deploy does not hold staging",
			world: newWorld(bake, "staging", "production").release("a").release("b").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("production", "a", DeploymentRunning, t0.Add(bake)),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"staging": "b"}, promoted(d))
			},
		},
		{
			name: "rejected releases are never promoted automatically",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0).reject("a"),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
			},
		},
		{
			name: "a release superseded in production stays superseded",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0).superseded("production", "a"),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
			},
		},
		{
			name: "three environments: each one bakes in the one below",
			world: newWorld(bake, "dev", "staging", "production").release("a").
				deployed("dev", "a", DeploymentSucceeded, t0).
				deployed("staging", "a", DeploymentSucceeded, t0.Add(bake)),
			now: t0.Add(bake + bake/2),
			check: func(t *testing.T, d Decision) {
				require.Empty(t, d.Promotions)
				require.Equal(t, t0.Add(2*bake), d.NextCheck)
				require.Equal(t, WaitNothing, d.Environments[1].Wait.Kind)
			},
		},
		{
			name: "a zero bake promotes as soon as the release runs below",
			world: newWorld(0, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0),
			now: t0,
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
			},
		},
		{
			name: "redeploying a release below later does not move its bake start",
			world: newWorld(bake, "staging", "production").release("a").
				deployed("staging", "a", DeploymentSucceeded, t0).
				deployed("staging", "a", DeploymentSucceeded, t0.Add(30*time.Minute)),
			now: t0.Add(bake),
			check: func(t *testing.T, d Decision) {
				require.Equal(t, map[string]string{"production": "a"}, promoted(d))
				require.Equal(t, t0, d.Promotions[0].BakeStarted)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.check(t, Decide(tt.world.st, tt.now))
		})
	}
}

// TestDecideSeveralServices checks that one service's state never leaks into
// another's decision: the engine decides each service from its own state.
func TestDecideSeveralServices(t *testing.T) {
	t.Parallel()
	web := newWorld(time.Hour, "staging", "production").release("a").deployed("staging", "a", DeploymentSucceeded, t0)
	api := newWorld(10*time.Minute, "staging", "production").release("x").deployed("staging", "x", DeploymentSucceeded, t0)
	api.st.Service = "api"
	now := t0.Add(20 * time.Minute)
	require.Empty(t, Decide(web.st, now).Promotions)
	require.Equal(t, map[string]string{"production": "x"}, promoted(Decide(api.st, now)))
}

// TestDecideDeployEveryTenMinutes is rule 2's promise: a team that deploys
// to staging every ten minutes still reaches production every bake period.
func TestDecideDeployEveryTenMinutes(t *testing.T) {
	t.Parallel()
	const bake = time.Hour
	w := newWorld(bake, "staging", "production")
	var productionAt []time.Time
	for step := 0; step <= 36; step++ { // six hours, a step every ten minutes
		now := t0.Add(time.Duration(step) * 10 * time.Minute)
		w.release(string(rune('a'+step%26)) + string(rune('a'+step/26)))
		// Apply every decision at once, as if deployments were instant.
		for {
			d := Decide(w.st, now)
			if len(d.Promotions) == 0 {
				break
			}
			for _, p := range d.Promotions {
				w.deployed(p.Environment, p.Release.Version, DeploymentSucceeded, now)
				if p.Environment == "production" {
					productionAt = append(productionAt, now)
				}
			}
			for _, s := range d.Supersession {
				w.superseded(s.Environment, s.Release.Version)
			}
		}
	}
	require.GreaterOrEqual(t, len(productionAt), 5, "production must be reached about every hour")
	for k := 1; k < len(productionAt); k++ {
		require.LessOrEqual(t, productionAt[k].Sub(productionAt[k-1]), bake+10*time.Minute)
	}
}

func TestValidateVersion(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "abc123", "v1.2.3", "release_2026-11-25", string(make128('a')), "a-", "...", ".hidden", "v1..2", "_x"} {
		require.NoError(t, ValidateVersion(ok), ok)
	}
	for _, bad := range []string{"", "a b", "v1/2", "ü", "a;rm", string(make128('a')) + "a",
		"-rf", "--force", "-", ".", "..", "a\x00b", "\x00", "a\nb", "a\x1b", "../etc", "a\\b"} {
		require.Error(t, ValidateVersion(bad), bad)
	}
}

func make128(c byte) []byte {
	b := make([]byte, 128)
	for i := range b {
		b[i] = c
	}
	return b
}

func TestDeploymentStates(t *testing.T) {
	t.Parallel()
	for _, s := range []DeploymentState{DeploymentPending, DeploymentRunning} {
		require.True(t, s.IsActive())
		require.False(t, s.IsTerminal())
	}
	for _, s := range []DeploymentState{DeploymentSucceeded, DeploymentFailed, DeploymentCancelled} {
		require.False(t, s.IsActive())
		require.True(t, s.IsTerminal())
	}
	require.False(t, DeploymentState("bogus").Valid())
}
