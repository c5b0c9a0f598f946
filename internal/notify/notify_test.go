package notify

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

var (
	hookSecret    = "whsec_" + base64.StdEncoding.EncodeToString([]byte("a test key of thirty-two bytes!!"))
	botToken      = "xoxb-test-token"
	signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"
)

type bundle struct {
	e     *engine.Engine
	st    store.Store
	n     *Notifier
	slack *fakeSlack
	hook  *receiver
	h     *SlackHandler
	srv   *httptest.Server // the Slack endpoints
}

func testYAML(slackURL, hookURL string) string {
	return fmt.Sprintf(`server: {url: "https://bakery.example.com"}
services:
  - name: web
    repository: https://github.com/acme/web
    labels: {team: payments}
    environments:
      - name: staging
        deploy: {command: ["/bin/true"]}
      - name: production
        deploy: {command: ["/bin/true"]}
  - name: api
    environments:
      - name: staging
        deploy: {command: ["/bin/true"]}
      - name: production
        deploy: {command: ["/bin/false"]}
  - name: shop
    environments:
      - name: staging
        deploy: {command: ["/bin/true"]}
      - name: production
        bake: 1h
        deploy: {command: ["/bin/true"]}
        checks:
          - name: errors
            command: ["/bin/false"]
            interval: 1s
notifications:
  - name: deploys
    slack: {channel: "#deploys"}
  - name: audit
    webhook: {url: %q, secret_env: HOOK_SECRET}
    services: [web]
slack:
  api_url: %q
  bot_token_env: SLACK_BOT_TOKEN
  signing_secret_env: SLACK_SIGNING_SECRET
  users: {U024BE7LH: ana}
`, hookURL, slackURL)
}

func setup(t *testing.T, mod func(*Options)) *bundle {
	t.Helper()
	return setupClock(t, nil, mod)
}

func setupClock(t *testing.T, clock pipeline.Clock, mod func(*Options)) *bundle {
	t.Helper()
	return setupDB(t, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), clock, mod)
}

func setupDB(t *testing.T, dbURL string, clock pipeline.Clock, mod func(*Options)) *bundle {
	t.Helper()
	b := &bundle{slack: newFakeSlack(t, botToken), hook: newReceiver(t, hookSecret)}
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "bakery.yaml"), []byte(testYAML(b.slack.url(), b.hook.srv.URL)))
	require.NoError(t, err)
	env := map[string]string{"HOOK_SECRET": hookSecret, "SLACK_BOT_TOKEN": botToken, "SLACK_SIGNING_SECRET": signingSecret}
	require.NoError(t, cfg.CheckSecrets(func(k string) string { return env[k] }))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b.e = engine.New(engine.Options{Config: cfg, Clock: clock, Deployer: deploy.Exec{}, Logger: log, Registerer: prometheus.NewRegistry()})
	opts := Options{Engine: b.e, Logger: log, Getenv: func(k string) string { return env[k] },
		BackoffBase: 50 * time.Millisecond, BackoffMax: 200 * time.Millisecond, MaxAttempts: 10000, SweepInterval: 100 * time.Millisecond}
	if mod != nil {
		mod(&opts)
	}
	b.n = New(opts)
	b.e.Subscribe(b.n)
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dbURL, sqlstore.Options{Workers: b.e.Workers(), Logger: log})
	require.NoError(t, err)
	b.st = st
	require.NoError(t, b.e.Start(ctx, st))
	// A new follower starts at the end of the log, on the feed's first
	// pass: the tests' events come after it.
	require.Eventually(t, func() bool {
		_, ok, err := st.CursorGet(ctx, b.n.Name())
		require.NoError(t, err)
		return ok
	}, 20*time.Second, 5*time.Millisecond)
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); b.n.Run(sctx) }()
	b.h = b.n.NewSlackHandler()
	mux := http.NewServeMux()
	mux.Handle("POST "+CommandsPath, b.h)
	mux.Handle("POST "+InteractionsPath, b.h)
	b.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		b.srv.Close()
		cancel()
		<-done
		b.h.Wait()
		b.e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	return b
}

// settle waits until no deployment of service is pending or running.
func (b *bundle) settle(t *testing.T, service string) {
	t.Helper()
	require.Eventually(t, func() bool {
		active, err := b.st.DeploymentList(context.Background(), &store.DeploymentListParams{Service: service,
			States: []pipeline.DeploymentState{pipeline.DeploymentPending, pipeline.DeploymentRunning}})
		require.NoError(t, err)
		return len(active) == 0
	}, 20*time.Second, 5*time.Millisecond)
}

