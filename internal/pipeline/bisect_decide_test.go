package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDecideBisectHolds: while a bisect runs on staging, nothing is
// promoted out of staging and automatic deploys into staging wait; other
// environments go on (rule 1), and an ended bisect holds nothing.
func TestDecideBisectHolds(t *testing.T) {
	base := func() *world {
		w := newWorld(time.Hour, "staging", "production", "edge")
		w.release("v1").release("v2").release("v3")
		w.deployed("staging", "v1", DeploymentSucceeded, t0)
		w.deployed("production", "v1", DeploymentSucceeded, t0)
		w.deployed("staging", "v2", DeploymentSucceeded, t0)
		w.st.Environments[2].Bake = 0
		return w
	}
	now := t0.Add(2 * time.Hour)
	tests := []struct {
		name   string
		bisect *Bisect
		want   map[string]string
		waits  map[string]WaitKind
		msg    string
	}{
		{name: "no bisect: v3 enters staging, v2 production", want: map[string]string{"staging": "v3", "production": "v2", "edge": "v1"}},
		{name: "bisect holds staging and production", bisect: &Bisect{Environment: "staging", State: BisectRunning, Probe: "v1"},
			want:  map[string]string{"edge": "v1"},
			waits: map[string]WaitKind{"staging": WaitBisect, "production": WaitBisect},
			msg:   "bisect of web in progress (probing v1 in staging); promotions out of staging wait until it ends"},
		{name: "an ended bisect holds nothing", bisect: &Bisect{Environment: "staging", State: BisectFound},
			want: map[string]string{"staging": "v3", "production": "v2", "edge": "v1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := base()
			w.st.Bisect = tt.bisect
			d := Decide(w.st, now)
			require.Equal(t, tt.want, promoted(d))
			for _, es := range d.Environments {
				if k, ok := tt.waits[es.Name]; ok {
					require.Equal(t, k, es.Wait.Kind, es.Name)
				}
				if es.Name == "production" && tt.msg != "" {
					require.Equal(t, tt.msg, es.Wait.Message)
				}
			}
		})
	}
}

// TestBisectProbeIsNoBake: a release deployed to staging only by a
// bisect's probe has not baked there and is never promoted out of it for
// that.
func TestBisectProbeIsNoBake(t *testing.T) {
	w := newWorld(time.Hour, "staging", "production")
	w.release("v1").release("v2").release("v3")
	w.deployed("staging", "v1", DeploymentSucceeded, t0)
	w.deployed("production", "v1", DeploymentSucceeded, t0)
	w.deployed("staging", "v3", DeploymentSucceeded, t0.Add(time.Minute))
	w.superseded("staging", "v2")
	w.deployed("staging", "v2", DeploymentSucceeded, t0.Add(2*time.Minute))
	w.st.Deployments[len(w.st.Deployments)-1].Kind = KindBisect
	w.deployed("staging", "v3", DeploymentSucceeded, t0.Add(3*time.Minute))
	w.st.Deployments[len(w.st.Deployments)-1].Kind = KindBisect
	d := Decide(w.st, t0.Add(2*time.Hour))
	require.Equal(t, map[string]string{"production": "v3"}, promoted(d))
	_, ok := BakeStart(w.st, "staging", w.rid("v2"))
	require.False(t, ok, "a probe starts no bake")
}
