package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// TestBrakesEndToEnd drives every brake and override through the CLI
// against a real server: lock, release twice (staging gets both,
// production none), unlock (production gets the newest), emergency deploy
// during the incident lock, rollback, and a new release promoting past the
// rejected one.
func TestBrakesEndToEnd(t *testing.T) {
	t.Parallel()
	forBothDatabases(t, func(t *testing.T, postgres bool) {
		const bake = 2 * time.Second
		w := newWorld(t, worldOpts{postgres: postgres, bake: bake})
		w.start()
		run := func(args ...string) string {
			t.Helper()
			out, stderr, err := w.bakery(nil, args...)
			require.NoError(t, err, "bakery %v: %s", args, stderr)
			return out
		}
		fails := func(want string, env []string, args ...string) {
			t.Helper()
			_, stderr, err := w.bakery(env, args...)
			require.Error(t, err, "bakery %v must fail", args)
			require.Contains(t, stderr, want)
		}

		fails("--reason is required", nil, "lock", "web", "production")
		out := run("lock", "web", "production", "--reason", "checkout errors")
		require.Contains(t, out, "locked web/production")
		fails("locked already by bootstrap", nil, "lock", "web", "production", "--reason", "again")

		for _, v := range []string{"v1", "v2"} {
			run("release", "create", "web", v)
			w.eventually(20*time.Second, v+" in staging", func() bool { return w.version("web", "staging") == v })
		}
		time.Sleep(bake + time.Second)
		require.Equal(t, "", w.version("web", "production"), "the lock holds production")
		require.Equal(t, "v2", w.version("web", "staging"), "staging never waits for production")
		st := w.status("web")
		require.True(t, st.Environments[1].Locked)
		require.Equal(t, "lock", st.Environments[1].Waiting.Kind)
		require.Equal(t, 2, st.Environments[1].Queue)
		require.Equal(t, "checkout errors", st.Environments[1].Locks[0].Reason)
		require.Contains(t, run("status", "web"), "locked by bootstrap")

		out = run("unlock", "web", "production", "--reason", "fixed forward")
		require.Contains(t, out, "unlocked web/production")
		w.eventually(20*time.Second, "v2 in production", func() bool { return w.version("web", "production") == "v2" })
		require.Zero(t, w.count("start", "production", "v1"), "v1 was superseded, never deployed to production")

		// The incident button, then break glass.
		run("lock", "--all", "production", "--reason", "incident 42")
		var deployer struct{ Token string }
		require.Equal(t, 201, w.call(adminToken, "POST", "/api/v1/tokens", map[string]any{"name": "dev", "role": "deployer"}, &deployer))
		fails("created with --emergency", []string{"BAKERY_TOKEN=" + deployer.Token}, "emergency", "web", "fix1", "--artifact", "img:fix1", "--reason", "x")
		var oncall struct{ Token string }
		require.Equal(t, 201, w.call(adminToken, "POST", "/api/v1/tokens", map[string]any{"name": "oncall", "role": "deployer", "emergency": true}, &oncall))
		fails("--reason is required", []string{"BAKERY_TOKEN=" + oncall.Token}, "emergency", "web", "fix1", "--artifact", "img:fix1")
		out, stderr, err := w.bakery([]string{"BAKERY_TOKEN=" + oncall.Token}, "emergency", "web", "fix1", "--artifact", "img:fix1", "--reason", "revert the parser")
		require.NoError(t, err, stderr)
		require.Contains(t, out, "emergency deploy of fix1 to production started")
		w.eventually(20*time.Second, "fix1 in production", func() bool { return w.version("web", "production") == "fix1" })
		emergency := findEvent(w.events("web"), "emergency.decided", "production", "fix1")
		require.Equal(t, "oncall", emergency.Actor)
		require.Equal(t, "revert the parser", emergency.Reason)
		require.Equal(t, "v2", emergency.FromVersion)

		// Roll back the fix: v2 returns, fix1 is rejected for good.
		fails("--reason is required", nil, "rollback", "web", "production")
		out = run("rollback", "web", "production", "--reason", "fix1 made it worse")
		require.Contains(t, out, "back to v2")
		require.Contains(t, out, "fix1 is rejected")
		w.eventually(20*time.Second, "v2 back in production", func() bool { return w.version("web", "production") == "v2" })

		// A new release bakes; unlocking both locks lets it pass the
		// rejected fix1 (which is in staging too and baked long ago).
		run("release", "create", "web", "v3")
		w.eventually(20*time.Second, "v3 in staging", func() bool { return w.version("web", "staging") == "v3" })
		run("unlock", "--all", "production")
		time.Sleep(bake + time.Second)
		require.Equal(t, "v2", w.version("web", "production"), "the emergency deploy's own lock still holds")
		out = run("status", "web", "--json")
		var sv api.ServiceView
		require.NoError(t, json.Unmarshal([]byte(out), &sv))
		require.Equal(t, "emergency deploy of fix1", sv.Environments[1].Locks[0].Reason)
		run("unlock", "web", "production")
		w.eventually(20*time.Second, "v3 in production", func() bool { return w.version("web", "production") == "v3" })
		require.Equal(t, 1, w.count("start", "production", "fix1"), "the rejected release never came back")

		// skip-bake: the newest waiting release goes before its bake ends.
		require.NoError(t, func() error { _, _, err := w.bakery(nil, "release", "create", "web", "v4"); return err }())
		w.eventually(20*time.Second, "v4 in staging", func() bool { return w.version("web", "staging") == "v4" })
		fails("--reason is required", nil, "skip-bake", "web", "production")
		run("skip-bake", "web", "production", "--reason", "tiny copy change")
		w.eventually(20*time.Second, "v4 in production", func() bool { return w.version("web", "production") == "v4" })
		skipped := findEvent(w.events("web"), "bake.skipped", "production", "v4")
		require.Equal(t, "tiny copy change", skipped.Reason)

		// A viewer may look but not brake.
		var viewer struct{ Token string }
		require.Equal(t, 201, w.call(adminToken, "POST", "/api/v1/tokens", map[string]any{"name": "eye", "role": "viewer"}, &viewer))
		fails("needs deployer", []string{"BAKERY_TOKEN=" + viewer.Token}, "lock", "web", "production", "--reason", "x")

		// Everything above is on the record with actors and reasons.
		out = run("history", "web")
		for _, want := range []string{"lock.placed", "lock.released", "emergency.decided", "rollback.decided", "release.rejected", "bake.skipped", "incident 42"} {
			require.Contains(t, out, want)
		}
	})
}