// signed is a Slack request to path with a valid signature made at ts.
func (b *bundle) slackPost(t *testing.T, path string, form url.Values, ts time.Time, secret string) *http.Response {
	t.Helper()
	body := form.Encode()
	req, err := http.NewRequest(http.MethodPost, b.srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	tss := strconv.FormatInt(ts.Unix(), 10)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", tss)
	req.Header.Set("X-Slack-Signature", SignSlack(secret, tss, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func decodeBody(t *testing.T, resp *http.Response) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

// TestVerifyLikeTheReference: the receiver's check accepts bakery's
// signature, one valid signature among several, and refuses a tampered
// body, a wrong secret, a stale or future timestamp and missing headers.
func TestVerifyLikeTheReference(t *testing.T) {
	t.Parallel()
	key, err := config.WebhookKey(hookSecret)
	require.NoError(t, err)
	now := time.Unix(1674087231, 0)
	body := []byte(`{"type":"lock.placed","timestamp":"2023-01-19T00:13:51Z","data":{}}`)
	h := func(id string, ts int64, sig string) http.Header {
		x := http.Header{}
		x.Set("webhook-id", id)
		x.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		x.Set("webhook-signature", sig)
		return x
	}
	good := Sign(key, "msg_1", now.Unix(), body)
	require.NoError(t, Verify(hookSecret, h("msg_1", now.Unix(), good), body, now))
	require.NoError(t, Verify(hookSecret, h("msg_1", now.Unix(), "v1,bm90IGl0 v2,xyz "+good), body, now), "one valid among several")
	require.ErrorIs(t, Verify(hookSecret, h("msg_1", now.Unix(), good), append(body, ' '), now), ErrNoMatchingSigner)
	require.ErrorIs(t, Verify(hookSecret, h("msg_2", now.Unix(), good), body, now), ErrNoMatchingSigner, "the id is signed")
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of thirty-two bytes!"))
	require.ErrorIs(t, Verify(other, h("msg_1", now.Unix(), good), body, now), ErrNoMatchingSigner)
	require.ErrorIs(t, Verify(hookSecret, h("msg_1", now.Unix(), good), body, now.Add(6*time.Minute)), ErrTimestampTooOld)
	require.ErrorIs(t, Verify(hookSecret, h("msg_1", now.Unix(), good), body, now.Add(-6*time.Minute)), ErrTimestampTooNew)
	require.ErrorIs(t, Verify(hookSecret, http.Header{}, body, now), ErrMissingHeaders)
	require.True(t, strings.HasPrefix(good, "v1,"))
}

// TestSlackSignatureTestVector: Slack's documented example request
// verifies.
func TestSlackSignatureTestVector(t *testing.T) {
	t.Parallel()
	body := "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", "1531420618")
	h.Set("X-Slack-Signature", "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503")
	require.NoError(t, VerifySlack(signingSecret, h, []byte(body), time.Unix(1531420618, 0).Add(time.Minute)))
	require.Error(t, VerifySlack(signingSecret, h, []byte(body), time.Unix(1531420618, 0).Add(6*time.Minute)), "stale")
	require.Error(t, VerifySlack(signingSecret, h, []byte(body+"x"), time.Unix(1531420618, 0)), "tampered")
}

// TestWebhookDownThenBack: with the endpoint down, deliveries are retried
// with the same webhook-id and the pipeline goes on; once it is back every
// event arrives, signed, once per id, in order.
func TestWebhookDownThenBack(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	b.hook.setDown(true)
	start := time.Now()
	for i := 1; i <= 3; i++ {
		_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v" + strconv.Itoa(i), Author: "ana"})
		require.NoError(t, err)
		b.settle(t, "web")
		_, err = b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "test " + strconv.Itoa(i)})
		require.NoError(t, err)
		_, err = b.e.Unlock(ctx, "ana", "web", "production", "done")
		require.NoError(t, err)
	}
	pipelineTime := time.Since(start)
	require.Eventually(t, func() bool { _, att, _ := b.hook.snapshot(); return len(att) >= 4 }, 10*time.Second, 10*time.Millisecond,
		"the endpoint is tried again")
	ds, err := b.st.DeliveryList(ctx, &store.DeliveryListParams{Destination: "audit", States: []string{store.DeliveryPending}, Limit: 1000})
	require.NoError(t, err)
	require.NotEmpty(t, ds)
	require.Contains(t, ds[0].LastError, "503")
	time.Sleep(500 * time.Millisecond) // down a while longer
	b.hook.setDown(false)

	evs, err := b.st.EventList(ctx, &store.EventListParams{Limit: 10000})
	require.NoError(t, err)
	var want []string
	for _, ev := range evs {
		if ev.Service == "web" && Kind(ev.Type) != "" {
			want = append(want, MsgID(ev.ID, "audit"))
		}
	}
	require.Eventually(t, func() bool {
		got, _, _ := b.hook.snapshot()
		return len(firstSeen(got)) == len(want)
	}, 20*time.Second, 20*time.Millisecond)
	got, attempts, bad := b.hook.snapshot()
	require.Zero(t, bad, "every request verifies")
	require.Equal(t, want, firstSeen(got), "every event arrives, in order")
	for _, id := range attempts {
		require.Contains(t, want, id, "retries carry the same webhook-id")
	}
	require.Equal(t, len(want), len(got), "once per id")
	for _, r := range got {
		require.Equal(t, "web", r.Body.Data.Service)
		require.NotEmpty(t, r.Body.Type)
	}
	t.Logf("FIGURE pipeline_with_webhook_down_ms=%d (3 releases through 2 environments, 3 locks and unlocks)", pipelineTime.Milliseconds())
}

func firstSeen(got []received) []string {
	var out []string
	for _, r := range got {
		if !slices.Contains(out, r.ID) {
			out = append(out, r.ID)
		}
	}
	return out
}

// TestSlackReleaseMessageTravels: one message per release, posted once and
// updated in place through its stages, with links; reaching production
// mentions the author through users; a rate-limited call is made again
// after Retry-After.
func TestSlackReleaseMessageTravels(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	b.slack.mu.Lock()
	b.slack.ratelimit = 1
	b.slack.mu.Unlock()
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "3f2c1ab", Author: "ana", Message: "copy change"})
	require.NoError(t, err)
	b.settle(t, "web")
	var calls []slackCall
	require.Eventually(t, func() bool {
		calls = b.slack.snapshot()
		for _, c := range calls {
			if c.Method == "chat.postMessage" && c.Body["thread_ts"] != nil && strings.Contains(c.Body["text"].(string), "<@U024BE7LH>") {
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond, "production mentions the author")
	var posts, updates []slackCall
	for _, c := range calls {
		switch {
		case c.Method == "chat.postMessage" && c.Body["thread_ts"] == nil:
			posts = append(posts, c)
		case c.Method == "chat.update":
			updates = append(updates, c)
		}
	}
	require.Len(t, posts, 1, "one message per release")
	require.Equal(t, "#deploys", posts[0].Body["channel"])
	require.NotEmpty(t, updates, "updated in place")
	final := updates[len(updates)-1].Body
	require.Equal(t, "C0DEPLOYS", final["channel"], "updates use the channel ID Slack answered")
	text := final["text"].(string)
	require.Contains(t, text, "staging ✓ — production ✓")
	require.Contains(t, text, "<https://bakery.example.com/services/web|dashboard>")
	require.Contains(t, text, "<https://github.com/acme/web/commit/3f2c1ab|commit>")
	b.slack.mu.Lock()
	require.Equal(t, 1, b.slack.rateLimited)
	b.slack.mu.Unlock()
	seen := []string{strings.Split(posts[0].Body["text"].(string), "\n")[1]}
	for _, u := range updates {
		s := strings.Split(u.Body["text"].(string), "\n")[1]
		if !slices.Contains(seen, s) {
			seen = append(seen, s)
		}
	}
	t.Logf("stages shown: %q", seen)
	// Each event shows the stage as of its time; events written in one
	// transaction share a time, so a stage may be skipped, never reordered.
	stages := []string{"staging (waiting) — production (waiting)", "staging deploying… — production (waiting)", "staging ✓ — production (waiting)", "staging ✓ — production deploying…", "staging ✓ — production ✓"}
	require.GreaterOrEqual(t, len(seen), 4, "the message is updated through its stages")
	k := 0
	for _, s := range seen {
		for k < len(stages) && stages[k] != s {
			k++
		}
		require.Less(t, k, len(stages), "stage %q out of order in %q", s, seen)
	}
	require.Equal(t, stages[len(stages)-1], seen[len(seen)-1])
}

// TestFailureAndLockHeardInChannel: a failed production deploy and a lock
// are replies in the release's thread and also in the channel; the time
// from the event to the Slack call is printed as a FIGURE.
func TestFailureAndLockHeardInChannel(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "api", Version: "v1"})
	require.NoError(t, err)
	b.settle(t, "api")
	locked := time.Now()
	_, err = b.e.Lock(ctx, "ana", engine.LockParams{Service: "api", Environment: "production", Reason: "checkout errors since 3f2c1ab"})
	require.NoError(t, err)
	find := func(substr string) (slackCall, bool) {
		for _, c := range b.slack.snapshot() {
			if c.Method == "chat.postMessage" && strings.Contains(fmt.Sprint(c.Body["text"]), substr) {
				return c, true
			}
		}
		return slackCall{}, false
	}
	var lockCall, failCall slackCall
	require.Eventually(t, func() bool {
		var ok1, ok2 bool
		lockCall, ok1 = find("locked by ana")
		failCall, ok2 = find("failed in production")
		return ok1 && ok2
	}, 10*time.Second, 5*time.Millisecond, "the channel hears of the lock and the failure")
	for _, c := range []slackCall{lockCall, failCall} {
		require.NotNil(t, c.Body["thread_ts"], "in the release's thread")
		require.Equal(t, true, c.Body["reply_broadcast"], "and in the channel")
	}
	require.Contains(t, lockCall.Body["text"], "checkout errors since 3f2c1ab")
	t.Logf("FIGURE lock_to_slack_ms=%.1f", float64(lockCall.At.Sub(locked).Microseconds())/1000)
}

