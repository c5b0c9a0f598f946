package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// TestBisectUnsure: a bake check's result is left out when what it
// measured may have been a bisect's probe, and kept otherwise.
func TestBisectUnsure(t *testing.T) {
	envs := []pipeline.EnvSpec{{Name: "staging"}, {Name: "production"}}
	rels := []pipeline.Release{{ID: 1, Version: "v1"}, {ID: 2, Version: "v2"}, {ID: 3, Version: "v3"}}
	dep := func(id, rel int64, kind string, state pipeline.DeploymentState) pipeline.Deployment {
		return pipeline.Deployment{ID: id, Environment: "staging", ReleaseID: rel, Version: rels[rel-1].Version, Kind: kind, State: state}
	}
	tests := []struct {
		name   string
		deps   []pipeline.Deployment
		bisect *pipeline.Bisect
		ranOn  int64
		want   string
	}{
		{name: "plain: kept", deps: []pipeline.Deployment{dep(1, 1, pipeline.KindAuto, pipeline.DeploymentSucceeded)}, ranOn: 1},
		{name: "a newer plain deploy meanwhile: kept (as before)", deps: []pipeline.Deployment{dep(1, 1, pipeline.KindAuto, pipeline.DeploymentSucceeded),
			dep(2, 2, pipeline.KindAuto, pipeline.DeploymentSucceeded)}, ranOn: 1},
		{name: "a bisect running", deps: []pipeline.Deployment{dep(1, 1, pipeline.KindAuto, pipeline.DeploymentSucceeded)},
			bisect: &pipeline.Bisect{State: pipeline.BisectRunning, Environment: "staging"}, ranOn: 1, want: "a bisect is running"},
		{name: "an ended bisect is no reason", deps: []pipeline.Deployment{dep(1, 1, pipeline.KindAuto, pipeline.DeploymentSucceeded)},
			bisect: &pipeline.Bisect{State: pipeline.BisectFound, Environment: "staging"}, ranOn: 1},
		{name: "the return in progress", deps: []pipeline.Deployment{dep(1, 3, pipeline.KindAuto, pipeline.DeploymentSucceeded),
			dep(2, 2, pipeline.KindBisect, pipeline.DeploymentSucceeded), dep(3, 3, pipeline.KindBisect, pipeline.DeploymentRunning)},
			ranOn: 2, want: "return deployment is in progress"},
		{name: "the return finished while the check ran", deps: []pipeline.Deployment{dep(1, 3, pipeline.KindAuto, pipeline.DeploymentSucceeded),
			dep(2, 2, pipeline.KindBisect, pipeline.DeploymentSucceeded), dep(3, 3, pipeline.KindBisect, pipeline.DeploymentSucceeded)},
			ranOn: 2, want: "a bisect deployment finished while the check ran"},
		{name: "after the return: kept", deps: []pipeline.Deployment{dep(2, 2, pipeline.KindBisect, pipeline.DeploymentSucceeded),
			dep(3, 3, pipeline.KindBisect, pipeline.DeploymentSucceeded)}, ranOn: 3},
		{name: "started on a probe, a plain deploy since", deps: []pipeline.Deployment{dep(2, 2, pipeline.KindBisect, pipeline.DeploymentSucceeded),
			dep(3, 3, pipeline.KindAuto, pipeline.DeploymentSucceeded)}, ranOn: 2, want: "the check started on a bisect's probe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := pipeline.State{Service: "web", Environments: envs, Releases: rels, Deployments: tt.deps, Bisect: tt.bisect}
			d := pipeline.Decide(st, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
			got := bisectUnsure(st, d, 0, tt.ranOn)
			if tt.want == "" {
				require.Empty(t, got)
			} else {
				require.Contains(t, got, tt.want)
			}
		})
	}
}
