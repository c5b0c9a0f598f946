package e2e

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/github"
	"github.com/bakery-deploy/bakery/internal/github/githubtest"
)

const (
	ghSecret = "e2e webhook secret, not a real one"
	ghToken  = "github_pat_e2e_not_a_real_token"
)

// githubWorld is a bakery whose web service is released by GitHub push
// webhooks and reports back to a fake GitHub running in this process.
func githubWorld(t *testing.T, bake string) (*world, *githubtest.Server) {
	t.Helper()
	fake := githubtest.New(ghToken, "octo-org/octo-repo")
	t.Cleanup(fake.Close)
	w := newWorld(t, worldOpts{bake: time.Hour, env: []string{"E2E_GH_SECRET=" + ghSecret, "E2E_GH_TOKEN=" + ghToken}})
	cfg := fmt.Sprintf(`server:
  addr: %s
  url: https://bakery.example.com
  inherit_env: [%s]
github:
  api_url: %s
  webhook_secret_env: E2E_GH_SECRET
  token_env: E2E_GH_TOKEN
services:
  - name: web
    repository: https://github.com/octo-org/octo-repo
    artifact: "registry.example.com/web:{short_sha}"
    trigger:
      github: {on: push, branch: main}
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh"]
          timeout: 1m
      - name: production
        bake: %s
        deploy:
          command: ["./deploy.sh"]
          timeout: 1m
`, w.addr, testInheritEnv, fake.URL, bake)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	return w, fake
}

func shaOf(i int) string {
	s := sha1.Sum([]byte(fmt.Sprintf("commit %d", i)))
	return hex.EncodeToString(s[:])
}

// push delivers a signed push of sha to main, as GitHub does.
func (w *world) push(t *testing.T, sha, delivery string) map[string]any {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"ref": "refs/heads/main", "before": strings.Repeat("a", 40), "after": sha, "deleted": false,
		"repository": map[string]any{"full_name": "octo-org/octo-repo", "html_url": "https://github.com/octo-org/octo-repo"},
		"head_commit": map[string]any{"id": sha, "message": "change " + sha[:7], "timestamp": "2026-11-25T12:00:00Z",
			"author": map[string]any{"name": "Ana Lima", "email": "ana@example.com", "username": "ana"}},
		"commits": []map[string]any{{"id": sha, "added": []string{}, "modified": []string{"main.go"}, "removed": []string{}}},
	})
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, "http://"+w.addr+github.WebhookPath, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-Hub-Signature-256", github.Sign(ghSecret, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%v", out)
	return out
}

func pct(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(float64(len(s)-1) * p)
	return s[i]
}

// TestGitHubWebhookToStagingAndStatuses: a signed push makes a release
// that starts deploying to staging, and the commit's statuses and
// deployments reach GitHub.
func TestGitHubWebhookToStagingAndStatuses(t *testing.T) {
	t.Parallel()
	w, fake := githubWorld(t, "1h")
	w.start()
	const n = 20
	var toStaging, lag []time.Duration
	for i := 0; i < n; i++ {
		sha := shaOf(i)
		sent := time.Now()
		out := w.push(t, sha, fmt.Sprintf("delivery-%d", i))
		require.Len(t, out["created"], 1, "%v", out)
		var started time.Time
		w.eventually(60*time.Second, "staging deploy of "+sha, func() bool {
			for _, l := range w.deployLines() {
				if l.what == "start" && l.env == "staging" && l.version == sha {
					started = l.at
					return true
				}
			}
			return false
		})
		toStaging = append(toStaging, started.Sub(sent))
		w.eventually(60*time.Second, "staging deploy of "+sha+" ends", func() bool { return w.count("end", "staging", sha) == 1 })
	}
	// A redelivery is processed once.
	out := w.push(t, shaOf(0), "delivery-0")
	require.Equal(t, true, out["duplicate"])

	// Every commit's bakery/staging status reaches GitHub after its
	// staging deploy succeeded; the lag is from the event to GitHub's
	// receipt.
	events := w.events("web")
	for i := 0; i < n; i++ {
		sha := shaOf(i)
		var at time.Time
		for _, ev := range events {
			if ev.Type == "deployment.succeeded" && ev.Environment == "staging" && (ev.Version == sha || ev.ToVersion == sha) {
				at = ev.At
			}
		}
		require.False(t, at.IsZero(), "staging deploy of %s succeeded; events: %+v", sha, events)
		var got time.Time
		w.eventually(60*time.Second, "bakery/staging success of "+sha, func() bool {
			for _, c := range fake.Calls() {
				if c.Status == http.StatusCreated && c.Path == "/repos/octo-org/octo-repo/statuses/"+sha && c.Body["context"] == "bakery/staging" && c.Body["state"] == "success" {
					got = c.At
					return true
				}
			}
			return false
		})
		lag = append(lag, got.Sub(at))
		require.NotEmpty(t, fake.Deployments(sha), "a GitHub deployment for %s", sha)
	}
	w.eventually(60*time.Second, "the newest commit baking", func() bool {
		st := fake.Statuses(shaOf(n - 1))
		return st["bakery/staging"].State == "success" && st["bakery/production"].State == "pending" &&
			strings.HasPrefix(st["bakery/production"].Description, "baking")
	})
	// An older commit, replaced by the newer ones in staging: its status
	// says so. (Its sync after the next deployment started could run
	// while it still ran there; the deployment's success syncs it again.)
	w.eventually(60*time.Second, "the oldest commit was in staging", func() bool {
		return strings.HasPrefix(fake.Statuses(shaOf(0))["bakery/staging"].Description, "was in staging")
	})
	t.Logf("FIGURE webhook received → staging deploy command started: p50 %s, p99 %s (%d deliveries, sequential)",
		pct(toStaging, .5).Round(time.Millisecond), pct(toStaging, .99).Round(time.Millisecond), n)
	t.Logf("FIGURE GitHub status lag behind the event (deployment.succeeded → bakery/staging success received): p50 %s, p99 %s (%d commits)",
		pct(lag, .5).Round(time.Millisecond), pct(lag, .99).Round(time.Millisecond), n)

	// The delivery log is on the record for admins.
	var dl struct {
		Deliveries []map[string]any `json:"deliveries"`
	}
	require.Equal(t, http.StatusOK, w.call(adminToken, "GET", "/api/v1/github/deliveries", nil, &dl))
	require.Len(t, dl.Deliveries, n+1)
	require.Equal(t, "duplicate", dl.Deliveries[0]["outcome"])
	require.NotContains(t, fmt.Sprint(dl), ghSecret)
}