// TestSlashCommandLocks: a signed /bakery lock locks (the same engine
// call as the CLI: it holds, the actor is the mapped Slack user); a forged
// or stale request is refused with 401 and does nothing.
func TestSlashCommandLocks(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	form := url.Values{"command": {"/bakery"}, "text": {"lock web production checkout errors since 3f2c1ab"}, "user_id": {"U024BE7LH"},
		"response_url": {b.slack.srv.URL + "/response"}}

	for name, resp := range map[string]*http.Response{
		"forged": b.slackPost(t, CommandsPath, form, time.Now(), "not-the-secret"),
		"stale":  b.slackPost(t, CommandsPath, form, time.Now().Add(-6*time.Minute), signingSecret),
	} {
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
	locks, err := b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Empty(t, locks, "a refused request does nothing")

	resp := b.slackPost(t, CommandsPath, form, time.Now(), signingSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := decodeBody(t, resp)
	require.Equal(t, "ephemeral", m["response_type"])
	require.Contains(t, m["text"], "web production is locked")
	locks, err = b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Len(t, locks, 1)
	require.Equal(t, "ana", locks[0].Actor, "the Slack user through users")
	require.Equal(t, "checkout errors since 3f2c1ab", locks[0].Reason)

	// The lock holds: a new release stops before production.
	_, err = b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v2"})
	require.NoError(t, err)
	b.settle(t, "web")
	_, dec, err := b.e.Status(ctx, "web")
	require.NoError(t, err)
	require.Nil(t, dec.Environments[1].Current, "production took nothing while locked")
	require.Equal(t, "v2", dec.Environments[0].Current.Version)

	resp = b.slackPost(t, CommandsPath, url.Values{"text": {"status web"}, "user_id": {"U1"}}, time.Now(), signingSecret)
	m = decodeBody(t, resp)
	require.Contains(t, m["text"], "locked by ana")
}

// TestSlashCommandBySelector: /bakery lock and unlock take a selector
// instead of a service: one lock record for every matching service; a
// rollback, of one service, refuses one.
func TestSlashCommandBySelector(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	post := func(text string) string {
		resp := b.slackPost(t, CommandsPath, url.Values{"command": {"/bakery"}, "text": {text}, "user_id": {"U024BE7LH"}}, time.Now(), signingSecret)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		return decodeBody(t, resp)["text"].(string)
	}
	require.Contains(t, post("lock team=payments production payments freeze"), "production of the services matching team=payments is locked (1 now)")
	locks, err := b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Len(t, locks, 1)
	require.Equal(t, "team=payments", locks[0].Selector)
	require.Equal(t, "payments freeze", locks[0].Reason)
	require.Contains(t, post("rollback team=payments production oops"), "A rollback is of one service")
	require.Contains(t, post("unlock team=payments production freeze over"), "is unlocked")
	locks, err = b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Empty(t, locks)
}

// TestButtonOpensDialogThenUnlocks: a message's Unlock button opens the
// reason dialog (views.open with the trigger); its submission unlocks,
// with the unmapped Slack user as slack:U… on the record.
func TestButtonOpensDialogThenUnlocks(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	value, _ := json.Marshal(ButtonValue{Service: "web", Environment: "production", Version: "v1"})
	press, _ := json.Marshal(map[string]any{"type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0",
		"user": map[string]any{"id": "U0BOB"}, "actions": []any{map[string]any{"action_id": ActionUnlock, "value": string(value)}}})
	resp := b.slackPost(t, InteractionsPath, url.Values{"payload": {string(press)}}, time.Now(), signingSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var open slackCall
	for _, c := range b.slack.snapshot() {
		if c.Method == "views.open" {
			open = c
		}
	}
	require.Equal(t, "13345224609.738474920.8088930838d88f008e0", open.Body["trigger_id"])
	view := open.Body["view"].(map[string]any)
	require.Equal(t, ReasonCallback, view["callback_id"])
	locks, err := b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Len(t, locks, 1, "a button press alone does nothing")

	submit, _ := json.Marshal(map[string]any{"type": "view_submission", "user": map[string]any{"id": "U0BOB"},
		"view": map[string]any{"callback_id": view["callback_id"], "private_metadata": view["private_metadata"],
			"state": map[string]any{"values": map[string]any{"reason": map[string]any{"reason": map[string]any{"type": "plain_text_input", "value": "fixed in 4a1b"}}}}}})
	resp = b.slackPost(t, InteractionsPath, url.Values{"payload": {string(submit)}}, time.Now(), signingSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	locks, err = b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Empty(t, locks, "the submission unlocked")
	evs, err := b.st.EventList(ctx, &store.EventListParams{Limit: 1000})
	require.NoError(t, err)
	var rel pipeline.Event
	for _, ev := range evs {
		if ev.Type == pipeline.EventLockReleased {
			rel = ev
		}
	}
	require.Equal(t, "slack:U0BOB", rel.Actor)
	require.Equal(t, "fixed in 4a1b", rel.Reason)
}

// TestLatencyFigures prints event → webhook received and event → Slack
// call, p50 and p99, one event at a time (each waits for the previous to
// arrive, so this is the latency, not a queue's).
func TestLatencyFigures(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	const n = 30
	wait := func(k int) {
		require.Eventually(t, func() bool {
			got, _, _ := b.hook.snapshot()
			return len(got) >= k && len(b.slack.snapshot()) >= k
		}, 30*time.Second, time.Millisecond)
	}
	for i := 0; i < n; i++ {
		_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "r" + strconv.Itoa(i)})
		require.NoError(t, err)
		wait(2*i + 1)
		_, err = b.e.Unlock(ctx, "ana", "web", "production", "u")
		require.NoError(t, err)
		wait(2*i + 2)
	}
	evs, err := b.st.EventList(ctx, &store.EventListParams{Limit: 10000})
	require.NoError(t, err)
	var at []time.Time
	byID := map[int64]time.Time{}
	for _, ev := range evs {
		if ev.Type == pipeline.EventLockPlaced || ev.Type == pipeline.EventLockReleased {
			at = append(at, ev.At)
			byID[ev.ID] = ev.At
		}
	}
	got, _, _ := b.hook.snapshot()
	var hook, sl []time.Duration
	for _, r := range got {
		hook = append(hook, r.At.Sub(byID[r.Body.Data.EventID]))
	}
	for i, c := range b.slack.snapshot() {
		sl = append(sl, c.At.Sub(at[i]))
	}
	t.Logf("FIGURE event_to_webhook p50=%s p99=%s n=%d", pct(hook, 50), pct(hook, 99), len(hook))
	t.Logf("FIGURE event_to_slack p50=%s p99=%s n=%d", pct(sl, 50), pct(sl, 99), len(sl))
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)].Round(100 * time.Microsecond)
}

