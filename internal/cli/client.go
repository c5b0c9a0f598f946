package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/secret"
)

// client talks to a bakery server's API.
type client struct {
	base  string
	token string
	http  *http.Client
}

func newClient(server string) (*client, error) {
	if server == "" {
		server = os.Getenv("BAKERY_SERVER")
	}
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return nil, fmt.Errorf("server %q must start with http:// or https:// (set --server or BAKERY_SERVER)", server)
	}
	token, err := secret.Lookup("BAKERY_TOKEN")
	if err != nil {
		return nil, err
	}
	if token == "" {
		return nil, errors.New("BAKERY_TOKEN is not set (nor BAKERY_TOKEN_FILE): export an API token (the server's BAKERY_BOOTSTRAP_TOKEN, or one made with 'bakery token create')")
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if ca := os.Getenv("BAKERY_CA_CERT"); ca != "" {
		tr, err := caTransport(ca)
		if err != nil {
			return nil, err
		}
		hc.Transport = tr
	}
	return &client{base: strings.TrimSuffix(server, "/"), token: token, http: hc}, nil
}

// caTransport trusts the certificates in the PEM file path besides the
// system's: for a server whose certificate a private CA signed, or a
// self-signed one (server.tls).
func caTransport(path string) (*http.Transport, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read BAKERY_CA_CERT: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("BAKERY_CA_CERT %s holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the server's certificate or its CA's", path)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// APIError is an error response from the server.
type APIError struct {
	Status  int
	Message string `json:"error"`
	Detail  string `json:"detail"`
}

// Error is the server's message and detail made safe for a terminal: the
// detail can quote the request (a version, a reason) back.
func (e *APIError) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%s (HTTP %d): %s", termSafe(e.Message), e.Status, termSafe(e.Detail))
	}
	return fmt.Sprintf("%s (HTTP %d)", termSafe(e.Message), e.Status)
}

func (c *client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the bakery server at %s: %w (is 'bakery serve' running? set --server or BAKERY_SERVER)", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("error reading the response to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		apiErr := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, apiErr) != nil || apiErr.Message == "" {
			apiErr.Message = strings.TrimSpace(string(data))
		}
		return apiErr
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("error decoding the response to %s %s: %w", method, path, err)
	}
	return nil
}
