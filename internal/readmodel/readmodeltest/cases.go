// Package readmodeltest is one table of pipeline states, shared by the
// tests of every surface that shows them (the read model, the API's service
// view, the dashboard's queue, `bakery status`), and the check that what a
// surface shows agrees with pipeline.Decide: the same states, the same bake
// start and end, the same wait.
package readmodeltest

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// T0 is the base time of every case; Now is when each case is looked at.
var (
	T0  = time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	Now = T0.Add(3 * time.Hour)
)

// Bake is production's bake in every case.
const Bake = time.Hour

// Case is one stored state of the service "web" (staging, then production
// with a one-hour bake) and the states its production queue must show.
type Case struct {
	Name  string
	State pipeline.State
	// Want is the state of each release (by version) between staging and
	// production.
	Want map[string]pipeline.ReleaseState
	// WantWait is what production's next promotion waits for.
	WantWait pipeline.WaitKind
}

// Row is one release as a surface shows it, mapped back to the read
// model's vocabulary by that surface's test.
type Row struct {
	Version            string
	State              string
	BakeStart, BakeEnd time.Time
}

// Wait is production's wait as a surface shows it.
type Wait struct {
	Kind, Version, Message string
	Until                  time.Time
}

type closedWindow struct{ opens time.Time }

func (w closedWindow) Open(t time.Time) bool                { return !t.Before(w.opens) }
func (w closedWindow) NextOpen(time.Time) (time.Time, bool) { return w.opens, true }

func rel(id int64, rejected bool) pipeline.Release {
	return pipeline.Release{ID: id, Service: "web", Version: version(id), Artifact: "img:" + version(id),
		Message: "change " + version(id), Author: "ana", CreatedAt: T0.Add(time.Duration(id) * time.Minute), Rejected: rejected}
}

func version(id int64) string { return string(rune('0'+id)) + "-demo-173716" }

// V is the version of release id in the cases: tags, never shortened.
func V(id int64) string { return version(id) }

var depID atomic.Int64

func dep(env string, rid int64, state pipeline.DeploymentState, finished time.Time) pipeline.Deployment {
	d := pipeline.Deployment{ID: depID.Add(1), Service: "web", Environment: env, ReleaseID: rid, Version: version(rid), State: state,
		Attempt: 1, Kind: pipeline.KindAuto, Actor: pipeline.ActorSystem, CreatedAt: finished.Add(-time.Minute)}
	if state.IsTerminal() {
		d.StartedAt, d.FinishedAt = finished.Add(-time.Minute), finished
	} else {
		d.StartedAt, d.Heartbeat = finished, finished
	}
	return d
}

func state(envs []pipeline.EnvSpec, rels []pipeline.Release, deps []pipeline.Deployment) pipeline.State {
	return pipeline.State{Service: "web", Environments: envs, Releases: rels, Deployments: deps}
}

func envs() []pipeline.EnvSpec {
	return []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: Bake}}
}