func assertEventually(cond func() bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// TestFigureSlowReceiverThroughput: a receiver that answers in 1 s gets a
// pair's deliveries one at a time (in order per service), while other
// destinations are not held up: Slack hears of every event meanwhile.
func TestFigureSlowReceiverThroughput(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	b.hook.mu.Lock()
	b.hook.delay = time.Second
	b.hook.mu.Unlock()
	const n = 4
	start := time.Now()
	for i := 0; i < n; i++ {
		_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "r"})
		require.NoError(t, err)
		_, err = b.e.Unlock(ctx, "ana", "web", "production", "u")
		require.NoError(t, err)
	}
	if !assertEventually(func() bool { return len(b.slack.snapshot()) >= 2*n }, 30*time.Second) {
		b.dump(t)
	}
	slackDone := time.Since(start)
	require.Eventually(t, func() bool { got, _, _ := b.hook.snapshot(); return len(got) >= 2*n }, 60*time.Second, 5*time.Millisecond)
	hookDone := time.Since(start)
	require.Less(t, slackDone, hookDone, "the slow endpoint does not hold up Slack")
	for _, c := range b.slack.snapshot() {
		t.Logf("slack call at +%s", c.At.Sub(start).Round(time.Millisecond))
	}
	t.Logf("FIGURE slow_receiver deliveries=%d took=%s rate=%.2f/s per (destination, service); slack meanwhile done after %s",
		2*n, hookDone.Round(time.Millisecond), float64(2*n)/hookDone.Seconds(), slackDone.Round(time.Millisecond))
}

