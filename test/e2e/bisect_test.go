package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// bisectDeploy writes the version an environment runs to a file the
// check reads, and logs like deployScript (so w.count works).
const bisectDeploy = `#!/bin/sh
echo "start $BAKERY_ENVIRONMENT $BAKERY_VERSION $BAKERY_ATTEMPT $$ $(date +%%s.%%N)" >> %[1]q
if [ "$BAKERY_ENVIRONMENT" = staging ] && [ -f %[2]q ]; then sleep "$(cat %[2]q)"; fi
echo "$BAKERY_VERSION" > %[3]q/"$BAKERY_ENVIRONMENT".version
echo "end $BAKERY_ENVIRONMENT $BAKERY_VERSION $BAKERY_ATTEMPT $$ $(date +%%s.%%N)" >> %[1]q
`

// bisectCheck fails from v5 on (the version staging runs, read from the
// file the deploy wrote); with the flaky file present it also fails every
// third run whatever the version; with the slow file it sleeps first.
// Every run is logged.
const bisectCheck = `#!/bin/sh
dir=%[1]q
v=$(cat "$dir/staging.version")
echo "check $v" >> "$dir/checks.log"
if [ -f "$dir/slow" ]; then sleep "$(cat "$dir/slow")"; fi
if [ -f "$dir/flaky" ]; then
  n=$(cat "$dir/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$dir/count"
  if [ $((n %% 3)) -eq 0 ]; then echo "flaked on run $n"; exit 1; fi
  exit 0
fi
case "$v" in v5|v6|v7|v8) echo "GET /checkout answered 500 on $v"; exit 3;; esac
echo "ok on $v"
`

func newBisectWorld(t *testing.T, postgres bool) *world {
	w := newWorld(t, worldOpts{postgres: postgres})
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "deploy.sh"),
		[]byte(fmt.Sprintf(bisectDeploy, w.log, filepath.Join(w.dir, "deploy-sleep"), w.dir)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "check.sh"), []byte(fmt.Sprintf(bisectCheck, w.dir)), 0o755))
	cfg := fmt.Sprintf(`server:
  addr: %s
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh"]
      - name: production
        bake: 1s
        checks:
          - name: smoke
            interval: 1h
            command: ["./check.sh"]
        deploy:
          command: ["./deploy.sh"]
`, w.addr)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	return w
}

// pileUp puts v1 in production, locks production, and piles v2..v8 up
// behind the lock, each deployed to staging in turn.
func pileUp(t *testing.T, w *world) {
	w.release("web", "v1")
	w.eventually(30*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/environments/production/lock",
		api.LockRequest{Reason: "release freeze"}, nil))
	for i := 2; i <= 8; i++ {
		v := fmt.Sprintf("v%d", i)
		w.release("web", v)
		w.eventually(30*time.Second, v+" in staging", func() bool { return w.version("web", "staging") == v })
	}
}

func (w *world) release1(version string) api.ReleaseView {
	var p api.ReleaseProgress
	require.Equal(w.t, 200, w.call(adminToken, "GET", "/api/v1/services/web/releases/"+version, nil, &p))
	return p.Release
}