// Cases is the table: up to date, baking, baked (promoted now), failed
// bake, skipped bake, superseded, rejected, canary, locked, window closed.
func Cases() []Case {
	var out []Case
	base := func() []pipeline.Deployment {
		return []pipeline.Deployment{dep("staging", 1, pipeline.DeploymentSucceeded, T0), dep("production", 1, pipeline.DeploymentSucceeded, T0.Add(Bake+time.Minute))}
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false)}, base())
		out = append(out, Case{Name: "up to date", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive}, WantWait: pipeline.WaitNothing})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-20*time.Minute))))
		out = append(out, Case{Name: "baking", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaking}, WantWait: pipeline.WaitBake})
	}
	{
		// The newer release on top keeps baking; the older one's clock
		// was not reset (rule 2) and it is promoted now.
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false), rel(3, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour)), dep("staging", 3, pipeline.DeploymentSucceeded, Now.Add(-10*time.Minute))))
		out = append(out, Case{Name: "baked", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaked, V(3): pipeline.ReleaseBaking}, WantWait: pipeline.WaitDeployment})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour))))
		st.Marks = []pipeline.Mark{{ReleaseID: 2, Environment: "production", Kind: pipeline.MarkFailedBake, CreatedAt: Now.Add(-90 * time.Minute)}}
		st.Locks = []pipeline.Lock{{ID: 1, Service: "web", Environment: "production", Actor: pipeline.ActorSystem, Reason: "check error_rate failed: 0.2", CreatedAt: Now.Add(-90 * time.Minute)}}
		out = append(out, Case{Name: "failed bake", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseFailedBake}, WantWait: pipeline.WaitLock})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-10*time.Minute))))
		st.Marks = []pipeline.Mark{{ReleaseID: 2, Environment: "production", Kind: pipeline.MarkBakeSkipped, CreatedAt: Now.Add(-time.Minute)}}
		out = append(out, Case{Name: "skipped bake", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBakeSkipped}, WantWait: pipeline.WaitDeployment})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false), rel(3, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, T0.Add(2*time.Hour)), dep("staging", 3, pipeline.DeploymentSucceeded, T0.Add(2*time.Hour+time.Minute)),
				dep("production", 3, pipeline.DeploymentSucceeded, Now.Add(-5*time.Minute))))
		st.Marks = []pipeline.Mark{{ReleaseID: 2, Environment: "production", Kind: pipeline.MarkSuperseded, CreatedAt: Now.Add(-6 * time.Minute)}}
		out = append(out, Case{Name: "superseded", State: st, Want: map[string]pipeline.ReleaseState{V(2): pipeline.ReleaseSuperseded, V(3): pipeline.ReleaseLive}, WantWait: pipeline.WaitNothing})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, true)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, T0.Add(90*time.Minute)), dep("production", 2, pipeline.DeploymentSucceeded, T0.Add(150*time.Minute)),
				dep("production", 1, pipeline.DeploymentSucceeded, Now.Add(-10*time.Minute))))
		st.Deployments[len(st.Deployments)-1].Kind = pipeline.KindRollback
		out = append(out, Case{Name: "rejected", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseRejected}, WantWait: pipeline.WaitNothing})
	}
	{
		envs := envs()
		envs[1].CanarySteps = []pipeline.CanaryStep{{Weight: 20, For: 10 * time.Minute}, {Weight: 50, For: 10 * time.Minute}}
		active := dep("production", 2, pipeline.DeploymentRunning, Now.Add(-5*time.Minute))
		st := state(envs, []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour)), active))
		st.Canaries = []pipeline.Canary{{ID: 1, DeploymentID: active.ID, Service: "web", Environment: "production", ReleaseID: 2, Version: V(2),
			State: pipeline.CanaryRunning, Weight: 20, AppliedWeight: 20, StartedAt: Now.Add(-5 * time.Minute), StepStartedAt: Now.Add(-5 * time.Minute)}}
		out = append(out, Case{Name: "canary", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseCanary}, WantWait: pipeline.WaitDeployment})
	}
	{
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false), rel(3, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour)), dep("staging", 3, pipeline.DeploymentRunning, Now.Add(-time.Minute))))
		st.Locks = []pipeline.Lock{{ID: 1, Service: "web", Environment: "production", Actor: "ana", Reason: "incident 42", CreatedAt: Now.Add(-time.Hour)}}
		out = append(out, Case{Name: "locked", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaked, V(3): pipeline.ReleaseBelow}, WantWait: pipeline.WaitLock})
	}
	{
		envs := envs()
		envs[1].Window = closedWindow{opens: Now.Add(5 * time.Hour)}
		st := state(envs, []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour))))
		out = append(out, Case{Name: "window closed", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaked}, WantWait: pipeline.WaitWindow})
	}
	{
		// Right after a release is created: production waits for it to
		// reach staging, and says so.
		st := state(envs(), []pipeline.Release{rel(1, false), rel(2, false)}, base())
		out = append(out, Case{Name: "on its way", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBelow}, WantWait: pipeline.WaitRelease})
	}
	{
		// Baked long enough, but the exposure gate waits for use in
		// staging (issue 18): still baking, the wait names what is missing.
		e := envs()
		e[1].Exposure = &pipeline.Exposure{Requests: 500, People: 3}
		st := state(e, []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour))))
		st.Exposure = []pipeline.ExposureCount{{Environment: "staging", ReleaseID: 2, Requests: 212, People: []string{"p1"}}}
		out = append(out, Case{Name: "exposure held", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaking}, WantWait: pipeline.WaitExposure})
	}
	{
		// The same with the use seen: promoted now.
		e := envs()
		e[1].Exposure = &pipeline.Exposure{Requests: 500, People: 3}
		st := state(e, []pipeline.Release{rel(1, false), rel(2, false)},
			append(base(), dep("staging", 2, pipeline.DeploymentSucceeded, Now.Add(-2*time.Hour))))
		st.Exposure = []pipeline.ExposureCount{{Environment: "staging", ReleaseID: 2, Requests: 500, People: []string{"p1", "p2", "p3"}}}
		out = append(out, Case{Name: "exposure met", State: st, Want: map[string]pipeline.ReleaseState{V(1): pipeline.ReleaseLive, V(2): pipeline.ReleaseBaked}, WantWait: pipeline.WaitDeployment})
	}
	return out
}

