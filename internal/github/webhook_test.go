package github

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

var t0 = time.Date(2026, 11, 25, 17, 10, 0, 0, time.UTC)

const (
	secret  = "It's a Secret to Everybody"
	headSHA = "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"
	repoURL = "https://github.com/octo-org/octo-repo"
)

// TestSignatureTestVector is the example of GitHub's "Validating webhook
// deliveries".
func TestSignatureTestVector(t *testing.T) {
	t.Parallel()
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	require.Equal(t, want, Sign("It's a Secret to Everybody", []byte("Hello, World!")))
	require.True(t, validSignature("It's a Secret to Everybody", []byte("Hello, World!"), want))
	require.False(t, validSignature("It's a Secret to Everybody", []byte("Hello, World?"), want), "another body")
	require.False(t, validSignature("another secret", []byte("Hello, World!"), want), "another secret")
	require.False(t, validSignature("It's a Secret to Everybody", []byte("Hello, World!"), strings.TrimPrefix(want, "sha256=")), "no sha256= prefix")
	require.False(t, validSignature("It's a Secret to Everybody", []byte("Hello, World!"), "sha1=757107ea"), "SHA-1 signatures are not accepted")
	require.False(t, validSignature("It's a Secret to Everybody", []byte("Hello, World!"), want[:len(want)-2]), "a truncated MAC")
}

type bundle struct {
	clock *testutil.Clock
	e     *engine.Engine
	st    store.Store
	g     *GitHub
	env   string
}

func env(name string, bake time.Duration) config.Environment {
	return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
}

// setup runs a real engine on SQLite with the services given (web, on push
// to main, by default).
func setup(t *testing.T, mutate func(*config.Config), subscribe bool, hc *http.Client) *bundle {
	t.Helper()
	ctx := context.Background()
	secretEnv := "BAKERY_TEST_GH_SECRET_" + strings.NewReplacer("/", "_", "-", "_").Replace(strings.ToUpper(t.Name()))
	// A variable of this test's own (t.Setenv forbids parallel tests).
	require.NoError(t, os.Setenv(secretEnv, secret))
	t.Cleanup(func() { _ = os.Unsetenv(secretEnv) })
	cfg := &config.Config{
		Server: config.Server{URL: "https://bakery.example.com"},
		GitHub: &config.GitHub{APIURL: config.DefaultGitHubAPIURL, WebhookSecretEnv: secretEnv},
		Services: []config.Service{{Name: "web", Repository: repoURL, Artifact: "registry.example.com/{service}:{short_sha}-{branch}",
			Trigger:      &config.Trigger{GitHub: &config.GitHubTrigger{On: "push", Branch: "main"}},
			Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}}},
	}
	if mutate != nil {
		mutate(cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := testutil.NewClock(t0)
	e := engine.New(engine.Options{Config: cfg, Clock: clock, Logger: log})
	g := New(Options{Engine: e, Logger: log, HTTPClient: hc})
	if subscribe {
		e.Subscribe(g)
	}
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	g.Bind(st)
	require.NoError(t, e.Start(ctx, st))
	t.Cleanup(func() {
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	return &bundle{clock: clock, e: e, st: st, g: g, env: secretEnv}
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// deliver sends body as GitHub does: signed with sig ("" signs it with
// the secret; "-" sends no signature).
func (b *bundle) deliver(t *testing.T, event, delivery string, body []byte, sig string) (*httptest.ResponseRecorder, answer) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/044aadd")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	req.Header.Set("X-GitHub-Hook-ID", "109948940")
	switch sig {
	case "":
		req.Header.Set("X-Hub-Signature-256", Sign(secret, body))
	case "-":
	default:
		req.Header.Set("X-Hub-Signature-256", sig)
	}
	rec := httptest.NewRecorder()
	b.g.ServeHTTP(rec, req)
	var a answer
	if rec.Code == http.StatusOK {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &a), rec.Body.String())
	}
	return rec, a
}

func (b *bundle) releases(t *testing.T, service string) []string {
	t.Helper()
	rels, err := b.st.ReleaseList(context.Background(), &store.ReleaseListParams{Service: service})
	require.NoError(t, err)
	var out []string
	for _, r := range rels {
		out = append(out, r.Version)
	}
	return out
}

func (b *bundle) deliveries(t *testing.T) []store.GitHubDelivery {
	t.Helper()
	ds, err := b.st.GitHubDeliveryList(context.Background(), &store.GitHubDeliveryListParams{})
	require.NoError(t, err)
	return ds
}

func TestWebhookRefusesUnsignedAndForgedDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	body := fixture(t, "push.json")
	rec, _ := b.deliver(t, "push", "d-1", body, "-")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Body.String(), `"error":"missing signature"`)
	require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	rec, _ = b.deliver(t, "push", "d-1", body, Sign("another secret", body))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Contains(t, rec.Body.String(), `"error":"wrong signature"`)
	// A body changed on the way, signed for the original.
	tampered := bytes.Replace(body, []byte("refs/heads/main"), []byte("refs/heads/mainx"), 1)
	rec, _ = b.deliver(t, "push", "d-1", tampered, Sign(secret, body))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	// A forged delivery with an invalid body is refused for its signature,
	// before its body is looked at.
	rec, _ = b.deliver(t, "push", "d-1", []byte("{not json"), "sha256=00")
	require.Equal(t, http.StatusUnauthorized, rec.Code)
	require.Empty(t, b.releases(t, "web"), "nothing happens")
	ds := b.deliveries(t)
	require.Len(t, ds, 4, "every delivery is on the record")
	for _, d := range ds {
		require.False(t, d.Accepted)
		require.Equal(t, "rejected", d.Outcome)
	}
	// The forgeries took no delivery ID: the real delivery is processed.
	rec, a := b.deliver(t, "push", "d-1", body, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, []Created{{Service: "web", Version: headSHA}}, a.Created)
}