// TestGitHubOutageDuringPromotion: GitHub answers 503 while a release
// bakes and is promoted; the promotion is on time, and the statuses
// arrive once GitHub is back.
func TestGitHubOutageDuringPromotion(t *testing.T) {
	t.Parallel()
	w, fake := githubWorld(t, "3s")
	w.start()
	sha := shaOf(100)
	fake.Outage(http.StatusServiceUnavailable)
	w.push(t, sha, "outage-1")
	w.eventually(60*time.Second, "production deploy ends", func() bool { return w.count("end", "production", sha) == 1 })
	var stagingEnd, prodStart time.Time
	for _, l := range w.deployLines() {
		if l.version == sha && l.what == "end" && l.env == "staging" {
			stagingEnd = l.at
		}
		if l.version == sha && l.what == "start" && l.env == "production" {
			prodStart = l.at
		}
	}
	// The production deploy ran to its end while GitHub was still down:
	// the outage blocked nothing. How late after the bake it started is
	// the figure (a loaded machine adds to it, GitHub does not).
	late := prodStart.Sub(stagingEnd) - 3*time.Second
	require.False(t, prodStart.IsZero() || stagingEnd.IsZero(), "both deploys are on the log")
	require.GreaterOrEqual(t, late, time.Duration(0), "the promotion waited for its bake")
	// No bound on how late: on a machine running the whole suite a start
	// has been seen 10 s late, GitHub or not. What matters is above: the
	// production deploy ran to its end while GitHub was still down.
	// The service says GitHub is behind (once a sync job has met the
	// outage; on a loaded machine that may come after the deploy).
	w.eventually(60*time.Second, "the service says GitHub is behind", func() bool {
		s := w.status("web")
		return s.GitHub != nil && strings.Contains(s.GitHub.Message, "GitHub statuses are behind")
	})
	failed := 0
	for _, c := range fake.Calls() {
		if c.Status == http.StatusServiceUnavailable {
			failed++
		}
	}
	require.NotZero(t, failed, "bakery tried GitHub during the outage")
	require.Empty(t, fake.Statuses(sha))

	fake.Outage(0)
	w.eventually(2*time.Minute, "statuses after the outage", func() bool {
		st := fake.Statuses(sha)
		return st["bakery/production"].State == "success" && st["bakery/staging"].State == "success"
	})
	require.Equal(t, "in production since", fake.Statuses(sha)["bakery/production"].Description[:19])
	deps := fake.Deployments(sha)
	require.Len(t, deps, 2)
	require.True(t, deps[1].ProductionEnvironment)
	w.eventually(time.Minute, "health back", func() bool { return w.status("web").GitHub == nil })
	t.Logf("FIGURE promotion during a GitHub outage: production deploy started %s after its 3s bake ended (GitHub answered 503 to %d calls meanwhile)",
		late.Round(time.Millisecond), failed)
}
