package notify

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// slackCall is one call the fake Slack Web API received.
type slackCall struct {
	Method string
	Body   map[string]any
	At     time.Time
}

// fakeSlack is Slack's Web API as documented: POST /api/METHOD with a JSON
// body and "Authorization: Bearer xoxb-…"; answers {"ok": true, "channel",
// "ts"} or {"ok": false, "error"}; HTTP 429 with Retry-After when rate
// limited (ratelimit429 calls from the start are refused so).
type fakeSlack struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu          sync.Mutex
	calls       []slackCall
	ratelimit   int // the next this many calls answer 429
	next        int
	onCall      func(slackCall)
	messages    map[string]string // ts -> text
	rateLimited int
}

func newFakeSlack(t *testing.T, token string) *fakeSlack {
	f := &fakeSlack{t: t, token: token, messages: map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSlack) url() string { return f.srv.URL + "/api" }

func (f *fakeSlack) answer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeSlack) serve(w http.ResponseWriter, r *http.Request) {
	method, ok := strings.CutPrefix(r.URL.Path, "/api/")
	if r.Method != http.MethodPost || !ok {
		http.NotFound(w, r)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		f.answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		f.answer(w, map[string]any{"ok": false, "error": "invalid_form_data"})
		return
	}
	var body map[string]any
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		f.answer(w, map[string]any{"ok": false, "error": "invalid_json"})
		return
	}
	f.mu.Lock()
	if f.ratelimit > 0 {
		f.ratelimit--
		f.rateLimited++
		f.mu.Unlock()
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
		f.answer(w, map[string]any{"ok": false, "error": "ratelimited"})
		return
	}
	c := slackCall{Method: method, Body: body, At: time.Now()}
	f.calls = append(f.calls, c)
	cb := f.onCall
	var resp map[string]any
	switch method {
	case "chat.postMessage":
		ch, _ := body["channel"].(string)
		if ch == "" {
			resp = map[string]any{"ok": false, "error": "channel_not_found"}
			break
		}
		if body["text"] == nil && body["blocks"] == nil {
			resp = map[string]any{"ok": false, "error": "no_text"}
			break
		}
		f.next++
		ts := "1700000000." + strconv.Itoa(100000+f.next)
		f.messages[ts], _ = body["text"].(string)
		resp = map[string]any{"ok": true, "channel": "C0DEPLOYS", "ts": ts}
	case "chat.update":
		ts, _ := body["ts"].(string)
		if _, ok := f.messages[ts]; !ok || body["channel"] != "C0DEPLOYS" {
			resp = map[string]any{"ok": false, "error": "message_not_found"}
			break
		}
		f.messages[ts], _ = body["text"].(string)
		resp = map[string]any{"ok": true, "channel": "C0DEPLOYS", "ts": ts}
	case "views.open":
		if body["trigger_id"] == nil || body["trigger_id"] == "" {
			resp = map[string]any{"ok": false, "error": "invalid_trigger_id"}
			break
		}
		resp = map[string]any{"ok": true, "view": map[string]any{"id": "V1"}}
	default:
		resp = map[string]any{"ok": false, "error": "unknown_method"}
	}
	f.mu.Unlock()
	if cb != nil {
		cb(c)
	}
	f.answer(w, resp)
}

func (f *fakeSlack) snapshot() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall(nil), f.calls...)
}

// received is one webhook the receiver took (after verifying it).
type received struct {
	ID   string
	Body Body
	At   time.Time
}

// receiver is a webhook endpoint that verifies every request with Verify,
// exactly as the Standard Webhooks reference does, and can be down.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string

	mu       sync.Mutex
	down     bool
	delay    time.Duration
	attempts []string // webhook-id of every request, refused or not
	got      []received
	bad      int
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	down, delay := r.down, r.delay
	r.attempts = append(r.attempts, req.Header.Get("webhook-id"))
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	if err := Verify(r.secret, req.Header, body, time.Now()); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var b Body
	if err := json.Unmarshal(body, &b); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, received{ID: req.Header.Get("webhook-id"), Body: b, At: time.Now()})
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

func (r *receiver) snapshot() ([]received, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...), append([]string(nil), r.attempts...), r.bad
}
