package github

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/github/githubtest"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

const token = "github_pat_11TESTTOKEN"

// syncSetup runs the engine with the integration subscribed and calling
// a fake GitHub.
func syncSetup(t *testing.T, mutate func(*config.Config)) (*bundle, *githubtest.Server) {
	t.Helper()
	fake := githubtest.New(token, "octo-org/octo-repo")
	t.Cleanup(fake.Close)
	tokenEnv := "BAKERY_TEST_GH_TOKEN_" + strings.NewReplacer("/", "_", "-", "_").Replace(strings.ToUpper(t.Name()))
	require.NoError(t, os.Setenv(tokenEnv, token))
	t.Cleanup(func() { _ = os.Unsetenv(tokenEnv) })
	b := setup(t, func(cfg *config.Config) {
		cfg.GitHub.APIURL = fake.URL
		cfg.GitHub.TokenEnv = tokenEnv
		if mutate != nil {
			mutate(cfg)
		}
	}, true, fake.Client())
	return b, fake
}

// waitFor waits, on the fake's signals, until cond holds; it fails the
// test if it never does.
func waitFor(t *testing.T, fake *githubtest.Server, what string, cond func() bool) {
	t.Helper()
	// Generous: the machine running the tests may be loaded.
	deadline := time.After(2 * time.Minute)
	for !cond() {
		select {
		case <-fake.Changed():
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s; calls: %+v", what, fake.Calls())
		}
	}
}

func TestSyncDeploymentsAndStatusesFollowTheRelease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, nil)
	_, a := b.deliver(t, "push", "s-1", fixture(t, "push.json"), "")
	require.Len(t, a.Created, 1)

	waitFor(t, fake, "staging live and production baking", func() bool {
		st := fake.Statuses(headSHA)
		return st["bakery/staging"].State == "success" && strings.HasPrefix(st["bakery/production"].Description, "baking")
	})
	st := fake.Statuses(headSHA)
	require.Equal(t, "in staging since 17:10 UTC", st["bakery/staging"].Description)
	require.Equal(t, "baking 0 min of 60 min in staging — promotes at 18:10 UTC", st["bakery/production"].Description)
	require.Equal(t, "pending", st["bakery/production"].State)
	require.Equal(t, "https://bakery.example.com/services/web", st["bakery/staging"].TargetURL)
	deps := fake.Deployments(headSHA)
	require.Len(t, deps, 1)
	d := deps[0]
	require.Equal(t, "staging", d.Environment)
	require.False(t, d.ProductionEnvironment)
	require.False(t, d.TransientEnvironment)
	require.False(t, d.AutoMerge)
	require.Equal(t, []string{}, d.RequiredContexts)
	require.Equal(t, "success", d.Statuses[len(d.Statuses)-1].State)
	require.Contains(t, d.Statuses[len(d.Statuses)-1].LogURL, "https://bakery.example.com/services/web#deployment-")

	// Every call carries the documented headers.
	for _, c := range fake.Calls() {
		require.Equal(t, "Bearer "+token, c.Header.Get("Authorization"))
		require.Equal(t, "application/vnd.github+json", c.Header.Get("Accept"))
		require.Equal(t, "2022-11-28", c.Header.Get("X-GitHub-Api-Version"))
		require.NotEmpty(t, c.Header.Get("User-Agent"))
	}

	// A lock on production: the waiting release says so.
	_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "checkout errors"})
	require.NoError(t, err)
	waitFor(t, fake, "held", func() bool {
		return strings.Contains(fake.Statuses(headSHA)["bakery/production"].Description, "held: locked by ana — checkout errors")
	})
	_, err = b.e.Unlock(ctx, "ana", "web", "production", "fixed")
	require.NoError(t, err)

	// The bake ends: production.
	b.clock.Add(time.Hour)
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	waitFor(t, fake, "production live", func() bool { return fake.Statuses(headSHA)["bakery/production"].State == "success" })
	require.Equal(t, "in production since 18:10 UTC", fake.Statuses(headSHA)["bakery/production"].Description)
	deps = fake.Deployments(headSHA)
	require.Len(t, deps, 2)
	require.Equal(t, "production", deps[1].Environment)
	require.True(t, deps[1].ProductionEnvironment, "the last environment is production")
	waitFor(t, fake, "production's deployment success", func() bool {
		ds := fake.Deployments(headSHA)[1].Statuses
		return len(ds) > 0 && ds[len(ds)-1].State == "success"
	})

	// Only what changed was sent: no status is sent twice in a row.
	hist := fake.StatusHistory(headSHA)
	last := map[string]string{}
	for _, s := range hist {
		require.NotEqual(t, last[s.Context], s.State+"|"+s.Description, "a status sent twice: %+v", s)
		last[s.Context] = s.State + "|" + s.Description
	}
	_, behind := Health(ctx, b.st, "web")
	require.False(t, behind)
}

