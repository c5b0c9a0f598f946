package github

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
	"strings"
	"unicode/utf8"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// MaxPayload is the largest delivery bakery reads: GitHub's own cap on a
// webhook payload (25 MB). A larger body is answered 413 without being
// read further.
const MaxPayload = 25 << 20

// WebhookPath is where GitHub's deliveries are received.
const WebhookPath = "/webhooks/github"

// Actor is the event log's actor of releases created from webhooks.
const Actor = "github"

// Sign is the X-Hub-Signature-256 value of body under secret: sha256= and
// the hex HMAC-SHA256, as GitHub computes it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// validSignature checks header (X-Hub-Signature-256) against body with a
// constant-time comparison of the MACs.
func validSignature(secret string, body []byte, header string) bool {
	hexMAC, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexMAC)
	if err != nil || len(got) != sha256.Size {
		return false
	}
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hmac.Equal(got, m.Sum(nil))
}

// Created is one release a delivery made (or found made already).
type Created struct {
	Service string `json:"service"`
	Version string `json:"version"`
	// Exists is true when the release was there already (the same commit
	// by another event, or a person).
	Exists bool `json:"exists,omitempty"`
}

// answer is the body of a delivery's response.
type answer struct {
	Created   []Created `json:"created"`
	Ignored   string    `json:"ignored,omitempty"`
	Duplicate bool      `json:"duplicate,omitempty"`
	Delivery  string    `json:"delivery,omitempty"`
}