func TestWebhookPushCreatesTheRelease(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	rec, a := b.deliver(t, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", fixture(t, "push.json"), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, []Created{{Service: "web", Version: headSHA}}, a.Created)
	require.Empty(t, a.Ignored)
	rel, err := b.st.ReleaseGet(context.Background(), "web", headSHA)
	require.NoError(t, err)
	require.Equal(t, "registry.example.com/web:0d1a26e-main", rel.Artifact)
	require.Equal(t, "Fix the checkout total (#42)\n\nRounding was off by a cent.", rel.Message)
	require.Equal(t, "Ana Lima", rel.Author)
	require.Equal(t, time.Date(2026, 11, 25, 17, 1, 30, 0, time.UTC), rel.CommittedAt, "the head commit's timestamp, in UTC")
	gr, err := b.st.GitHubReleaseGet(context.Background(), "web", headSHA)
	require.NoError(t, err)
	require.Equal(t, []int64{42}, gr.PRs, "a squash merge's PR number from its message")

	// GitHub redelivers: processed once.
	rec, a = b.deliver(t, "push", "72d3162e-cc78-11e3-81ab-4c9367dc0958", fixture(t, "push.json"), "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.True(t, a.Duplicate)
	require.Empty(t, a.Created)
	require.Equal(t, []string{headSHA}, b.releases(t, "web"))
	ds := b.deliveries(t)
	require.Len(t, ds, 2)
	require.Equal(t, "duplicate", ds[0].Outcome)
	require.Equal(t, "created", ds[1].Outcome)
	require.Equal(t, "web@"+headSHA, ds[1].Detail)
}

func TestWebhookIgnores(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	push := string(fixture(t, "push.json"))
	for i, tc := range []struct {
		name, event, body, why string
	}{
		{"tag", "push", strings.Replace(push, `"ref": "refs/heads/main"`, `"ref": "refs/tags/v1.2.0"`, 1), "a tag push (refs/tags/v1.2.0) makes no release"},
		{"deletion", "push", strings.Replace(strings.Replace(push, `"deleted": false`, `"deleted": true`, 1), `"after": "`+headSHA, `"after": "`+zeroSHA, 1), "a branch deletion makes no release"},
		{"deletion by zeros", "push", strings.Replace(push, `"after": "`+headSHA, `"after": "`+zeroSHA, 1), "a branch deletion makes no release"},
		{"other branch", "push", strings.Replace(push, `"ref": "refs/heads/main"`, `"ref": "refs/heads/feature"`, 1), "web releases from branch main, not feature"},
		{"other repository", "push", strings.ReplaceAll(push, "octo-org/octo-repo", "octo-org/other"), "no service's repository is https://github.com/octo-org/other"},
		{"requested run", "workflow_run", string(fixture(t, "workflow_run_requested.json")), "workflow run requested, not completed"},
		{"workflow_run for a push service", "workflow_run", string(fixture(t, "workflow_run_completed.json")), "web is triggered by push"},
		{"an event bakery does not use", "issues", `{"action":"opened"}`, `bakery does not act on "issues" events`},
		{"ping", "ping", string(fixture(t, "ping.json")), "ping"},
	} {
		rec, a := b.deliver(t, tc.event, "d-"+string(rune('a'+i)), []byte(tc.body), "")
		require.Equal(t, http.StatusOK, rec.Code, tc.name)
		require.Empty(t, a.Created, tc.name)
		require.Contains(t, a.Ignored, tc.why, tc.name)
	}
	require.Empty(t, b.releases(t, "web"))
}

func TestWebhookMalformedBodyIs400(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	for i, body := range []string{`{"ref": "refs/heads/main", "after": `, `[]`, `{"ref":"refs/heads/main","after":"not-a-sha","repository":{"html_url":"` + repoURL + `"}}`} {
		rec, _ := b.deliver(t, "push", "m-"+string(rune('0'+i)), []byte(body), "")
		require.Equal(t, http.StatusBadRequest, rec.Code, body)
		require.Contains(t, rec.Body.String(), "malformed payload")
	}
	require.Equal(t, "malformed", b.deliveries(t)[0].Outcome)
}

func TestWebhookWorkflowRunAndCheckSuite(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *config.Config) {
		cfg.Services[0].Trigger.GitHub = &config.GitHubTrigger{On: "workflow_run", Branch: "main", Workflows: []string{"ci.yml"}}
		api := cfg.Services[0]
		api.Name, api.Trigger = "api", &config.Trigger{GitHub: &config.GitHubTrigger{On: "check_suite", Branch: "main"}}
		cfg.Services = append(cfg.Services, api)
	}, false, nil)
	rec, a := b.deliver(t, "workflow_run", "w-1", fixture(t, "workflow_run_requested.json"), "")
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, a.Created)
	require.Equal(t, "workflow run requested, not completed", a.Ignored)

	failed := strings.Replace(string(fixture(t, "workflow_run_completed.json")), `"conclusion": "success"`, `"conclusion": "failure"`, 1)
	_, a = b.deliver(t, "workflow_run", "w-2", []byte(failed), "")
	require.Equal(t, "workflow run completed with conclusion failure, not success", a.Ignored)

	_, a = b.deliver(t, "workflow_run", "w-3", fixture(t, "workflow_run_completed.json"), "")
	require.Equal(t, []Created{{Service: "web", Version: headSHA}}, a.Created)
	gr, err := b.st.GitHubReleaseGet(context.Background(), "web", headSHA)
	require.NoError(t, err)
	require.Equal(t, []int64{42}, gr.PRs, "the run's pull_requests")
	require.Equal(t, "workflow_run", gr.Event)

	// The same commit's check suite: the api service's release; web has
	// it already.
	_, a = b.deliver(t, "check_suite", "c-1", fixture(t, "check_suite_completed.json"), "")
	require.Equal(t, []Created{{Service: "api", Version: headSHA}}, a.Created)
	require.Equal(t, []string{headSHA}, b.releases(t, "api"))

	// A run without pull requests.
	_, a = b.deliver(t, "workflow_run", "w-4", fixture(t, "workflow_run_completed_no_prs.json"), "")
	require.Equal(t, []Created{{Service: "web", Version: "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"}}, a.Created)
	gr, err = b.st.GitHubReleaseGet(context.Background(), "web", "9c8b7a6f5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b")
	require.NoError(t, err)
	require.Empty(t, gr.PRs)

	// The same SHA by a second event: one release, counted as existing.
	again := strings.Replace(string(fixture(t, "workflow_run_completed.json")), `"run_attempt": 1`, `"run_attempt": 2`, 1)
	_, a = b.deliver(t, "workflow_run", "w-5", []byte(again), "")
	require.Equal(t, []Created{{Service: "web", Version: headSHA, Exists: true}}, a.Created)
	require.Len(t, b.releases(t, "web"), 2)
}