// TestBisectFindsTheFifth: eight releases piled behind a lock, a check that
// fails from the fifth on: `bakery bisect` names v5 in at most ⌈log2 8⌉+1
// probes, rejects it with an event naming the check and the evidence,
// production is never touched, and staging ends where it started.
func TestBisectFindsTheFifth(t *testing.T) {
	t.Parallel()
	w := newBisectWorld(t, false)
	w.start()
	pileUp(t, w)
	prodDeploys := w.count("start", "production", "")

	out, stderr, err := w.bakery(nil, "bisect", "web", "--good", "v1", "--bad", "v8", "--check", "smoke", "--repeat", "2", "--json")
	require.NoError(t, err, "stdout: %s\nstderr: %s", out, stderr)
	var res map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Len(t, res, 3, "exactly culprit, tried, deploys: %s", out)
	require.Equal(t, "v5", res["culprit"])
	tried := res["tried"].([]any)
	require.LessOrEqual(t, len(tried), 4, "at most ⌈log2 8⌉+1 probes: %s", out)
	for _, p := range tried {
		m := p.(map[string]any)
		require.Len(t, m, 2, "version and outcome: %s", out)
		require.Contains(t, []string{"healthy", "failing"}, m["outcome"])
	}
	require.Equal(t, map[string]any{"version": "v8", "outcome": "failing"}, tried[0], "the bad version first, no deploy needed")

	w.eventually(30*time.Second, "staging back on v8", func() bool {
		return w.version("web", "staging") == "v8" && w.status("web").Environments[0].Deployment == nil
	})
	// deploys: one per probe that needed one, and the return to v8.
	probed := len(tried) - 1
	require.Equal(t, float64(probed+1), res["deploys"])
	require.True(t, w.release1("v5").Rejected, "the culprit is rejected (rule 7)")
	require.False(t, w.release1("v4").Rejected)
	require.False(t, w.release1("v6").Rejected)
	require.Equal(t, prodDeploys, w.count("start", "production", ""), "nothing left staging while the lock held")

	culprit := findEvent(w.events("web"), "bisect.culprit", "staging", "v5")
	require.NotNil(t, culprit)
	require.Equal(t, "smoke", culprit.Data["check"])
	require.Contains(t, culprit.Data["evidence"], "GET /checkout answered 500 on v5")
	require.NotNil(t, findEvent(w.events("web"), "release.rejected", "", "v5"))

	// Progress as people read it (not --json), on a second bisect that
	// has nothing to find: the check passes on its bad version.
	out, _, err = w.bakery(nil, "bisect", "web", "--good", "v1", "--bad", "v4", "--check", "smoke", "--repeat", "1")
	require.Error(t, err)
	require.Contains(t, out, "probing v4")
	require.Contains(t, out, "stuck: the check passes on the bad version v4")
	w.eventually(30*time.Second, "staging back on v8 again", func() bool {
		return w.version("web", "staging") == "v8" && w.status("web").Environments[0].Deployment == nil
	})
	// --restore good: staging ends on the newest release found healthy.
	out, stderr, err = w.bakery(nil, "bisect", "web", "--good", "v1", "--bad", "v6", "--check", "smoke", "--repeat", "1", "--restore", "good", "--json")
	require.NoError(t, err, "stdout: %s\nstderr: %s", out, stderr)
	require.Contains(t, out, `"culprit":"v5"`)
	w.eventually(30*time.Second, "staging on the newest good release, v4", func() bool {
		return w.version("web", "staging") == "v4" && w.status("web").Environments[0].Deployment == nil
	})
	// Bad input is refused with what to give instead.
	_, stderr, err = w.bakery(nil, "bisect", "web", "--good", "v8", "--bad", "v1", "--check", "smoke")
	require.Error(t, err)
	require.Contains(t, stderr, "not newer than the good version")
	_, stderr, err = w.bakery(nil, "bisect", "web", "--good", "v1", "--bad", "v8", "--check", "nope")
	require.Error(t, err)
	require.Contains(t, stderr, `no check named "nope"`)
}

