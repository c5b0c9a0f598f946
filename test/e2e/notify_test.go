package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/notify"
)

const (
	e2eHookSecret    = "whsec_dGhpcnR5LXR3byBieXRlcyBvZiB0ZXN0IGtleSEhISE="
	e2eSigningSecret = "e2e-signing-secret-0123456789abcdef"
)

// hookReceiver verifies every webhook with notify.Verify (the Standard
// Webhooks reference check) and can be down.
type hookReceiver struct {
	mu   sync.Mutex
	down bool
	ids  []string // verified deliveries, in arrival order
	bad  int
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if err := notify.Verify(e2eHookSecret, r.Header, body, time.Now()); err != nil {
		h.bad++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	h.ids = append(h.ids, r.Header.Get("webhook-id"))
	w.WriteHeader(http.StatusOK)
}

func (h *hookReceiver) set(down bool) { h.mu.Lock(); h.down = down; h.mu.Unlock() }

func (h *hookReceiver) got() ([]string, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.ids), h.bad
}

// fakeSlackAPI answers chat.postMessage / chat.update as Slack's Web API
// does ({"ok": true, "channel", "ts"}), for a bearer token.
func fakeSlackAPI(t *testing.T) *httptest.Server {
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer xoxb-e2e" {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		mu.Lock()
		n++
		ts := fmt.Sprintf("1700000000.%06d", n)
		mu.Unlock()
		_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C0DEPLOYS","ts":%q}`, ts)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func notifyWorld(t *testing.T, hookURL, slackURL string) *world {
	w := newWorld(t, worldOpts{env: []string{"HOOK_SECRET=" + e2eHookSecret, "SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_SIGNING_SECRET=" + e2eSigningSecret}})
	f, err := os.OpenFile(w.config, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = fmt.Fprintf(f, `notifications:
  - name: audit
    webhook: {url: %q, secret_env: HOOK_SECRET}
    services: [web]
  - name: deploys
    slack: {channel: "#deploys"}
slack:
  api_url: %q
  bot_token_env: SLACK_BOT_TOKEN
  signing_secret_env: SLACK_SIGNING_SECRET
  users: {U024BE7LH: ana}
`, hookURL, slackURL)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return w
}

// TestNotificationsSurviveKill: deliveries pending while the endpoint is
// down survive a SIGKILL of bakery; after the restart, with the endpoint
// back, every event arrives, once per webhook-id, in order.
func TestNotificationsSurviveKill(t *testing.T) {
	recv := &hookReceiver{down: true}
	hook := httptest.NewServer(recv)
	defer hook.Close()
	w := notifyWorld(t, hook.URL, fakeSlackAPI(t).URL+"/api")
	w.start()
	w.release("web", "v1")
	w.eventually(30*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })
	require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/environments/production/lock", api.LockRequest{Reason: "incident"}, nil))
	w.eventually(30*time.Second, "a failed attempt on the record", func() bool {
		var out struct {
			Deliveries []api.DeliveryView `json:"deliveries"`
		}
		require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/notifications/deliveries", nil, &out))
		for _, d := range out.Deliveries {
			if d.Destination == "audit" && d.State == "pending" && d.Attempts > 0 && strings.Contains(d.LastError, "503") {
				return true
			}
		}
		return false
	})
	w.kill()
	recv.set(false)
	w.start()

	var want []string
	for _, ev := range w.events("web") {
		if notify.Kind(ev.Type) != "" {
			want = append(want, notify.MsgID(ev.ID, "audit"))
		}
	}
	slices.SortFunc(want, func(a, b string) int { return idOf(a) - idOf(b) })
	// Events written after the restart (a deploy the kill interrupted,
	// taken up again) may arrive too; every one before it must.
	w.eventually(2*time.Minute, "every event delivered", func() bool {
		got, _ := recv.got()
		for _, id := range want {
			if !slices.Contains(got, id) {
				return false
			}
		}
		return true
	})
	got, bad := recv.got()
	require.Zero(t, bad)
	var arrived []string
	for _, id := range uniq(got) {
		if slices.Contains(want, id) {
			arrived = append(arrived, id)
		}
	}
	require.Equal(t, want, arrived, "every event, in order")
	all := uniq(got)
	require.True(t, slices.IsSortedFunc(all, func(a, b string) int { return idOf(a) - idOf(b) }), "in order: %v", all)
	var out struct {
		Deliveries []api.DeliveryView `json:"deliveries"`
	}
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/notifications/deliveries?failed=true", nil, &out))
	require.Empty(t, out.Deliveries)

	// The CLI shows them, and re-sends one with the same webhook-id.
	stdout, stderr, err := w.bakery(nil, "notifications", "deliveries")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "DESTINATION")
	require.Contains(t, stdout, "lock.placed")
	require.Contains(t, stdout, "delivered")
	stdout, stderr, err = w.bakery(nil, "notifications", "deliveries", "--failed")
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "no deliveries")
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/notifications/deliveries", nil, &out))
	var first api.DeliveryView
	for _, d := range out.Deliveries {
		if d.Destination == "audit" {
			first = d
		}
	}
	stdout, stderr, err = w.bakery(nil, "notifications", "resend", strconv.FormatInt(first.ID, 10))
	require.NoError(t, err, stderr)
	require.Contains(t, stdout, "on its way again")
	w.eventually(30*time.Second, "the re-sent delivery arrives again", func() bool {
		got, _ := recv.got()
		n := 0
		for _, id := range got {
			if id == first.WebhookID {
				n++
			}
		}
		return n == 2
	})
	_, stderr, err = w.bakery(nil, "notifications", "resend", "999999")
	require.Error(t, err)
	require.Contains(t, stderr, "no such delivery")
}

func idOf(msgID string) int {
	s := strings.TrimPrefix(msgID, "msg_")
	s, _, _ = strings.Cut(s, "_")
	n, _ := strconv.Atoi(s)
	return n
}

func uniq(ids []string) []string {
	var out []string
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestSlackCommandThroughServer: the served /webhooks/slack/commands
// refuses an unsigned request and locks for a signed one.
func TestSlackCommandThroughServer(t *testing.T) {
	hook := httptest.NewServer(&hookReceiver{})
	defer hook.Close()
	w := notifyWorld(t, hook.URL, fakeSlackAPI(t).URL+"/api")
	w.start()
	post := func(secret string) (int, map[string]any) {
		body := url.Values{"text": {"lock web production checkout errors since 3f2c1ab"}, "user_id": {"U024BE7LH"}}.Encode()
		req, err := http.NewRequest("POST", "http://"+w.addr+notify.CommandsPath, strings.NewReader(body))
		require.NoError(t, err)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", notify.SignSlack(secret, ts, []byte(body)))
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, _ := post("forged")
	require.Equal(t, http.StatusUnauthorized, code)
	code, m := post(e2eSigningSecret)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, m["text"], "locked")
	var locks struct {
		Locks []api.LockView `json:"locks"`
	}
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/locks", nil, &locks))
	require.Len(t, locks.Locks, 1)
	require.Equal(t, "ana", locks.Locks[0].Actor)
}
