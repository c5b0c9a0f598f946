package e2e

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCrashMidBake kills the server with SIGKILL while a release bakes in
// staging and starts it again: the bake resumes with its original deadline
// (rules 2 and 10), and the release reaches production exactly once.
func TestCrashMidBake(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		const bake = 8 * time.Second
		w := newWorld(t, worldOpts{postgres: postgres, bake: bake})
		w.start()
		w.release("web", "v1")
		w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
		stagingDone := findEvent(w.events("web"), "deployment.succeeded", "staging", "v1").At
		time.Sleep(time.Second)
		w.kill()
		restartedAt := time.Now()
		w.start()
		w.eventually(40*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })

		events := w.events("web")
		decided := findEvent(events, "promotion.decided", "production", "v1")
		deadline, err := time.Parse(time.RFC3339Nano, decided.Data["bake_deadline"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, stagingDone.Add(bake), deadline, time.Millisecond, "the deadline is the original one")
		require.False(t, decided.At.Before(deadline))
		// Had the restart reset the bake, production could not have been
		// decided before restart+bake.
		require.True(t, decided.At.Before(restartedAt.Add(bake)), "bake was reset by the restart: decided %s, restarted %s", decided.At, restartedAt)
		require.Equal(t, 1, w.count("start", "production", "v1"), "deployed to production exactly once:\n%s", w.deployLog())
		require.Equal(t, 1, w.count("start", "staging", "v1"))
	})
}

// TestCrashMidDeploy kills the server while the production deploy command
// runs. The command dies with it; after the restart the deployment is not
// forgotten: it is retried as attempt 2 and succeeds, and there is still one
// production deployment, not two.
func TestCrashMidDeploy(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		w := newWorld(t, worldOpts{postgres: postgres, bake: 0, env: []string{"SLEEP_production=3"}})
		w.start()
		w.release("web", "v1")
		w.eventually(30*time.Second, "production deploy running", func() bool { return w.count("start", "production", "v1") == 1 })
		w.kill()
		var firstPID string
		for _, l := range w.deployLines() {
			if l.what == "start" && l.env == "production" {
				firstPID = l.pid
			}
		}
		// Pdeathsig: the deploy command does not outlive the server.
		w.eventually(5*time.Second, "attempt 1's command died with the server", func() bool { return !processAlive(t, firstPID) })

		w.start()
		w.eventually(60*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
		deps := w.deployments("web", "production")
		require.Len(t, deps, 1, "an interrupted deployment is retried, not duplicated")
		require.Equal(t, 2, deps[0].Attempt)
		require.Equal(t, "succeeded", deps[0].State)
		require.Equal(t, 2, w.count("start", "production", "v1"))
		require.Equal(t, 1, w.count("end", "production", "v1"), "attempt 1 never finished:\n%s", w.deployLog())
		interrupted := findEvent(w.events("web"), "deployment.interrupted", "production", "v1")
		require.NotNil(t, interrupted, "the interruption is on the record")
		require.Contains(t, interrupted.Reason, "starting attempt 2")
	})
}