type errBody struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// clip keeps header values put on the record short and printable: they
// come from anyone who can reach the endpoint.
func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "?")
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// ServeHTTP receives one webhook delivery (POST /webhooks/github). The
// signature is checked over the raw body before anything in it is read;
// the delivery is then processed once per X-GitHub-Delivery.
func (g *GitHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := g.e.Now()
	event := clip(r.Header.Get("X-GitHub-Event"), 64)
	delivery := clip(r.Header.Get("X-GitHub-Delivery"), 100)
	log := g.log.With("delivery", delivery, "event", event)
	cfg := g.e.Config().GitHub
	if cfg == nil || cfg.WebhookSecretEnv == "" {
		writeJSON(w, http.StatusNotFound, errBody{Error: "GitHub webhooks are not configured",
			Detail: "add github: {webhook_secret_env: NAME} to bakery's configuration and set NAME to the webhook's secret"})
		return
	}
	secret, err := cfg.Secret(cfg.WebhookSecretEnv, "webhook secret")
	if err != nil {
		log.Error("GitHub delivery refused: no secret to check it with", "error", err)
		writeJSON(w, http.StatusServiceUnavailable, errBody{Error: "the webhook secret is not set on the server", Detail: "set " + cfg.WebhookSecretEnv + " in bakery's environment and restart it"})
		return
	}
	reject := func(status int, msg, detail string) {
		ip := httpx.ClientIP(r)
		if _, flooding := g.rejects.Blocked(ip); !flooding {
			if _, last := g.rejects.Fail(ip); last {
				log.Warn("GitHub delivery rejected; more refused deliveries from this address are not recorded for a minute", "reason", msg, "client", ip)
			} else {
				log.Warn("GitHub delivery rejected", "reason", msg, "client", ip)
			}
			g.record(r.Context(), &store.GitHubDelivery{DeliveryID: delivery, Event: event, Outcome: "rejected", Detail: msg, ReceivedAt: received})
		}
		writeJSON(w, status, errBody{Error: msg, Detail: detail})
	}
	sig := r.Header.Get("X-Hub-Signature-256")
	if sig == "" {
		// Refused before the body is read: an unsigned request costs no
		// more than its headers.
		reject(http.StatusUnauthorized, "missing signature", "deliveries must carry X-Hub-Signature-256: set the webhook's secret in GitHub to the value of "+cfg.WebhookSecretEnv)
		return
	}
	if r.ContentLength > MaxPayload {
		reject(http.StatusRequestEntityTooLarge, "payload too large", fmt.Sprintf("the limit is %d bytes, GitHub's own", MaxPayload))
		return
	}
	body, err := readBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reject(http.StatusRequestEntityTooLarge, "payload too large", fmt.Sprintf("the limit is %d bytes, GitHub's own", MaxPayload))
			return
		}
		reject(http.StatusBadRequest, "the body could not be read", err.Error())
		return
	}
	if !validSignature(secret, body, sig) {
		reject(http.StatusUnauthorized, "wrong signature", "X-Hub-Signature-256 does not match the body under the secret in "+cfg.WebhookSecretEnv+": the secrets in GitHub and bakery differ, or the body was changed on the way")
		return
	}
	// Signed by GitHub: now the body may be read.
	if event == "" || delivery == "" {
		reject(http.StatusBadRequest, "missing X-GitHub-Event or X-GitHub-Delivery", "GitHub sends both with every delivery")
		return
	}
	c, perr := Parse(event, body)
	row := &store.GitHubDelivery{DeliveryID: delivery, Event: event, Action: clip(c.Action, 64), Accepted: true, Outcome: "processing", ReceivedAt: received}
	id, err := g.insertDelivery(r.Context(), row)
	if errors.Is(err, store.ErrConflict) {
		log.Info("GitHub redelivery ignored: processed already")
		g.record(r.Context(), &store.GitHubDelivery{DeliveryID: delivery, Event: event, Action: row.Action, Outcome: "duplicate", Detail: "processed already", ReceivedAt: received})
		writeJSON(w, http.StatusOK, answer{Created: []Created{}, Duplicate: true, Delivery: delivery, Ignored: "this delivery was processed already"})
		return
	}
	if err != nil {
		log.Error("GitHub delivery not recorded", "error", err)
		writeJSON(w, http.StatusInternalServerError, errBody{Error: "internal error", Detail: "the delivery could not be recorded; GitHub may redeliver it"})
		return
	}
	var malformed *ErrMalformed
	if errors.As(perr, &malformed) {
		g.finish(r.Context(), id, "malformed", malformed.Error(), false)
		log.Warn("GitHub delivery malformed", "error", perr)
		writeJSON(w, http.StatusBadRequest, errBody{Error: "malformed payload", Detail: malformed.Err.Error()})
		return
	}
	// Once accepted, a delivery is carried through even if GitHub stops
	// waiting for the answer (it gives up after 10 s).
	ans, err := g.process(context.WithoutCancel(r.Context()), c)
	if err != nil {
		// Not processed: the delivery ID is given back, so a redelivery
		// (GitHub's "Redeliver" button) tries again.
		g.finish(r.Context(), id, "failed", err.Error(), true)
		log.Error("GitHub delivery failed", "error", err)
		writeJSON(w, http.StatusInternalServerError, errBody{Error: "the delivery could not be processed", Detail: err.Error()})
		return
	}
	ans.Delivery = delivery
	outcome, detail := "ignored", ans.Ignored
	if len(ans.Created) > 0 {
		outcome = "created"
		var parts []string
		for _, c := range ans.Created {
			s := c.Service + "@" + c.Version
			if c.Exists {
				s += " (exists)"
			}
			parts = append(parts, s)
		}
		detail = strings.Join(parts, ", ")
	}
	g.finish(r.Context(), id, outcome, detail, false)
	log.Info("GitHub delivery processed", "outcome", outcome, "detail", detail)
	writeJSON(w, http.StatusOK, ans)
}

// readBody reads the body up to MaxPayload. With a Content-Length (what
// GitHub sends) it is read into one buffer of exactly that size, so the
// payload is held once; without one, a growing buffer reads it up to the
// cap.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, MaxPayload)
	if n := r.ContentLength; n > 0 {
		buf := make([]byte, n)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rd); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func (g *GitHub) insertDelivery(ctx context.Context, d *store.GitHubDelivery) (int64, error) {
	st := g.store()
	if st == nil {
		return 0, errors.New("the store is not open yet")
	}
	var id int64
	err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		id, err = tx.GitHubDeliveryInsert(ctx, d)
		return err
	})
	return id, err
}

// record puts a delivery that was not accepted on the record.
func (g *GitHub) record(ctx context.Context, d *store.GitHubDelivery) {
	if _, err := g.insertDelivery(context.WithoutCancel(ctx), d); err != nil {
		g.log.Error("GitHub delivery not recorded", "delivery", d.DeliveryID, "error", err)
	}
}

func (g *GitHub) finish(ctx context.Context, id int64, outcome, detail string, release bool) {
	st := g.store()
	if st == nil {
		return
	}
	err := st.InTx(context.WithoutCancel(ctx), func(ctx context.Context, tx store.Tx) error {
		return tx.GitHubDeliveryFinish(ctx, &store.GitHubDeliveryFinishParams{ID: id, Outcome: outcome, Detail: clip(detail, 2000), Release: release})
	})
	if err != nil {
		g.log.Error("GitHub delivery's outcome not recorded", "id", id, "error", err)
	}
}