// TestBisectFlakyCheck: a check that fails one run in three makes a probe's
// runs disagree: the probe is reported inconclusive and the search stops
// there, naming no culprit and rejecting nothing.
func TestBisectFlakyCheck(t *testing.T) {
	t.Parallel()
	w := newBisectWorld(t, false)
	w.start()
	pileUp(t, w)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "flaky"), nil, 0o644))
	out, stderr, err := w.bakery(nil, "bisect", "web", "--good", "v1", "--bad", "v8", "--check", "smoke", "--json")
	require.Error(t, err, "no culprit: a failure")
	require.Contains(t, stderr, "stuck without a culprit")
	require.Contains(t, stderr, "flaky")
	var res struct {
		Culprit string `json:"culprit"`
		Tried   []struct {
			Version, Outcome string
		} `json:"tried"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &res), out)
	require.Empty(t, res.Culprit)
	require.NotEmpty(t, res.Tried)
	require.Equal(t, "inconclusive", res.Tried[len(res.Tried)-1].Outcome)
	for i := 2; i <= 8; i++ {
		require.False(t, w.release1(fmt.Sprintf("v%d", i)).Rejected)
	}
	w.eventually(30*time.Second, "staging back on v8", func() bool {
		return w.version("web", "staging") == "v8" && w.status("web").Environments[0].Deployment == nil
	})
}

// TestBisectSurvivesSIGKILL: the server is killed while a probe's check
// runs; the restarted server takes the bisect's durable jobs up again and
// it ends with the culprit, staging back where it was. Also: a lock placed
// on staging during a bisect stops it before its next probe deploy.
func TestBisectSurvivesSIGKILL(t *testing.T) {
	t.Parallel()
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			w := newBisectWorld(t, db == "postgres")
			w.start()
			pileUp(t, w)
			require.NoError(t, os.WriteFile(filepath.Join(w.dir, "slow"), []byte("2"), 0o644))
			var out struct {
				Bisect api.BisectView `json:"bisect"`
			}
			require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/bisects",
				api.BisectRequest{Good: "v1", Bad: "v8", Check: "smoke", Repeat: 1}, &out))
			id := out.Bisect.ID
			path := fmt.Sprintf("/api/v1/services/web/bisects/%d", id)
			checks := func() int {
				b, _ := os.ReadFile(filepath.Join(w.dir, "checks.log"))
				return strings.Count(string(b), "check ")
			}
			w.eventually(60*time.Second, "the second probe's check running", func() bool { return checks() >= 2 })
			// The hold: production's wait names the bisect.
			require.Contains(t, w.status("web").Environments[1].Waiting.Message, "bisect of web in progress")
			w.kill()
			w.start()
			w.eventually(90*time.Second, "the bisect ends", func() bool {
				require.Equal(t, 200, w.call(adminToken, "GET", path, nil, &out))
				return out.Bisect.State != "running"
			})
			require.Equal(t, "found", out.Bisect.State, out.Bisect.Result)
			require.Equal(t, "v5", out.Bisect.Culprit)
			w.eventually(30*time.Second, "staging back on v8", func() bool {
				return w.version("web", "staging") == "v8" && w.status("web").Environments[0].Deployment == nil
			})
			require.NotNil(t, findEvent(w.events("web"), "job.rescued", "", ""), "the check's job was taken up again")

			// A lock on staging during a bisect stops its next probe.
			require.NoError(t, os.Remove(filepath.Join(w.dir, "slow")))
			require.NoError(t, os.WriteFile(filepath.Join(w.dir, "deploy-sleep"), []byte("2"), 0o644))
			require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/bisects",
				api.BisectRequest{Good: "v1", Bad: "v6", Check: "smoke", Repeat: 1}, &out))
			path = fmt.Sprintf("/api/v1/services/web/bisects/%d", out.Bisect.ID)
			require.Equal(t, "v6", out.Bisect.Probe)
			require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/environments/staging/lock",
				api.LockRequest{Reason: "hands off staging"}, nil))
			w.eventually(60*time.Second, "the bisect stops at the lock", func() bool {
				require.Equal(t, 200, w.call(adminToken, "GET", path, nil, &out))
				return out.Bisect.State != "running"
			})
			require.Equal(t, "stuck", out.Bisect.State)
			require.Contains(t, out.Bisect.Result, "hands off staging")
			require.Len(t, out.Bisect.Tried, 1, "v6 probed; no probe deployed after the lock")
			require.Equal(t, 1, w.count("start", "staging", "v3"), "v3 deployed once, in the pile-up, not as the next probe")
			require.Equal(t, "v6", w.version("web", "staging"), "a locked staging stays where the bisect left it")
		})
	}
}

// TestCulpritFinding: production's culprit_finding starts a bisect by
// itself when its check fails the bake of a release with more than one
// release since production's version, and names v5.
func TestCulpritFinding(t *testing.T) {
	t.Parallel()
	w := newBisectWorld(t, false)
	cfg, err := os.ReadFile(w.config)
	require.NoError(t, err)
	cfg = []byte(strings.Replace(string(cfg), "            interval: 1h\n            command: [\"./check.sh\"]\n",
		"            interval: 1s\n            command: [\"./check.sh\"]\n        culprit_finding: {check: smoke, repeat: 1}\n", 1))
	require.Contains(t, string(cfg), "culprit_finding")
	require.NoError(t, os.WriteFile(w.config, cfg, 0o644))
	w.start()
	w.release("web", "v1")
	w.eventually(30*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/environments/production/lock",
		api.LockRequest{Reason: "release freeze"}, nil))
	for i := 2; i <= 8; i++ {
		w.release("web", fmt.Sprintf("v%d", i))
	}
	w.eventually(60*time.Second, "culprit finding names v5", func() bool {
		return findEvent(w.events("web"), "bisect.culprit", "staging", "v5") != nil
	})
	started := findEvent(w.events("web"), "bisect.started", "staging", "")
	require.NotNil(t, started)
	require.Equal(t, "bakery", started.Actor)
	require.Contains(t, started.Reason, "culprit finding: check smoke failed the bake of")
	require.True(t, w.release1("v5").Rejected)
	w.eventually(30*time.Second, "staging back on v8", func() bool {
		return w.version("web", "staging") == "v8" && w.status("web").Environments[0].Deployment == nil
	})
	// The same failure again starts no second bisect of the same range.
	time.Sleep(3 * time.Second)
	n := 0
	for _, ev := range w.events("web") {
		if ev.Type == "bisect.started" {
			n++
		}
	}
	require.Equal(t, 1, n)
}
