package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
)

// Sign is a Standard Webhooks signature: "v1," + base64 of HMAC-SHA256,
// keyed by the secret's key, over "id.timestamp.body".
func Sign(key []byte, id string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	mac.Write([]byte(strconv.FormatInt(timestamp, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// VerifyTolerance is how far a webhook's timestamp may be from the
// receiver's clock.
const VerifyTolerance = 5 * time.Minute

// Errors of Verify.
var (
	ErrMissingHeaders   = errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	ErrBadTimestamp     = errors.New("webhook-timestamp is not a Unix time in seconds")
	ErrTimestampTooOld  = errors.New("webhook-timestamp is too far in the past")
	ErrTimestampTooNew  = errors.New("webhook-timestamp is too far in the future")
	ErrNoMatchingSigner = errors.New("no signature matches")
)

// Verify checks a received webhook the way the Standard Webhooks reference
// libraries do: all three headers present; the timestamp within
// VerifyTolerance of now; and one of the space-separated "v1,<base64>"
// signatures equal (constant time) to the expected one. secret is
// "whsec_" + base64. It is what a receiver of bakery's webhooks runs, and
// bakery's tests run it on every delivery they receive.
func Verify(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := config.WebhookKey(secret)
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return ErrMissingHeaders
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrBadTimestamp
	}
	switch at := time.Unix(t, 0); {
	case now.Sub(at) > VerifyTolerance:
		return ErrTimestampTooOld
	case at.Sub(now) > VerifyTolerance:
		return ErrTimestampTooNew
	}
	want := []byte(strings.TrimPrefix(Sign(key, id, t, body), "v1,"))
	for _, s := range strings.Split(sigs, " ") {
		version, sig, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		if hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return ErrNoMatchingSigner
}

// sendWebhook posts one delivery, signed with the secret that d's
// secret_env names.
func (n *Notifier) sendWebhook(ctx context.Context, d *config.WebhookDestination, msgID string, body []byte) error {
	key, err := config.WebhookKey(n.opts.Getenv(d.SecretEnv))
	if err != nil {
		return fmt.Errorf("%s: %w", d.SecretEnv, err)
	}
	ctx, cancel := context.WithTimeout(ctx, n.opts.RequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "bakery")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(key, msgID, ts, body))
	resp, err := n.http.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the endpoint answered %s: %s", resp.Status, strings.TrimSpace(string(snippet)))
	}
	return nil
}