// TestFigurePipelineWithDestinationDown: releases travel staging →
// production as fast with the webhook endpoint down as with it up
// (alternating in one run).
func TestFigurePipelineWithDestinationDown(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	var up, down []time.Duration
	for i := 0; i < 20; i++ {
		isDown := i%2 == 1
		b.hook.setDown(isDown)
		v := "v" + strconv.Itoa(i)
		start := time.Now()
		_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: v})
		require.NoError(t, err)
		b.settle(t, "web")
		require.Eventually(t, func() bool {
			ds, err := b.st.DeploymentList(ctx, &store.DeploymentListParams{Service: "web", Environment: "production",
				States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
			require.NoError(t, err)
			return len(ds) == 1 && ds[0].Version == v
		}, 20*time.Second, time.Millisecond)
		if isDown {
			down = append(down, time.Since(start))
		} else {
			up = append(up, time.Since(start))
		}
	}
	t.Logf("FIGURE pipeline_release_to_production endpoint_up p50=%s endpoint_down p50=%s (n=%d each)", pct(up, 50), pct(down, 50), len(up))
}

// TestPileUpReannounced: a lock held past 12 h is announced again with the
// releases piled up behind it, once per 3 h, however often it is looked
// at. (The test calls the leader's duty itself: jumping the engine's clock
// by hours makes leadership lapse and come back meanwhile.)
func TestPileUpReannounced(t *testing.T) {
	clock := testutil.NewClock(time.Now())
	b := setupClock(t, clock, nil)
	ctx := context.Background()
	require.Eventually(t, b.e.IsLeader, 10*time.Second, 10*time.Millisecond)
	_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	clock.Add(time.Hour)
	for _, v := range []string{"v1", "v2"} {
		_, err = b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: v})
		require.NoError(t, err)
		b.settle(t, "web")
	}
	pileUps := func() []received {
		got, _, _ := b.hook.snapshot()
		var out []received
		for _, r := range got {
			if r.Body.Type == EventPileUp {
				out = append(out, r)
			}
		}
		return out
	}
	require.NoError(t, b.n.pileUps(ctx))
	clock.Add(11*time.Hour + time.Minute) // 12 h 1 min
	for i := 0; i < 3; i++ {
		require.NoError(t, b.n.pileUps(ctx))
	}
	require.Eventually(t, func() bool { return len(pileUps()) == 1 }, 10*time.Second, 10*time.Millisecond)
	p := pileUps()[0]
	require.Equal(t, float64(2), p.Body.Data.Details["pile_up"], "two releases behind the lock")
	require.Equal(t, "incident", p.Body.Data.Reason)
	require.Eventually(t, func() bool {
		for _, c := range b.slack.snapshot() {
			if strings.Contains(fmt.Sprint(c.Body["text"]), "2 release(s) have piled up") {
				return true
			}
		}
		return false
	}, 10*time.Second, 10*time.Millisecond)

	clock.Add(2 * time.Hour)
	require.NoError(t, b.n.pileUps(ctx))
	time.Sleep(300 * time.Millisecond)
	require.Len(t, pileUps(), 1, "not again before 3 h")
	clock.Add(time.Hour)
	require.NoError(t, b.n.pileUps(ctx))
	// The engine's clock moves on (the sweeper looks at deliveries due a
	// sweep ago: a frozen clock would leave a lost wake-up to it forever).
	if !assertEventually(func() bool { clock.Add(50 * time.Millisecond); return len(pileUps()) == 2 }, 30*time.Second) {
		for _, p := range pileUps() {
			t.Logf("pile-up %s %v", p.ID, p.Body.Data.Details)
		}
		b.dump(t)
	}
}