func TestWorkflowMatches(t *testing.T) {
	t.Parallel()
	for _, listed := range [][]string{{"CI"}, {"ci.yml"}, {".github/workflows/ci.yml"}, {"deploy", "ci.yml"}} {
		require.True(t, WorkflowMatches(listed, "CI", ".github/workflows/ci.yml"), "%v", listed)
	}
	require.True(t, WorkflowMatches([]string{"ci.yml"}, "CI", ".github/workflows/ci.yml@refs/heads/main"))
	for _, listed := range [][]string{{"ci"}, {"CI.yml"}, {"workflows/ci.yml"}, {"lint.yml"}} {
		require.False(t, WorkflowMatches(listed, "CI", ".github/workflows/ci.yml"), "%v", listed)
	}
}

func TestSameRepository(t *testing.T) {
	t.Parallel()
	for _, c := range []string{repoURL, "https://github.com/Octo-Org/Octo-Repo", repoURL + ".git", repoURL + "/", "http://github.com/octo-org/octo-repo"} {
		require.True(t, SameRepository(c, repoURL), c)
	}
	for _, c := range []string{"https://github.com/octo-org/octo-repo2", "https://github.com/octo-org", "https://ghe.example.com/octo-org/octo-repo"} {
		require.False(t, SameRepository(c, repoURL), c)
	}
	require.False(t, SameRepository(repoURL, ""), "a payload without a repository matches nothing")
}