func TestSyncWaitsOutAnOutageWithoutSlowingThePipeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, nil)
	fake.Outage(http.StatusServiceUnavailable)
	_, a := b.deliver(t, "push", "o-1", fixture(t, "push.json"), "")
	require.Len(t, a.Created, 1)
	// The pipeline goes on: staging is deployed while GitHub is down.
	waitFor(t, fake, "staging deployed and GitHub behind", func() bool {
		_, view, err := b.e.View(ctx, "web")
		require.NoError(t, err)
		h, behind := Health(ctx, b.st, "web")
		return view.Environments[0].Current != nil && behind && strings.Contains(h.LastError, "503")
	})
	h, _ := Health(ctx, b.st, "web")
	require.Contains(t, h.LastError, "GitHub answered 503")
	require.Empty(t, fake.Statuses(headSHA))
	// The API (and so the dashboard and bakery status) says so.
	view, err := api.New(b.e, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry()).Status(ctx, "web")
	require.NoError(t, err)
	require.NotNil(t, view.GitHub)
	require.Contains(t, view.GitHub.Message, "GitHub statuses are behind (since 2026-11-25 17:10 UTC, last error: ")
	require.Contains(t, view.GitHub.Message, "503")

	fake.Outage(0)
	waitFor(t, fake, "statuses after the outage", func() bool {
		return fake.Statuses(headSHA)["bakery/staging"].State == "success"
	})
	waitFor(t, fake, "health back", func() bool { _, behind := Health(ctx, b.st, "web"); return !behind })
}

func TestSyncHonoursRateLimits(t *testing.T) {
	t.Parallel()
	b, fake := syncSetup(t, nil)
	fake.SecondaryLimit(1, 1)
	fake.PrimaryLimit(0)
	_, a := b.deliver(t, "push", "r-1", fixture(t, "push.json"), "")
	require.Len(t, a.Created, 1)
	waitFor(t, fake, "statuses after the limit", func() bool { return fake.Statuses(headSHA)["bakery/staging"].State == "success" })
	calls := fake.Calls()
	require.Equal(t, http.StatusForbidden, calls[0].Status, "the first call met the secondary limit")
	require.GreaterOrEqual(t, calls[1].At.Sub(calls[0].At), time.Second, "and the next waited for Retry-After")
}

func TestSyncRecordsWhatGitHubRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, func(cfg *config.Config) {
		cfg.Services[0].Repository = "https://github.com/octo-org/gone"
		cfg.Services[0].Trigger = nil
	})
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: headSHA})
	require.NoError(t, err)
	waitFor(t, fake, "a 404 recorded", func() bool {
		h, behind := Health(ctx, b.st, "web")
		return behind && strings.Contains(h.LastError, "404")
	})
	n := len(fake.Calls())
	require.NotZero(t, n)
	for _, c := range fake.Calls() {
		require.Equal(t, http.StatusNotFound, c.Status)
	}
	// Not retried: a 404 will not change by itself (no sync job waits to
	// run again). A new event tries again, so a job of a later event (the
	// staging deploy's) may be available or running meanwhile: only jobs
	// put back for later count.
	jobs, err := b.st.JobList(ctx, &store.JobListParams{Kinds: []string{SyncArgs{}.Kind()}, States: []string{store.JobStateScheduled, store.JobStateRetryable}})
	require.NoError(t, err)
	require.Empty(t, jobs)
}