// TestFailingCheckHeardInChannel: a check failing while a release bakes is
// heard in the release's thread and the channel; the latency from the
// check's event to the Slack call is printed.
func TestFailingCheckHeardInChannel(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "shop", Version: "v1"})
	require.NoError(t, err)
	var call slackCall
	require.Eventually(t, func() bool {
		for _, c := range b.slack.snapshot() {
			if strings.Contains(fmt.Sprint(c.Body["text"]), "check failed in shop production") {
				call = c
				return true
			}
		}
		return false
	}, 20*time.Second, 5*time.Millisecond, "the channel hears of the failing check")
	require.NotNil(t, call.Body["thread_ts"])
	require.Equal(t, true, call.Body["reply_broadcast"])
	evs, err := b.st.EventList(ctx, &store.EventListParams{Service: "shop", Limit: 1000})
	require.NoError(t, err)
	for _, ev := range evs {
		if ev.Type == pipeline.EventCheckFailed {
			t.Logf("FIGURE check_failed_to_slack_ms=%.1f", float64(call.At.Sub(ev.At).Microseconds())/1000)
			return
		}
	}
	t.Fatal("no check.failed event")
}

func (b *bundle) dump(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	ds, _ := b.st.DeliveryList(ctx, &store.DeliveryListParams{Limit: 1000})
	for _, d := range ds {
		t.Logf("delivery %d %s %s %s attempts=%d err=%s next=%s", d.ID, d.Destination, d.Type, d.State, d.Attempts, d.LastError, d.NextAttemptAt)
	}
	jobs, _ := b.st.JobList(ctx, &store.JobListParams{})
	for _, j := range jobs {
		t.Logf("job %d %s %s %s", j.ID, j.Kind, j.Args, j.State)
	}
	t.Logf("slack calls: %d", len(b.slack.snapshot()))
	t.FailNow()
}