func TestMatchPath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"services/web/**", "services/web/main.go", true},
		{"services/web/**", "services/web/a/b/c.go", true},
		{"services/web/**", "services/web", true},
		{"services/web/**", "services/webapp/main.go", false},
		{"services/web/**", "services/api/main.go", false},
		{"**/*.go", "main.go", true},
		{"**/*.go", "a/b/main.go", true},
		{"**/*.go", "a/b/main.py", false},
		{"docs/*.md", "docs/a.md", true},
		{"docs/*.md", "docs/x/a.md", false},
		{"go.mod", "go.mod", true},
		{"services/**/Dockerfile", "services/web/Dockerfile", true},
		{"services/**/Dockerfile", "services/Dockerfile", true},
		{"services/**/Dockerfile", "services/web/x/Dockerfile.dev", false},
		{"[", "[", false},
	} {
		require.Equal(t, tc.want, MatchPath(tc.pattern, tc.name), "%s ~ %s", tc.pattern, tc.name)
	}
}

// TestTwoServicesInOneRepositoryByPaths: a monorepo's push makes the
// release of the services whose paths it changed, and no other.
func TestTwoServicesInOneRepositoryByPaths(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *config.Config) {
		cfg.Services[0].Trigger.GitHub.Paths = []string{"services/web/**"}
		api := cfg.Services[0]
		api.Name = "api"
		api.Trigger = &config.Trigger{GitHub: &config.GitHubTrigger{On: "push", Branch: "main", Paths: []string{"services/api/**", "libs/**"}}}
		cfg.Services = append(cfg.Services, api)
	}, false, nil)
	rec, a := b.deliver(t, "push", "p-1", fixture(t, "push.json"), "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.Equal(t, []Created{{Service: "web", Version: headSHA}}, a.Created, "the push changed services/web only")
	require.Empty(t, b.releases(t, "api"))

	push := string(fixture(t, "push.json"))
	other := "1111111111111111111111111111111111111111"
	push = strings.ReplaceAll(push, headSHA, other)
	push = strings.ReplaceAll(push, "services/web/", "libs/money/")
	_, a = b.deliver(t, "push", "p-2", []byte(push), "")
	require.Equal(t, []Created{{Service: "api", Version: other}}, a.Created)

	docs := strings.ReplaceAll(push, "libs/money/", "README-")
	docs = strings.ReplaceAll(docs, other, "2222222222222222222222222222222222222222")
	docs = strings.ReplaceAll(docs, `"docs/old.md"`, ``)
	_, a = b.deliver(t, "push", "p-3", []byte(docs), "")
	require.Empty(t, a.Created)
	require.Contains(t, a.Ignored, "web: no changed file matches services/web/**")
	require.Contains(t, a.Ignored, "api: no changed file matches services/api/**, libs/**")
}

