package github

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
)

// APIVersion is the REST API version bakery speaks
// (X-GitHub-Api-Version).
const APIVersion = "2022-11-28"

// userAgent names bakery to GitHub, which refuses requests without one.
const userAgent = "bakery-deploy"

// APIError is an answer of GitHub's REST API other than 2xx.
type APIError struct {
	Method, Path string
	Status       int
	Message      string // GitHub's "message"
	// Errors are the "errors" of a 422 validation failure, as text.
	Errors []string
	// RetryAfter, when not zero, is when GitHub says to try again
	// (Retry-After, or X-RateLimit-Reset with X-RateLimit-Remaining: 0).
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("GitHub answered %d to %s %s", e.Status, e.Method, e.Path)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Errors) > 0 {
		s += " (" + strings.Join(e.Errors, "; ") + ")"
	}
	return s
}

// Temporary reports whether trying again later may succeed: a server
// error, a rate limit (primary or secondary), or a time-out.
func (e *APIError) Temporary() bool {
	switch {
	case e.Status >= 500, e.Status == http.StatusTooManyRequests:
		return true
	case e.Status == http.StatusForbidden && e.RetryAfter > 0:
		return true
	}
	return false
}

// Client calls GitHub's REST API as a token's owner or a GitHub App
// installation.
type Client struct {
	base string
	http *http.Client
	now  func() time.Time
	auth func(ctx context.Context) (string, error)

	// notBefore is when GitHub last said to come back (a rate limit): no
	// call of any job goes out before then, so two syncs running side by
	// side do not both spend the limit. Wall time: it is GitHub's clock.
	mu        sync.Mutex
	notBefore time.Time
}

// NewClient builds a client for the github block. Secrets are read from
// bakery's environment (and the App's key from its file) now.
func NewClient(cfg *config.GitHub, hc *http.Client, now func() time.Time) (*Client, error) {
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{base: strings.TrimSuffix(cfg.APIURL, "/"), http: hc, now: now}
	switch {
	case cfg.App != nil:
		pemBytes, err := os.ReadFile(cfg.App.PrivateKeyFile)
		if err != nil {
			return nil, fmt.Errorf("error reading the GitHub App's private key (github.app.private_key_file): %w", err)
		}
		key, err := parseRSAKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("error reading the GitHub App's private key %s: %w", cfg.App.PrivateKeyFile, err)
		}
		a := &appAuth{c: c, appID: cfg.App.ID, installation: cfg.App.InstallationID, key: key}
		c.auth = a.token
	case cfg.TokenEnv != "":
		tok, err := cfg.Secret(cfg.TokenEnv, "token")
		if err != nil {
			return nil, err
		}
		c.auth = func(context.Context) (string, error) { return tok, nil }
	default:
		return nil, errors.New("github has neither token_env nor app: bakery cannot call GitHub's API; add one of them")
	}
	return c, nil
}

// Do sends one request (in as JSON when not nil) and decodes the answer
// into out (when not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	tok, err := c.auth(ctx)
	if err != nil {
		return err
	}
	return c.do(ctx, method, path, "Bearer "+tok, in, out)
}

func (c *Client) do(ctx context.Context, method, path, authz string, in, out any) error {
	c.mu.Lock()
	wait := time.Until(c.notBefore)
	c.mu.Unlock()
	if wait > 0 {
		return &APIError{Method: method, Path: path, Status: http.StatusTooManyRequests,
			Message: "not sent: GitHub's rate limit asked bakery to wait", RetryAfter: wait}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", APIVersion)
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Authorization", authz)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// Network trouble is temporary.
		return &APIError{Method: method, Path: path, Status: http.StatusBadGateway, Message: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		return &APIError{Method: method, Path: path, Status: http.StatusBadGateway, Message: "error reading the answer: " + err.Error()}
	}
	if resp.StatusCode/100 != 2 {
		return c.apiError(method, path, resp, data)
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("error decoding GitHub's answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

func (c *Client) apiError(method, path string, resp *http.Response, data []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
	var v struct {
		Message string            `json:"message"`
		Errors  []json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(data, &v) == nil {
		e.Message = v.Message
		for _, raw := range v.Errors {
			var fe struct {
				Resource, Field, Code, Message string
			}
			if json.Unmarshal(raw, &fe) == nil && (fe.Code != "" || fe.Message != "") {
				e.Errors = append(e.Errors, strings.TrimSpace(strings.Join([]string{fe.Resource, fe.Field, fe.Code, fe.Message}, " ")))
				continue
			}
			var s string
			if json.Unmarshal(raw, &s) == nil {
				e.Errors = append(e.Errors, s)
			}
		}
	}
	e.RetryAfter = retryAfter(resp.Header, c.now())
	if e.RetryAfter > 0 && e.Temporary() {
		c.mu.Lock()
		if until := time.Now().Add(e.RetryAfter); until.After(c.notBefore) {
			c.notBefore = until
		}
		c.mu.Unlock()
	}
	return e
}

// retryAfter reads when GitHub says to come back: Retry-After (seconds),
// or, when X-RateLimit-Remaining is 0, X-RateLimit-Reset (epoch seconds).
func retryAfter(h http.Header, now time.Time) time.Duration {
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			return max(time.Duration(n)*time.Second, time.Second)
		}
	}
	if h.Get("X-RateLimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
			return max(time.Unix(n, 0).Sub(now), time.Second)
		}
		return time.Minute
	}
	return 0
}

// appAuth turns a GitHub App's key into installation tokens: a JWT (RS256,
// iss = the App's ID, issued 60 s in the past against clock drift, valid
// 9 minutes) buys a token at /app/installations/{id}/access_tokens, used
// until 5 minutes before it expires.
type appAuth struct {
	c            *Client
	appID        int64
	installation int64
	key          *rsa.PrivateKey

	mu      sync.Mutex
	tok     string
	expires time.Time
}

func (a *appAuth) token(ctx context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.c.now()
	if a.tok != "" && now.Before(a.expires.Add(-5*time.Minute)) {
		return a.tok, nil
	}
	jwt, err := AppJWT(a.appID, a.key, now)
	if err != nil {
		return "", err
	}
	var out struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	path := fmt.Sprintf("/app/installations/%d/access_tokens", a.installation)
	if err := a.c.do(ctx, http.MethodPost, path, "Bearer "+jwt, nil, &out); err != nil {
		return "", fmt.Errorf("error getting a token for the GitHub App's installation %d: %w", a.installation, err)
	}
	a.tok, a.expires = out.Token, out.ExpiresAt
	return a.tok, nil
}

// AppJWT is the JSON Web Token a GitHub App authenticates with.
func AppJWT(appID int64, key *rsa.PrivateKey, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{"iat": now.Add(-60 * time.Second).Unix(), "exp": now.Add(9 * time.Minute).Unix(), "iss": strconv.FormatInt(appID, 10)})
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("error signing the GitHub App's JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// parseRSAKey reads a PEM RSA key in PKCS#1 (what GitHub generates) or
// PKCS#8.
func parseRSAKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block in the file: download the App's private key (a .pem file) from its settings")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key (GitHub Apps sign with RSA)")
	}
	return rk, nil
}