// TestGiveUpThenResend: after the last attempt a pair's deliveries are
// failed (and listed so); a re-send delivers one with the same webhook-id.
func TestGiveUpThenResend(t *testing.T) {
	b := setup(t, func(o *Options) { o.MaxAttempts = 2 })
	ctx := context.Background()
	b.hook.setDown(true)
	_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	var failed []store.Delivery
	require.Eventually(t, func() bool {
		failed, err = b.n.Deliveries(ctx, true, 100)
		require.NoError(t, err)
		return len(failed) == 1
	}, 20*time.Second, 10*time.Millisecond, "given up after the last attempt")
	d := failed[0]
	require.Equal(t, "audit", d.Destination)
	require.Equal(t, 2, d.Attempts)
	require.Contains(t, d.LastError, "503")
	require.NotContains(t, d.LastError, "127.0.0.1", "addresses are redacted")

	b.hook.setDown(false)
	_, err = b.n.Resend(ctx, d.ID)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		got, err := b.st.DeliveryGet(ctx, d.ID)
		require.NoError(t, err)
		return got.State == store.DeliveryDelivered
	}, 20*time.Second, 10*time.Millisecond)
	got, attempts, _ := b.hook.snapshot()
	require.Len(t, got, 1)
	require.Equal(t, d.MsgID, got[0].ID)
	for _, id := range attempts {
		require.Equal(t, d.MsgID, id, "every attempt, and the re-send, carry one webhook-id")
	}
	_, err = b.n.Resend(ctx, 9999)
	require.ErrorIs(t, err, store.ErrNotFound)
}

// TestSlackRoleBounds: with slack.role viewer, a slash command may read
// the status but not lock.
func TestSlackRoleBounds(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	cfg := *b.e.Config()
	sl := *cfg.Slack
	sl.Role = "viewer"
	cfg.Slack = &sl
	b.e.SetConfig(ctx, &cfg)
	resp := b.slackPost(t, CommandsPath, url.Values{"text": {"lock web production because"}, "user_id": {"U024BE7LH"}}, time.Now(), signingSecret)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, decodeBody(t, resp)["text"], "role viewer")
	locks, err := b.st.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Empty(t, locks)
	resp = b.slackPost(t, CommandsPath, url.Values{"text": {"status web"}, "user_id": {"U024BE7LH"}}, time.Now(), signingSecret)
	require.Contains(t, decodeBody(t, resp)["text"], "*web*")
	resp = b.slackPost(t, CommandsPath, url.Values{"text": {"deploy web"}, "user_id": {"U024BE7LH"}}, time.Now(), signingSecret)
	require.Contains(t, decodeBody(t, resp)["text"], "Unknown command")
}