func TestWebhookBodyCap(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	// Declared too large: refused before reading.
	req := httptest.NewRequest(http.MethodPost, WebhookPath, strings.NewReader("{}"))
	req.ContentLength = MaxPayload + 1
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "big-1")
	req.Header.Set("X-Hub-Signature-256", Sign(secret, []byte("{}")))
	rec := httptest.NewRecorder()
	b.g.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	// Not declared (chunked), larger than the cap: cut at the cap.
	big := io.MultiReader(strings.NewReader(`{"x":"`), io.LimitReader(zeros{}, MaxPayload), strings.NewReader(`"}`))
	req = httptest.NewRequest(http.MethodPost, WebhookPath, big)
	req.ContentLength = -1
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "big-2")
	req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
	rec = httptest.NewRecorder()
	b.g.ServeHTTP(rec, req)
	require.Equal(t, http.StatusRequestEntityTooLarge, rec.Code)
	require.Equal(t, "payload too large", b.deliveries(t)[0].Detail)
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'a'
	}
	return len(p), nil
}

func TestWebhookNotConfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, func(cfg *config.Config) { cfg.GitHub = nil; cfg.Services[0].Trigger = nil }, false, nil)
	rec, _ := b.deliver(t, "push", "x", fixture(t, "push.json"), "")
	require.Equal(t, http.StatusNotFound, rec.Code)
	require.Contains(t, rec.Body.String(), "GitHub webhooks are not configured")
}

// FuzzWebhook: whatever a signed delivery holds, parsing it never panics,
// and a release is only ever asked for a 40-character SHA.
func FuzzWebhook(f *testing.F) {
	for _, ev := range []struct{ event, file string }{
		{"push", "push.json"}, {"workflow_run", "workflow_run_completed.json"}, {"workflow_run", "workflow_run_requested.json"},
		{"workflow_run", "workflow_run_completed_no_prs.json"}, {"check_suite", "check_suite_completed.json"}, {"ping", "ping.json"},
	} {
		b, err := os.ReadFile(filepath.Join("testdata", ev.file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(ev.event, b)
	}
	f.Add("push", []byte(`{"ref":"refs/heads/main","after":"`+zeroSHA+`"}`))
	f.Add("push", []byte(`null`))
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		c, err := Parse(event, body)
		if err != nil {
			return
		}
		if c.Ignored == "" {
			require.Regexp(t, `^[0-9a-f]{40}$`, c.SHA)
			require.Contains(t, []string{"push", "workflow_run", "check_suite"}, c.Event)
		}
		for _, f := range c.Files {
			_ = MatchPath("services/**/x/*.go", f)
		}
	})
}

// TestRefusedDeliveriesCannotFloodTheLog: every unsigned request is
// refused, but one address gets only rejectRecords of them on the record
// a minute.
func TestRefusedDeliveriesCannotFloodTheLog(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, false, nil)
	body := fixture(t, "push.json")
	for i := 0; i < 3*rejectRecords; i++ {
		rec, _ := b.deliver(t, "push", "flood-"+strconv.Itoa(i), body, "-")
		require.Equal(t, http.StatusUnauthorized, rec.Code, "refused, recorded or not")
	}
	require.Len(t, b.deliveries(t), rejectRecords)
	rec, a := b.deliver(t, "push", "real", body, "")
	require.Equal(t, http.StatusOK, rec.Code, "a real delivery from the same address still works")
	require.Len(t, a.Created, 1)
	require.Len(t, b.deliveries(t), rejectRecords+1, "and is on the record")
}
