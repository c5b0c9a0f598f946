package e2e

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/bakery-deploy/bakery/internal/api"
)

// attackRow is one line of the table TestAttacks prints: what was tried
// against the real server and what happened.
type attackRow struct{ attack, result string }

// TestAttacks re-runs, against one real `bakery serve`, the attacks of the
// security review that found secrets in deploy output, forgeable sessions
// and unbounded clients (docs/SECURITY.md). Each one asserts the door holds
// and records what happened; the table is logged, and written to
// $BAKERY_ATTACKS_OUT when set, for the notes that quote it. The guessing
// attack runs last: it blocks the test's own address for a minute.
func TestAttacks(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Hour})
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "env.sh"), []byte("#!/bin/sh\nenv\n"), 0o755))
	const readTimeout, idleTimeout = 2 * time.Second, 2 * time.Second
	cfg := fmt.Sprintf(`server:
  addr: %s
  limits: {read_header_timeout: 1s, read_timeout: %s, idle_timeout: %s}
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./env.sh"]
      - name: production
        bake: 1h
        deploy:
          command: ["./env.sh"]
`, w.addr, readTimeout, idleTimeout)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	const ddKey = "dd-api-key-0a1b2c3d4e5f"
	w.env = append(w.env, "DD_API_KEY="+ddKey, "APP_DATABASE_URL=postgres://app:pw-9f8e7d@db.internal/app")
	w.start()
	base := "http://" + w.addr
	var rows []attackRow
	row := func(attack, format string, args ...any) {
		rows = append(rows, attackRow{attack, fmt.Sprintf(format, args...)})
	}
	newToken := func(name, role string) string {
		var out struct {
			Token string `json:"token"`
		}
		require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/tokens", api.TokenRequest{Name: name, Role: role}, &out))
		return out.Token
	}
	viewer := newToken("reader", "viewer")

	// A deploy command that prints its whole environment, read by a viewer.
	w.release("web", "v1")
	w.eventually(30*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	var deps struct {
		Deployments []api.DeploymentView `json:"deployments"`
	}
	require.Equal(t, 200, w.call(viewer, "GET", "/api/v1/services/web/deployments", nil, &deps))
	var dep api.DeploymentView
	require.Equal(t, 200, w.call(viewer, "GET", fmt.Sprintf("/api/v1/deployments/%d", deps.Deployments[0].ID), nil, &dep))
	out := *dep.Output
	for _, leaked := range []string{adminToken, ddKey, "pw-9f8e7d", "BAKERY_BOOTSTRAP_TOKEN", "APP_DATABASE_URL"} {
		require.NotContains(t, out, leaked)
	}
	row("deploy script runs `env`; a viewer reads the deployment", "%d variables shown, none of bakery's own secrets (bootstrap token, API key, database URL)",
		strings.Count(out, "\n"))

	// The database file, and a session cookie forged from the stored hash
	// the way the old stateless cookies were made.
	path := strings.TrimPrefix(w.db, "sqlite://")
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	require.NoError(t, err)
	var id int64
	var hash string
	require.NoError(t, db.QueryRow(`SELECT id, hash FROM tokens WHERE name = 'bootstrap'`).Scan(&id, &hash))
	require.NoError(t, db.Close())
	payload := strconv.FormatInt(id, 10) + "." + strconv.FormatInt(time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).Unix(), 10)
	m := hmac.New(sha256.New, []byte(hash))
	m.Write([]byte("session:" + payload))
	forged := &http.Cookie{Name: "bakery_session", Value: payload + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))}
	code, _ := w.withCookie(forged, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	row("read the database file", "mode %04o (owner only)", fi.Mode().Perm())
	row("session cookie forged from the stored token hash, valid until 2100", "%d", code)

	// Sign out, then replay the cookie; revoke a token, then use it.
	cookie, csrf := w.session(viewer)
	code, _ = w.withCookie(cookie, "POST", "/signout", "", map[string]string{"X-CSRF-Token": csrf})
	require.Less(t, code, 400)
	code, _ = w.withCookie(cookie, "GET", "/api/v1/whoami", "", nil)
	require.Equal(t, http.StatusUnauthorized, code)
	row("sign out, then replay the old cookie", "%d", code)
	doomed := newToken("doomed", "deployer")
	require.Equal(t, http.StatusOK, w.call(adminToken, "DELETE", "/api/v1/tokens/doomed", nil, nil))
	code = w.call(doomed, "GET", "/api/v1/whoami", nil, nil)
	require.Equal(t, http.StatusUnauthorized, code)
	row("revoke a token, then use it", "%d (token revoked)", code)

	// A banner token, as public pages embed it, reads deployment output.
	banner := newToken("web-banner", "banner")
	require.Equal(t, http.StatusOK, w.call(banner, "GET", "/api/v1/services/web/environments/production/banner", nil, nil))
	code = w.call(banner, "GET", fmt.Sprintf("/api/v1/deployments/%d", dep.ID), nil, nil)
	require.Equal(t, http.StatusForbidden, code)
	row("banner credential reads a deployment's output", "%d; the banner itself 200", code)

	// Made-up HTTP methods, unauthenticated, to grow /metrics.
	before := metricsSize(t, base)
	c := &http.Client{}
	for i := range 5000 {
		req, err := http.NewRequest(fmt.Sprintf("X%08X", rand.Uint32()), base+"/x"+strconv.Itoa(i), nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	after := metricsSize(t, base)
	require.Less(t, after-before, 16<<10, "/metrics grew from %d to %d bytes", before, after)
	row("5,000 requests with made-up methods and paths", "/metrics %.1f KB → %.1f KB", float64(before)/1024, float64(after)/1024)

	// Slow and idle clients, and huge headers.
	closedAfter := slowBody(t, w.addr, 30)
	require.Less(t, closedAfter, 20*time.Second, "a body at 1 byte/s must be cut off by read_timeout (%s)", readTimeout)
	row(fmt.Sprintf("a request body sent at 1 byte/s (read_timeout %s)", readTimeout), "connection closed after %.1f s", closedAfter.Seconds())
	idle := idleConnection(t, w.addr)
	require.Less(t, idle, 20*time.Second)
	row(fmt.Sprintf("an idle keep-alive connection (idle_timeout %s)", idleTimeout), "closed after %.1f s", idle.Seconds())
	req, _ := http.NewRequest("GET", base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 1<<20))
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	row("a 1 MiB request header", "%d", resp.StatusCode)

	// Open redirects after sign-in.
	landed := map[string]bool{}
	for _, next := range []string{"/x/../%5Cevil.example", "//evil.example", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example", "/\t/evil.example"} {
		loc := signinLocation(t, w, viewer, next)
		u, err := url.Parse(base + "/")
		require.NoError(t, err)
		to, err := u.Parse(strings.ReplaceAll(loc, "\\", "/"))
		require.NoError(t, err)
		require.Equal(t, u.Host, to.Host, "next=%q sent the browser to %q", next, loc)
		landed[to.Path] = true
	}
	row("sign-in with next=/x/../%5Cevil.example and 5 other open-redirect payloads", "all stay on bakery (landed on %d same-origin path(s))", len(landed))

	// Text a deployer can put on the record: terminal escapes, NUL,
	// versions that look like options.
	reason := "\x1b]0;pwned\a\x1b[2Jhold"
	require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/environments/production/lock", map[string]any{"reason": reason}, nil))
	status, stderr, err := w.bakery(nil, "status", "web")
	require.NoError(t, err, stderr)
	require.NotContains(t, status, "\x1b")
	require.NotContains(t, status, "\a")
	row("a lock reason with terminal escape sequences, shown by `bakery status`", "printed escaped (%s)", termShown(status))
	code = w.call(adminToken, "POST", "/api/v1/services/web/environments/staging/lock", map[string]any{"reason": "nul\x00byte"}, nil)
	require.Equal(t, http.StatusBadRequest, code)
	row("a NUL byte in a reason", "%d", code)
	code = w.call(adminToken, "POST", "/api/v1/services/web/releases", api.ReleaseRequest{Version: "-rf"}, nil)
	require.Equal(t, http.StatusBadRequest, code)
	row("release version `-rf`", "%d", code)

	// The one-time token secret must not be cached anywhere on the way.
	b, _ := json.Marshal(api.TokenRequest{Name: "cached", Role: "viewer"})
	req, _ = http.NewRequest("POST", base+"/api/v1/tokens", bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	row("caching of the one-time token secret", "Cache-Control: %s", resp.Header.Get("Cache-Control"))

	// Guessing tokens: the 11th wrong one, and then a right one.
	var got []int
	for i := range 11 {
		got = append(got, w.call(fmt.Sprintf("bkr_guess%d", i), "GET", "/api/v1/whoami", nil, nil))
	}
	req, _ = http.NewRequest("GET", base+"/api/v1/whoami", nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusUnauthorized, got[9])
	require.Equal(t, http.StatusTooManyRequests, got[10])
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "a blocked address is blocked even with a good token")
	require.NotEmpty(t, resp.Header.Get("Retry-After"))
	row("11 wrong bearer tokens from one address, then the right one", "10 × 401, then 429 (Retry-After: %s s), also for the right token", resp.Header.Get("Retry-After"))

	var table strings.Builder
	table.WriteString("| attack | what happens now |\n|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&table, "| %s | %s |\n", r.attack, r.result)
	}
	t.Log("\n" + table.String())
	if p := os.Getenv("BAKERY_ATTACKS_OUT"); p != "" {
		require.NoError(t, os.WriteFile(p, []byte(table.String()), 0o644))
	}
}

func metricsSize(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return len(b)
}

// slowBody sends a request whose body trickles at 1 byte a second and
// returns how long the server kept the connection open.
func slowBody(t *testing.T, addr string, n int) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = fmt.Fprintf(conn, "POST /api/v1/services/web/releases HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, adminToken, n)
	require.NoError(t, err)
	for range n {
		if _, err := conn.Write([]byte(" ")); err != nil {
			return time.Since(start)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := conn.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
			return time.Since(start) // the server answered and closed, or reset
		}
	}
	return time.Since(start)
}

// idleConnection makes one request on a keep-alive connection and returns
// how long the server keeps the connection open afterwards.
func idleConnection(t *testing.T, addr string) time.Duration {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	require.NoError(t, err)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, err = br.ReadByte()
	require.Error(t, err, "nothing more to read")
	require.False(t, isTimeout(err), "the server never closed the idle connection")
	return time.Since(start)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// signinLocation signs in with next and returns where the server sends
// the browser.
func signinLocation(t *testing.T, w *world, token, next string) string {
	t.Helper()
	form := url.Values{"token": {token}, "next": {next}}
	req, err := http.NewRequest("POST", "http://"+w.addr+"/signin", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	return resp.Header.Get("Location")
}

// termShown is how the reason appears in the status output.
func termShown(status string) string {
	for _, line := range strings.Split(status, "\n") {
		if i := strings.Index(line, `\x1b`); i >= 0 {
			return "`" + strings.TrimSpace(line[i:min(len(line), i+40)]) + "`"
		}
	}
	return "not shown"
}
