package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
)

// Button actions of a release's message (action_id) and of the reason
// dialog they open (the view's private_metadata).
const (
	ActionLock     = "bakery_lock"
	ActionUnlock   = "bakery_unlock"
	ActionSkipBake = "bakery_skip_bake"
	ActionRollback = "bakery_rollback"
	// ReasonCallback is the reason dialog's callback_id.
	ReasonCallback = "bakery_reason"
)

// ButtonValue is a button's value: what it acts on.
type ButtonValue struct {
	Action      string `json:"action,omitempty"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Version     string `json:"version,omitempty"`
	// Selector, instead of Service, names the services by their labels
	// (team=payments): lock, unlock and skip-bake act on every match.
	Selector string `json:"selector,omitempty"`
}

// Slack's request limits.
const (
	// SlackTolerance is how old a request's X-Slack-Request-Timestamp may
	// be (or how far ahead).
	SlackTolerance = 5 * time.Minute
	// slackMaxBody caps what is read of a request before it is verified.
	slackMaxBody = 64 << 10
	// answerWithin is how long a command waits for the engine before it
	// answers "in progress" (Slack wants an answer within 3 s) and posts
	// the result to response_url later.
	answerWithin = 2 * time.Second
	// workTimeout bounds an engine call made for Slack.
	workTimeout = time.Minute
)

// ErrSlackSignature is a request that is not Slack's.
var ErrSlackSignature = errors.New("the request's Slack signature does not verify")

// VerifySlack checks a request the way Slack documents it: the
// X-Slack-Request-Timestamp within SlackTolerance of now, and
// X-Slack-Signature equal (constant time) to "v0=" + hex HMAC-SHA256,
// keyed by the signing secret, of "v0:" + timestamp + ":" + body.
func VerifySlack(secret string, h http.Header, body []byte, now time.Time) error {
	ts := h.Get("X-Slack-Request-Timestamp")
	sig := h.Get("X-Slack-Signature")
	if secret == "" || ts == "" || sig == "" {
		return ErrSlackSignature
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSlackSignature
	}
	if d := now.Sub(time.Unix(t, 0)); d > SlackTolerance || d < -SlackTolerance {
		return fmt.Errorf("%w: its timestamp is more than %s away from now", ErrSlackSignature, SlackTolerance)
	}
	if !hmac.Equal([]byte(sig), []byte(SignSlack(secret, ts, body))) {
		return ErrSlackSignature
	}
	return nil
}

// SignSlack is Slack's request signature: "v0=" + hex HMAC-SHA256 of
// "v0:timestamp:body".
func SignSlack(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// SlackHandler answers POST /webhooks/slack/commands and
// /webhooks/slack/interactions.
type SlackHandler struct {
	n  *Notifier
	wg sync.WaitGroup
}

// NewSlackHandler serves Slack's requests with the notifier's engine.
func (n *Notifier) NewSlackHandler() *SlackHandler { return &SlackHandler{n: n} }

// Wait waits for the work of answered requests to end.
func (h *SlackHandler) Wait() { h.wg.Wait() }

// Paths served.
const (
	CommandsPath     = "/webhooks/slack/commands"
	InteractionsPath = "/webhooks/slack/interactions"
)

func (h *SlackHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.n.e.Config()
	if cfg.Slack == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "Slack is not configured: add a slack block to the configuration"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, slackMaxBody+1))
	if err != nil || len(body) > slackMaxBody {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": "request body too large or unreadable"})
		return
	}
	if err := VerifySlack(h.n.opts.Getenv(cfg.Slack.SigningSecretEnv), r.Header, body, time.Now()); err != nil {
		h.n.log.Warn("Slack request refused", "path", r.URL.Path, "error", err)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid Slack signature"})
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the body is not form-encoded"})
		return
	}
	switch r.URL.Path {
	case CommandsPath:
		h.command(w, cfg, form)
	case InteractionsPath:
		h.interaction(w, r.Context(), cfg, form)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no such Slack endpoint"})
	}
}

// actor is the name on the record of a Slack user.
func actor(cfg *config.Config, user string) string {
	if name, ok := cfg.Slack.Users[user]; ok {
		return name
	}
	return "slack:" + user
}

const usage = "Usage: `/bakery lock SERVICE ENV REASON`, `/bakery unlock SERVICE ENV [REASON]`, `/bakery status SERVICE`, `/bakery skip-bake SERVICE ENV REASON`, `/bakery rollback SERVICE ENV REASON`; lock, unlock and skip-bake also take a selector such as team=payments instead of SERVICE"

func (h *SlackHandler) command(w http.ResponseWriter, cfg *config.Config, form url.Values) {
	words := strings.Fields(form.Get("text"))
	user := form.Get("user_id")
	if len(words) == 0 || user == "" {
		writeJSON(w, http.StatusOK, ephemeral(usage))
		return
	}
	verb := words[0]
	args := words[1:]
	reason := func(from int) string {
		if len(args) <= from {
			return ""
		}
		return strings.Join(args[from:], " ")
	}
	var v ButtonValue
	var why string
	switch verb {
	case "status":
		if len(args) != 1 {
			writeJSON(w, http.StatusOK, ephemeral("Usage: `/bakery status SERVICE`"))
			return
		}
		writeJSON(w, http.StatusOK, ephemeral(h.status(cfg, args[0])))
		return
	case "lock", "unlock", "skip-bake", "rollback":
		if len(args) < 2 {
			writeJSON(w, http.StatusOK, ephemeral(usage))
			return
		}
		v = ButtonValue{Action: map[string]string{"lock": ActionLock, "unlock": ActionUnlock, "skip-bake": ActionSkipBake, "rollback": ActionRollback}[verb],
			Service: args[0], Environment: args[1]}
		if strings.Contains(args[0], "=") {
			if verb == "rollback" {
				writeJSON(w, http.StatusOK, ephemeral("A rollback is of one service: `/bakery rollback SERVICE ENV REASON`"))
				return
			}
			v.Service, v.Selector = "", args[0]
		}
		why = reason(2)
	default:
		writeJSON(w, http.StatusOK, ephemeral(fmt.Sprintf("Unknown command %q. %s", verb, usage)))
		return
	}
	text, done := h.act(cfg, user, v, why, form.Get("response_url"))
	if !done {
		text = "Working on it: " + text
	}
	writeJSON(w, http.StatusOK, ephemeral(text))
}

// act runs an action for a Slack user: what the engine answered, if it
// did so within answerWithin (done); otherwise a note, and the result goes
// to responseURL when it comes.
func (h *SlackHandler) act(cfg *config.Config, user string, v ButtonValue, reason, responseURL string) (string, bool) {
	if !allowed(cfg.Slack.Role, v.Action) {
		return fmt.Sprintf("Slack users have role %s here, which may not do that (slack.role in the configuration)", cfg.Slack.Role), true
	}
	who := actor(cfg, user)
	res := make(chan string, 1)
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), workTimeout)
		defer cancel()
		res <- h.run(ctx, who, v, reason)
	}()
	select {
	case text := <-res:
		return text, true
	case <-time.After(answerWithin):
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		text := <-res
		h.n.log.Info("Slack action done", "actor", who, "action", v.Action, "service", v.Service, "environment", v.Environment, "result", text)
		if responseURL != "" {
			h.respond(responseURL, text)
		}
	}()
	return describe(v), false
}

func describe(v ButtonValue) string {
	return fmt.Sprintf("%s %s %s", strings.TrimPrefix(v.Action, "bakery_"), v.target(), v.Environment)
}

// target is the service, or the selector's services.
func (v ButtonValue) target() string {
	if v.Selector != "" {
		return "the services matching " + v.Selector + ","
	}
	return v.Service
}

// allowed: lock, unlock, skip-bake and rollback need deployer, as in the
// API (status, a read, needs viewer: any configured role).
func allowed(role, _ string) bool {
	return role == "deployer" || role == "admin"
}

// run makes the engine call: the same call the API makes for the CLI and
// the dashboard, with the same checks.
func (h *SlackHandler) run(ctx context.Context, who string, v ButtonValue, reason string) string {
	e := h.n.e
	var err error
	var text string
	if v.Selector != "" {
		return h.runSelector(ctx, who, v, reason)
	}
	switch v.Action {
	case ActionLock:
		_, err = e.Lock(ctx, who, engine.LockParams{Service: v.Service, Environment: v.Environment, Reason: reason})
		text = fmt.Sprintf(":lock: %s %s is locked: no automatic promotion will start there until it is unlocked", v.Service, v.Environment)
	case ActionUnlock:
		if strings.TrimSpace(reason) == "" {
			reason = "unlocked from Slack"
		}
		_, err = e.Unlock(ctx, who, v.Service, v.Environment, reason)
		text = fmt.Sprintf(":unlock: %s %s is unlocked", v.Service, v.Environment)
	case ActionSkipBake:
		r, serr := e.SkipBake(ctx, who, v.Service, v.Environment, reason)
		err = serr
		text = fmt.Sprintf(":fast_forward: %s `%s` skips its bake before %s", v.Service, r.Version, v.Environment)
	case ActionRollback:
		_, r, rerr := e.Rollback(ctx, who, engine.RollbackParams{Service: v.Service, Environment: v.Environment, Reason: reason})
		err = rerr
		text = fmt.Sprintf(":rewind: %s %s is rolling back to `%s`", v.Service, v.Environment, r.Version)
	default:
		return "unknown action " + v.Action
	}
	if err != nil {
		return ":warning: " + h.n.redact(err.Error())
	}
	return text
}

// status is /bakery status: each environment's release, and its locks.
func (h *SlackHandler) status(cfg *config.Config, service string) string {
	ctx, cancel := context.WithTimeout(context.Background(), answerWithin)
	defer cancel()
	svc, dec, err := h.n.e.Status(ctx, service)
	if err != nil {
		return ":warning: " + h.n.redact(err.Error())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "*%s* (<%s/services/%s|dashboard>)", svc.Name, cfg.Server.URL, svc.Name)
	for _, env := range dec.Environments {
		cur := "nothing yet"
		if env.Current != nil {
			cur = "`" + slackEscape(env.Current.Version) + "`"
		}
		fmt.Fprintf(&b, "\n• %s: %s", env.Name, cur)
		if env.Active != nil {
			fmt.Fprintf(&b, ", deploying `%s`", slackEscape(env.Active.Version))
		}
		for _, l := range env.Locks {
			fmt.Fprintf(&b, ", :lock: locked by %s: %s", slackEscape(l.Actor), slackEscape(l.Reason))
		}
		if len(env.Queue) > 0 {
			fmt.Fprintf(&b, ", %d waiting", len(env.Queue))
		}
	}
	return b.String()
}

// respond posts a command's late result to its response_url.
func (h *SlackHandler) respond(responseURL, text string) {
	ctx, cancel := context.WithTimeout(context.Background(), h.n.opts.RequestTimeout)
	defer cancel()
	body, _ := json.Marshal(ephemeral(text))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, responseURL, bytes.NewReader(body))
	if err != nil {
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.n.http.Do(req)
	if err != nil {
		h.n.log.Warn("cannot post a Slack command's result", "error", h.n.redact(err.Error()))
		return
	}
	_ = resp.Body.Close()
}

// interaction is a button press (block_actions: open the reason dialog)
// or the dialog's submission (view_submission: act).
func (h *SlackHandler) interaction(w http.ResponseWriter, ctx context.Context, cfg *config.Config, form url.Values) {
	var p struct {
		Type      string `json:"type"`
		TriggerID string `json:"trigger_id"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		Actions []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"actions"`
		View struct {
			CallbackID      string `json:"callback_id"`
			PrivateMetadata string `json:"private_metadata"`
			State           struct {
				Values map[string]map[string]struct {
					Value string `json:"value"`
				} `json:"values"`
			} `json:"state"`
		} `json:"view"`
	}
	if err := json.Unmarshal([]byte(form.Get("payload")), &p); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "payload is not JSON"})
		return
	}
	switch p.Type {
	case "block_actions":
		if len(p.Actions) == 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
		var v ButtonValue
		if err := json.Unmarshal([]byte(p.Actions[0].Value), &v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the button's value is not bakery's"})
			return
		}
		v.Action = p.Actions[0].ActionID
		if err := h.openDialog(ctx, p.TriggerID, v); err != nil {
			h.n.log.Warn("cannot open the Slack reason dialog", "error", h.n.redact(err.Error()))
		}
		w.WriteHeader(http.StatusOK)
	case "view_submission":
		if p.View.CallbackID != ReasonCallback {
			w.WriteHeader(http.StatusOK)
			return
		}
		var v ButtonValue
		if err := json.Unmarshal([]byte(p.View.PrivateMetadata), &v); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "the dialog's metadata is not bakery's"})
			return
		}
		reason := p.View.State.Values["reason"]["reason"].Value
		text, done := h.act(cfg, p.User.ID, v, reason, "")
		if done && strings.HasPrefix(text, ":warning:") {
			// Shown under the reason field; the dialog stays open.
			writeJSON(w, http.StatusOK, map[string]any{"response_action": "errors", "errors": map[string]string{"reason": strings.TrimPrefix(text, ":warning: ")}})
			return
		}
		w.WriteHeader(http.StatusOK) // closes the dialog; the event tells the channel
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// openDialog opens the reason dialog (views.open) for a button.
func (h *SlackHandler) openDialog(ctx context.Context, trigger string, v ButtonValue) error {
	c, err := h.n.slackClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, answerWithin)
	defer cancel()
	meta, _ := json.Marshal(v)
	title := map[string]string{ActionLock: "Lock", ActionUnlock: "Unlock", ActionSkipBake: "Skip bake", ActionRollback: "Roll back"}[v.Action]
	if title == "" {
		return fmt.Errorf("unknown button %q", v.Action)
	}
	view := map[string]any{
		"type": "modal", "callback_id": ReasonCallback, "private_metadata": string(meta),
		"title":  map[string]any{"type": "plain_text", "text": title},
		"submit": map[string]any{"type": "plain_text", "text": title},
		"close":  map[string]any{"type": "plain_text", "text": "Cancel"},
		"blocks": []any{map[string]any{
			"type": "input", "block_id": "reason",
			"label":   map[string]any{"type": "plain_text", "text": fmt.Sprintf("Why %s %s %s? (on the record)", strings.ToLower(title), v.Service, v.Environment)},
			"element": map[string]any{"type": "plain_text_input", "action_id": "reason", "multiline": true},
		}},
	}
	_, err = c.Call(ctx, "views.open", map[string]any{"trigger_id": trigger, "view": view})
	return err
}

func ephemeral(text string) map[string]string {
	return map[string]string{"response_type": "ephemeral", "text": text}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// runSelector is run for a selector: one lock record for every matching
// service, its release, or each matching service's bake skipped.
func (h *SlackHandler) runSelector(ctx context.Context, who string, v ButtonValue, reason string) string {
	e := h.n.e
	var err error
	var text string
	switch v.Action {
	case ActionLock:
		_, err = e.Lock(ctx, who, engine.LockParams{Selector: v.Selector, Environment: v.Environment, Reason: reason})
		matching, _ := e.MatchingServices(v.Selector, v.Environment)
		text = fmt.Sprintf(":lock: %s of the services matching %s is locked (%d now): no automatic promotion will start there until it is unlocked",
			v.Environment, v.Selector, len(matching))
	case ActionUnlock:
		if strings.TrimSpace(reason) == "" {
			reason = "unlocked from Slack"
		}
		_, err = e.UnlockSelector(ctx, who, v.Selector, v.Environment, reason)
		text = fmt.Sprintf(":unlock: %s of the services matching %s is unlocked", v.Environment, v.Selector)
	case ActionSkipBake:
		var outs []engine.SkipOutcome
		outs, err = e.SkipBakeSelector(ctx, who, v.Selector, v.Environment, reason)
		var skipped []string
		for _, o := range outs {
			if o.Skipped {
				skipped = append(skipped, fmt.Sprintf("%s `%s`", o.Service, o.Release.Version))
			}
		}
		text = fmt.Sprintf(":fast_forward: %d of the services matching %s skip their bake before %s: %s", len(skipped), v.Selector, v.Environment, strings.Join(skipped, ", "))
	default:
		return "a selector works with lock, unlock and skip-bake"
	}
	if err != nil {
		return ":warning: " + h.n.redact(err.Error())
	}
	return text
}