// process creates the releases a checked, parsed delivery asks for.
func (g *GitHub) process(ctx context.Context, c Commit) (answer, error) {
	ans := answer{Created: []Created{}}
	if c.Ignored != "" {
		ans.Ignored = c.Ignored
		return ans, nil
	}
	cfg := g.e.Config()
	var why []string
	matched := 0
	for i := range cfg.Services {
		svc := &cfg.Services[i]
		if svc.Trigger == nil || svc.Trigger.GitHub == nil || !SameRepository(svc.Repository, c.Repository) {
			continue
		}
		matched++
		t := svc.Trigger.GitHub
		switch {
		case t.On != c.Event:
			why = append(why, fmt.Sprintf("%s is triggered by %s", svc.Name, t.On))
			continue
		case t.Branch != c.Branch:
			why = append(why, fmt.Sprintf("%s releases from branch %s, not %s", svc.Name, t.Branch, orNothing(c.Branch)))
			continue
		case c.Event == config.TriggerWorkflowRun && !WorkflowMatches(t.Workflows, c.WorkflowName, c.WorkflowPath):
			why = append(why, fmt.Sprintf("%s waits for workflow %s, not %s (%s)", svc.Name, strings.Join(t.Workflows, " or "), c.WorkflowName, c.WorkflowPath))
			continue
		}
		if len(t.Paths) > 0 {
			files := c.Files
			if !c.HasFiles {
				var err error
				files, err = g.commitFiles(ctx, c.FullName, c.SHA)
				if err != nil {
					return ans, fmt.Errorf("error reading which files commit %s changed (for the paths of %s): %w", short(c.SHA), svc.Name, err)
				}
			}
			if !AnyPathMatches(t.Paths, files) {
				why = append(why, fmt.Sprintf("%s: no changed file matches %s", svc.Name, strings.Join(t.Paths, ", ")))
				continue
			}
		}
		created, err := g.createRelease(ctx, svc, c)
		if err != nil {
			return ans, err
		}
		ans.Created = append(ans.Created, created)
	}
	if len(ans.Created) == 0 {
		switch {
		case matched == 0:
			ans.Ignored = fmt.Sprintf("no service's repository is %s", orNothing(c.Repository))
		default:
			ans.Ignored = strings.Join(why, "; ")
		}
	}
	return ans, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// Artifact fills a service's artifact template.
func Artifact(template, sha, branch, service string) string {
	return strings.NewReplacer("{sha}", sha, "{short_sha}", short(sha), "{branch}", branch, "{service}", service).Replace(template)
}

// createRelease creates the release of svc for c; a release there already
// (the same commit by another event) counts as made.
func (g *GitHub) createRelease(ctx context.Context, svc *config.Service, c Commit) (Created, error) {
	msg := c.Message
	if len(msg) > maxMessage {
		msg = strings.ToValidUTF8(msg[:maxMessage], "")
	}
	author := c.Author
	if len(author) > maxAuthor {
		author = strings.ToValidUTF8(author[:maxAuthor], "")
	}
	out := Created{Service: svc.Name, Version: c.SHA}
	_, err := g.e.CreateRelease(ctx, Actor, engine.ReleaseParams{Service: svc.Name, Version: c.SHA,
		Artifact: Artifact(svc.Artifact, c.SHA, c.Branch, svc.Name), Message: strings.ReplaceAll(msg, "\x00", ""),
		Author: strings.ReplaceAll(author, "\x00", ""), CommittedAt: c.Committed})
	switch {
	case errors.Is(err, engine.ErrDuplicate):
		out.Exists = true
	case err != nil:
		return out, fmt.Errorf("error creating release %s of %s: %w", short(c.SHA), svc.Name, err)
	}
	st := g.store()
	err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.GitHubReleasePut(ctx, &store.GitHubRelease{Service: svc.Name, Version: c.SHA, Repository: c.FullName,
			PRs: c.PRs, Event: c.Event, CreatedAt: g.e.Now()})
	})
	if err != nil {
		return out, err
	}
	return out, nil
}

// The engine's limits on a release's text (engine/input.go); a commit
// message longer than that is cut rather than refused.
const (
	maxMessage = 64 << 10
	maxAuthor  = 256
)