func TestReleasesWithoutASHAAreNotSynced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, nil)
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v1.2.3"})
	require.NoError(t, err)
	_, err = b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: headSHA})
	require.NoError(t, err)
	waitFor(t, fake, "the SHA's statuses", func() bool { return len(fake.Statuses(headSHA)) == 2 })
	for _, c := range fake.Calls() {
		require.NotContains(t, c.Path, "v1.2.3")
	}
}

func TestAppAuthJWTAndInstallationToken(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	pemFile := filepath.Join(t.TempDir(), "app.pem")
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600))
	fake := githubtest.New("unused", "octo-org/octo-repo")
	defer fake.Close()
	fake.App(12345, &key.PublicKey, 678, time.Hour)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	fake.Clock(clock)
	c, err := NewClient(&config.GitHub{APIURL: fake.URL, App: &config.GitHubApp{ID: 12345, InstallationID: 678, PrivateKeyFile: pemFile}}, fake.Client(), clock)
	require.NoError(t, err)
	ctx := context.Background()
	status := map[string]any{"state": "pending", "context": "bakery/staging"}
	require.NoError(t, c.Do(ctx, http.MethodPost, "/repos/octo-org/octo-repo/statuses/"+headSHA, status, nil))
	require.NoError(t, c.Do(ctx, http.MethodPost, "/repos/octo-org/octo-repo/statuses/"+headSHA, status, nil))
	require.Equal(t, 1, fake.TokensIssued(), "the installation token is reused")
	mu.Lock()
	now = now.Add(56 * time.Minute) // within 5 minutes of expiry
	mu.Unlock()
	require.NoError(t, c.Do(ctx, http.MethodPost, "/repos/octo-org/octo-repo/statuses/"+headSHA, status, nil))
	require.Equal(t, 2, fake.TokensIssued(), "refreshed before it expires")
	calls := fake.Calls()
	require.Equal(t, "/app/installations/678/access_tokens", calls[0].Path)
	require.Equal(t, "Bearer ghs_fake1", calls[1].Header.Get("Authorization"))

	// A wrong key is refused by GitHub's check of the JWT.
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)}), 0o600))
	c, err = NewClient(&config.GitHub{APIURL: fake.URL, App: &config.GitHubApp{ID: 12345, InstallationID: 678, PrivateKeyFile: pemFile}}, fake.Client(), clock)
	require.NoError(t, err)
	err = c.Do(ctx, http.MethodGet, "/repos/octo-org/octo-repo/commits/"+headSHA, nil, nil)
	var apiErr *APIError
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusUnauthorized, apiErr.Status)
	require.False(t, apiErr.Temporary())
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	h := http.Header{}
	h.Set("Retry-After", "30")
	require.Equal(t, 30*time.Second, retryAfter(h, now))
	h = http.Header{}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset", "1800000090")
	require.Equal(t, 90*time.Second, retryAfter(h, now))
	h.Set("X-RateLimit-Remaining", "12")
	require.Zero(t, retryAfter(h, now))
	require.True(t, (&APIError{Status: 403, RetryAfter: time.Second}).Temporary(), "a rate limit")
	require.False(t, (&APIError{Status: 403}).Temporary(), "a permission refused")
	require.True(t, (&APIError{Status: 502}).Temporary())
	require.False(t, (&APIError{Status: 422}).Temporary())
	require.Equal(t, time.Second, backoff(0))
	require.Equal(t, 5*time.Minute, backoff(time.Hour))
}

func TestClip(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 200)
	require.Len(t, []rune(Clip(long, 140)), 140)
	require.True(t, strings.HasSuffix(Clip(long, 140), "…"))
	require.Equal(t, "a b", Clip("a\n  b", 140))
	_ = pipeline.EventLockPlaced
}