// TestBakingMessageMoves: a baking release's message is redrawn as time
// passes, without an event ("baking 23/60 min").
func TestBakingMessageMoves(t *testing.T) {
	clock := testutil.NewClock(time.Now())
	b := setupClock(t, clock, nil)
	ctx := context.Background()
	require.Eventually(t, b.e.IsLeader, 10*time.Second, 10*time.Millisecond)
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "shop", Version: "v1"})
	require.NoError(t, err)
	b.settle(t, "shop")
	has := func(s string) bool {
		for _, c := range b.slack.snapshot() {
			if c.Method == "chat.update" && strings.Contains(fmt.Sprint(c.Body["text"]), s) {
				return true
			}
		}
		return false
	}
	require.Eventually(t, func() bool { return has("staging ✓ — baking 0/60 min") }, 20*time.Second, 10*time.Millisecond)
	clock.Add(23 * time.Minute)
	require.NoError(t, b.n.pileUps(ctx))
	require.Eventually(t, func() bool { return has("staging ✓ — baking 23/60 min") }, 20*time.Second, 10*time.Millisecond)
}

// TestWebhookInOrderOnPostgres: the same promise on PostgreSQL (River's
// unique jobs and LISTEN/NOTIFY there): down, then back, every event once
// per id and in order.
func TestWebhookInOrderOnPostgres(t *testing.T) {
	b := setupDB(t, testutil.NewPostgresDB(t), nil, nil)
	ctx := context.Background()
	b.hook.setDown(true)
	for i := 0; i < 4; i++ {
		_, err := b.e.Lock(ctx, "ana", engine.LockParams{Service: "web", Environment: "production", Reason: "r" + strconv.Itoa(i)})
		require.NoError(t, err)
		_, err = b.e.Unlock(ctx, "ana", "web", "production", "u")
		require.NoError(t, err)
	}
	require.Eventually(t, func() bool { _, att, _ := b.hook.snapshot(); return len(att) >= 3 }, 20*time.Second, 10*time.Millisecond)
	b.hook.setDown(false)
	require.Eventually(t, func() bool { got, _, _ := b.hook.snapshot(); return len(firstSeen(got)) == 8 }, 30*time.Second, 10*time.Millisecond)
	got, _, bad := b.hook.snapshot()
	require.Zero(t, bad)
	var ids []int64
	for _, r := range got {
		ids = append(ids, r.Body.Data.EventID)
	}
	require.True(t, slices.IsSorted(ids), "in order: %v", ids)
	require.Len(t, got, 8, "once per id")
}

// TestBisectCulpritTellsItsAuthor: a bisect's culprit is announced in the
// channel, and its author (mapped through slack.users) is mentioned.
func TestBisectCulpritTellsItsAuthor(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v5", Author: "ana"})
	require.NoError(t, err)
	cfg := b.e.Config()
	svc, ok := cfg.Service("web")
	require.True(t, ok)
	require.Equal(t, "bisect", Kind(pipeline.EventBisectCulprit))
	text, broadcast := b.n.replyText(ctx, cfg, svc, Body{Type: pipeline.EventBisectCulprit,
		Data: Data{Service: "web", Environment: "staging", Version: "v5", Reason: "check smoke failed 3 of 3 runs"}})
	require.True(t, broadcast, "the culprit is told in the channel, not only in its thread")
	require.Contains(t, text, "found the culprit `v5` in staging: check smoke failed 3 of 3 runs")
	require.Contains(t, text, "<@U024BE7LH>", "its author is mentioned")
}

// TestSelectorLockReplyNamesTheSelector: a selector lock's events are not
// about one service; what Slack is told names the selector.
func TestSelectorLockReplyNamesTheSelector(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	cfg := b.e.Config()
	svc, ok := cfg.Service("web")
	require.True(t, ok)
	for typ, want := range map[string]string{
		pipeline.EventLockPlaced:   ":lock: the services matching team=payments in production locked by ana: freeze",
		pipeline.EventLockReleased: ":unlock: the services matching team=payments in production unlocked by ana: freeze",
	} {
		text, _ := b.n.replyText(ctx, cfg, svc, Body{Type: typ, Data: Data{Service: pipeline.AllServices, Environment: "production",
			Actor: "ana", Reason: "freeze", Details: map[string]any{"selector": "team=payments"}}})
		require.Equal(t, want, text, typ)
	}
	text, _ := b.n.replyText(ctx, cfg, svc, Body{Type: pipeline.EventLockPlaced, Data: Data{Service: pipeline.AllServices,
		Environment: "production", Actor: "ana", Reason: "incident"}})
	require.Equal(t, ":lock: every service's production locked by ana: incident", text, "the lock on every service is still said so")
}