// Agree fails t unless rows and wait, production as a surface shows the
// case, agree with pipeline.Decide and with the case's table. stateName maps
// a read-model state to the surface's word for it.
func Agree(t *testing.T, c Case, rows []Row, wait Wait, stateName func(pipeline.ReleaseState) string) {
	t.Helper()
	d := pipeline.Decide(c.State, Now)
	prod := d.Environments[1]
	byVersion := map[string]Row{}
	for _, r := range rows {
		byVersion[r.Version] = r
	}
	for v, want := range c.Want {
		r, ok := byVersion[v]
		require.True(t, ok, "%s: %s is not shown", c.Name, v)
		require.Equal(t, stateName(want), r.State, "%s: state of %s", c.Name, v)
	}
	// What waits is exactly what Decide chooses from.
	waiting := map[string]bool{}
	for _, r := range rows {
		for _, s := range []pipeline.ReleaseState{pipeline.ReleaseBaking, pipeline.ReleaseBaked, pipeline.ReleaseBakeSkipped} {
			if r.State == stateName(s) {
				waiting[r.Version] = true
			}
		}
	}
	decided := map[string]bool{}
	for _, r := range prod.Queue {
		decided[r.Version] = true
	}
	require.Equal(t, decided, waiting, "%s: the releases waiting", c.Name)
	// The bake of a promoted release is the one Decide promoted it on.
	for _, p := range d.Promotions {
		if p.Environment != "production" {
			continue
		}
		r := byVersion[p.Release.Version]
		require.True(t, p.BakeStarted.Equal(r.BakeStart), "%s: bake start of %s: decide %s, shown %s", c.Name, r.Version, p.BakeStarted, r.BakeStart)
		require.True(t, p.BakeDeadline.Equal(r.BakeEnd), "%s: bake end of %s: decide %s, shown %s", c.Name, r.Version, p.BakeDeadline, r.BakeEnd)
	}
	// The wait is Decide's, and a bake wait ends when the release's bake
	// shown ends.
	require.Equal(t, c.WantWait, prod.Wait.Kind, "%s: the case's wait", c.Name)
	require.Equal(t, string(prod.Wait.Kind), wait.Kind, "%s: wait kind", c.Name)
	require.Equal(t, prod.Wait.Version, wait.Version, "%s: wait version", c.Name)
	require.Equal(t, prod.Wait.Message, wait.Message, "%s: wait message", c.Name)
	require.True(t, prod.Wait.Until.Equal(wait.Until), "%s: wait until: decide %s, shown %s", c.Name, prod.Wait.Until, wait.Until)
	if prod.Wait.Kind == pipeline.WaitBake {
		r := byVersion[prod.Wait.Version]
		require.Equal(t, stateName(pipeline.ReleaseBaking), r.State, "%s", c.Name)
		require.True(t, prod.Wait.Until.Equal(r.BakeEnd), "%s: bake end of %s: decide %s, shown %s", c.Name, r.Version, prod.Wait.Until, r.BakeEnd)
	}
	if prod.Wait.Kind == pipeline.WaitRelease {
		require.Contains(t, prod.Wait.Message, prod.Wait.Version, "%s: the wait names the release on its way", c.Name)
	}
}

// Service is the configuration of the cases' service.
func Service() *config.Service {
	return &config.Service{Name: "web", Repository: "https://github.com/acme/web",
		Environments: []config.Environment{{Name: "staging"}, {Name: "production", Bake: Bake}}}
}
