package pipeline

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func queueStates(q []QueueEntry) map[string]ReleaseState {
	out := map[string]ReleaseState{}
	for _, e := range q {
		out[e.Release.Version] = e.State
	}
	return out
}

// TestBakeStartIsTheFirstSuccess is rule 2 as BakeStart reads it: a second
// deployment of the same release below (a redeploy) does not reset its
// bake, and the start is the one Decide promotes on.
func TestBakeStartIsTheFirstSuccess(t *testing.T) {
	t.Parallel()
	w := newWorld(time.Hour, "staging", "production").release("v1").
		deployed("staging", "v1", DeploymentSucceeded, t0).
		deployed("staging", "v1", DeploymentSucceeded, t0.Add(30*time.Minute))
	start, ok := BakeStart(w.st, "staging", w.rid("v1"))
	require.True(t, ok)
	require.Equal(t, t0, start)
	_, ok = BakeStart(w.st, "production", w.rid("v1"))
	require.False(t, ok, "it never ran in production")

	d := Decide(w.st, t0.Add(time.Hour))
	require.Len(t, d.Promotions, 1)
	require.Equal(t, start, d.Promotions[0].BakeStarted)
}

// TestQueueStates: what the queue says of releases that Decide passes
// over, and of ones on their way.
func TestQueueStates(t *testing.T) {
	t.Parallel()
	now := t0.Add(3 * time.Hour)
	w := newWorld(time.Hour, "staging", "production").release("v1").release("v2").release("v3").release("v4").release("v5").
		deployed("staging", "v1", DeploymentSucceeded, t0).
		deployed("production", "v1", DeploymentSucceeded, t0.Add(time.Hour)).
		deployed("staging", "v2", DeploymentSucceeded, t0.Add(70*time.Minute)).
		deployed("production", "v2", DeploymentFailed, t0.Add(2*time.Hour+10*time.Minute)).
		deployed("staging", "v3", DeploymentFailed, t0.Add(2*time.Hour)).
		deployed("staging", "v4", DeploymentSucceeded, now.Add(-10*time.Minute)).
		deployed("staging", "v5", DeploymentRunning, now.Add(-time.Minute))
	q := Queue(w.st, 1, now)
	require.Equal(t, map[string]ReleaseState{"v1": ReleaseLive, "v2": ReleaseFailed, "v3": ReleaseFailedBelow,
		"v4": ReleaseBaking, "v5": ReleaseBelow}, queueStates(q))
	require.Equal(t, "v5", q[0].Release.Version, "newest first")
	require.NotNil(t, q[0].Deployment, "a release deploying below carries its deployment")
	require.Equal(t, now.Add(-10*time.Minute+time.Hour), q[1].BakeEnd)
	require.Nil(t, Queue(w.st, 0, now), "the first environment has no queue")
	require.True(t, ReleaseBaking.Waiting())
	require.False(t, ReleaseFailedBake.Waiting())
}

// TestUpToDateNamesTheReleaseOnItsWay: right after a release is created
// (nothing in staging yet), production is not "up to date": it waits for
// that release to reach staging, and says so.
func TestUpToDateNamesTheReleaseOnItsWay(t *testing.T) {
	t.Parallel()
	w := newWorld(time.Hour, "staging", "production").release("v1").
		deployed("staging", "v1", DeploymentSucceeded, t0).
		deployed("production", "v1", DeploymentSucceeded, t0.Add(time.Hour)).
		release("v2")
	d := Decide(w.st, t0.Add(2*time.Hour))
	require.Equal(t, WaitRelease, d.Environments[1].Wait.Kind)
	require.Equal(t, "v2", d.Environments[1].Wait.Version)
	require.Equal(t, "waiting for v2 to reach staging", d.Environments[1].Wait.Message)

	// Once it failed in staging it is not on its way any more.
	w.deployed("staging", "v2", DeploymentFailed, t0.Add(2*time.Hour))
	d = Decide(w.st, t0.Add(3*time.Hour))
	require.Equal(t, WaitNothing, d.Environments[1].Wait.Kind)
	require.Equal(t, "up to date", d.Environments[1].Wait.Message)
}