// TestWhatAReleaseContains: the commits and PRs between what runs in
// production and the newest release waiting for it, from the compare
// API, in the service's view ("2 PRs waiting").
func TestWhatAReleaseContains(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, func(cfg *config.Config) { cfg.Services[0].Trigger = nil })
	c1, c2, c3, c4 := strings.Repeat("1", 40), strings.Repeat("2", 40), strings.Repeat("3", 40), strings.Repeat("4", 40)
	fake.Commit(c1, "Start")
	fake.Commit(c2, "Fix the total (#7)\n\nbody")
	fake.Commit(c3, "Merge pull request #8 from octo-org/faster\n\nFaster")
	fake.Commit(c4, "Tidy up")
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: c1})
	require.NoError(t, err)
	waitFor(t, fake, "c1 in staging", func() bool { return fake.Statuses(c1)["bakery/staging"].State == "success" })
	b.clock.Add(time.Hour)
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	waitFor(t, fake, "c1 in production", func() bool { return fake.Statuses(c1)["bakery/production"].State == "success" })
	for _, v := range []string{c2, c3, c4} {
		_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: v})
		require.NoError(t, err)
	}
	srv := api.New(b.e, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewRegistry())
	srv.SetGitHub(b.g)
	var got *api.ChangesView
	waitFor(t, fake, "the compare of what waits for production", func() bool {
		v, err := srv.Status(ctx, "web")
		require.NoError(t, err)
		got = v.Environments[1].Changes
		return got != nil && got.Head == c4
	})
	require.Equal(t, &api.ChangesView{Base: c1, Head: c4, Commits: 3, PRs: []int64{7, 8}, Message: "2 PRs waiting (3 commits)"}, got)
	n := 0
	for _, c := range fake.Calls() {
		if strings.Contains(c.Path, "/compare/") {
			n++
		}
	}
	require.LessOrEqual(t, n, 3, "a compare is fetched once per pair of commits")
}

// TestPRComments: with github.pr_comments, each PR of a release gets one
// comment, edited in place as the release travels.
func TestPRComments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, fake := syncSetup(t, func(cfg *config.Config) { cfg.GitHub.PRComments = true })
	_, a := b.deliver(t, "push", "pr-1", fixture(t, "push.json"), "")
	require.Len(t, a.Created, 1)
	waitFor(t, fake, "the comment says staging", func() bool {
		cs := fake.Comments(42)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "**staging**: in staging since")
	})
	b.clock.Add(time.Hour)
	require.NoError(t, b.e.Reconcile(ctx, "web"))
	waitFor(t, fake, "the comment says production", func() bool {
		cs := fake.Comments(42)
		return len(cs) == 1 && strings.Contains(cs[0].Body, "**production**: in production since 18:10 UTC")
	})
	cs := fake.Comments(42)
	require.Len(t, cs, 1, "one comment per PR")
	require.NotZero(t, cs[0].Updates, "updated in place")
	require.True(t, strings.HasPrefix(cs[0].Body, commentMarker))
}

// TestSyncOfTheReleaseADeploymentReplaced: when a deployment succeeds,
// the release it replaced in that environment is synced again, so that
// its status says it "was in" the environment. (Its sync after the new
// deployment started, from the event's FromVersion, may have run while it
// was still the one running there.)
func TestSyncOfTheReleaseADeploymentReplaced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b, _ := syncSetup(t, nil)
	v0, v1 := strings.Repeat("a", 40), strings.Repeat("b", 40)
	var deps []pipeline.Deployment
	for _, v := range []string{v0, v1} {
		_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: v, Artifact: "registry.example.com/web:" + v[:7]})
		require.NoError(t, err)
		require.Eventually(t, func() bool {
			ds, err := b.st.DeploymentList(ctx, &store.DeploymentListParams{Service: "web", Environment: "staging",
				States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}})
			require.NoError(t, err)
			for _, d := range ds {
				if d.Version == v {
					deps = append(deps, d)
					return true
				}
			}
			return false
		}, time.Minute, 10*time.Millisecond, "%s deployed to staging", v)
	}
	ev := pipeline.Event{ID: 1 << 40, Type: pipeline.EventDeploymentSucceeded, Service: "web", Environment: "staging",
		Version: v1, ToVersion: v1, DeploymentID: deps[1].ID}
	require.NoError(t, b.st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return b.g.Handle(ctx, tx, []pipeline.Event{ev}) }))
	jobs, err := b.st.JobList(ctx, &store.JobListParams{Kinds: []string{SyncArgs{}.Kind()}})
	require.NoError(t, err)
	synced := map[string]bool{}
	for _, j := range jobs {
		var a SyncArgs
		require.NoError(t, json.Unmarshal(j.Args, &a))
		if a.After == ev.ID {
			synced[a.Version] = true
		}
	}
	require.Equal(t, map[string]bool{v0: true, v1: true}, synced, "the new release and the one it replaced are synced")
}
