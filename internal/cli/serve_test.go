package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/testutil"
	"github.com/bakery-deploy/bakery/internal/web"
)

// slack is what the deadline tests allow beyond a configured limit: much
// more than any scheduling delay, much less than "never".
const slack = 5 * time.Second

// testServer is the real server of bakery serve (start, listen, run) on
// SQLite in a temporary directory, with the file's server block given by
// serverLines (indented two spaces under server:), and an admin token
// whose secret is adminSecret.
type testServer struct {
	*server
	base string
	cfg  *config.Config
	dir  string
}

const adminSecret = "admin-secret-for-the-tests"

func startServer(t *testing.T, serverLines ...string) *testServer {
	t.Helper()
	return startServerIn(t, t.TempDir(), serverLines...)
}

func startServerIn(t *testing.T, dir string, serverLines ...string) *testServer {
	t.Helper()
	file := "server:\n  addr: 127.0.0.1:0\n"
	for _, l := range serverLines {
		file += "  " + l + "\n"
	}
	file += `services:
  - name: web
    environments:
      - name: staging
        deploy: {command: [/bin/true]}
      - name: production
        bake: 1h
        deploy: {command: [/bin/true]}
`
	path := filepath.Join(dir, "bakery.yaml")
	require.NoError(t, os.WriteFile(path, []byte(file), 0o644))
	cfg, err := config.Load(path)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := start(ctx, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	_, err = s.e.CreateToken(ctx, "test", engine.TokenParams{Name: "admin", Role: "admin", Hash: api.HashToken(adminSecret)})
	require.NoError(t, err)
	require.NoError(t, s.listen(cfg.Server))
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	return &testServer{server: s, base: s.url(), cfg: cfg, dir: dir}
}

// hostPort is the server's listening address.
func (ts *testServer) hostPort() string { return ts.ln.Addr().String() }

// browser is a client that does not follow redirects.
func browser(t *testing.T, tlsCfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// signIn posts the sign-in form with hdr and returns the response and its
// session cookie (nil if none).
func (ts *testServer) signIn(t *testing.T, c *http.Client, hdr map[string]string) (*http.Response, *http.Cookie) {
	t.Helper()
	req, err := http.NewRequest("POST", ts.base+"/signin", strings.NewReader(url.Values{"token": {adminSecret}, "next": {"/"}}.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, ck := range resp.Cookies() {
		if ck.Name == web.CookieName {
			return resp, ck
		}
	}
	return resp, nil
}

// TestServerRunsWithTheConfiguredLimits: the server bakery serve runs has
// the limits of server.limits, and its listener caps connections.
func TestServerRunsWithTheConfiguredLimits(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "limits: {read_header_timeout: 2s, read_timeout: 3s, write_timeout: 4s, idle_timeout: 5s, max_connections: 7, max_event_streams: 6}")
	require.Equal(t, 2*time.Second, ts.http.ReadHeaderTimeout)
	require.Equal(t, 3*time.Second, ts.http.ReadTimeout)
	require.Equal(t, 4*time.Second, ts.http.WriteTimeout)
	require.Equal(t, 5*time.Second, ts.http.IdleTimeout)
	require.Equal(t, 60<<10, ts.http.MaxHeaderBytes, "64 KiB less net/http's 4 KiB of slop")
	require.Contains(t, fmt.Sprintf("%T", ts.ln), "limitListener")

	def := startServer(t)
	require.Equal(t, config.DefaultReadHeaderTimeout, def.http.ReadHeaderTimeout)
	require.Equal(t, config.DefaultReadTimeout, def.http.ReadTimeout)
	require.Equal(t, config.DefaultWriteTimeout, def.http.WriteTimeout)
	require.Equal(t, config.DefaultIdleTimeout, def.http.IdleTimeout)
}

// TestSlowBodyIsCutOff: a body sent at a byte a second is cut off at
// read_timeout (issue 10, item 6: it was held forever).
func TestSlowBodyIsCutOff(t *testing.T) {
	t.Parallel()
	const readTimeout = time.Second
	ts := startServer(t, "limits: {read_header_timeout: 1s, read_timeout: 1s}")
	conn, err := net.Dial("tcp", ts.hostPort())
	require.NoError(t, err)
	defer conn.Close()
	start := time.Now()
	_, err = fmt.Fprintf(conn, "POST /signin HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nt", ts.hostPort())
	require.NoError(t, err)
	go func() {
		for range 999 {
			time.Sleep(time.Second)
			if _, err := conn.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	// The server answers (400: the form could not be read) and closes, or
	// just closes; either way the connection ends.
	require.NoError(t, conn.SetReadDeadline(start.Add(readTimeout+slack)))
	_, err = io.Copy(io.Discard, conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection with a slow body was still open %s after it started (read_timeout %s)", time.Since(start).Round(time.Millisecond), readTimeout)
	}
}

// TestIdleConnectionIsClosed: a keep-alive connection with no next request
// is closed after idle_timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	ts := startServer(t, "limits: {idle_timeout: 1s}")
	conn, err := net.Dial("tcp", ts.hostPort())
	require.NoError(t, err)
	defer conn.Close()
	br := bufio.NewReader(conn)
	_, err = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", ts.hostPort())
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.False(t, resp.Close, "the connection is kept alive")

	idleSince := time.Now()
	require.NoError(t, conn.SetReadDeadline(idleSince.Add(idle+slack)))
	_, err = br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the idle connection was still open after %s (idle_timeout %s)", time.Since(idleSince).Round(time.Millisecond), idle)
	}
	require.ErrorIs(t, err, io.EOF)
}

// TestLargeHeadersAreRefused: headers over max_header_bytes get 431.
func TestLargeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	ts := startServer(t) // the default: 64 KiB
	c := browser(t, nil)
	get := func(size int) int {
		req, err := http.NewRequest("GET", ts.base+"/healthz", nil)
		require.NoError(t, err)
		req.Header.Set("X-Filler", strings.Repeat("a", size))
		resp, err := c.Do(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, get(65<<10))
	require.Equal(t, http.StatusRequestHeaderFieldsTooLarge, get(1<<20))
	require.Equal(t, http.StatusOK, get(60<<10), "headers under the limit pass")
}

// TestConnectionsOverTheCapWait: with max_connections open, the next
// connection is not served until one of them closes.
func TestConnectionsOverTheCapWait(t *testing.T) {
	t.Parallel()
	ts := startServer(t, "limits: {max_connections: 2, max_event_streams: 2}")
	request := func(conn net.Conn) *bufio.Reader {
		_, err := fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", ts.hostPort())
		require.NoError(t, err)
		return bufio.NewReader(conn)
	}
	var open []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", ts.hostPort())
		require.NoError(t, err)
		defer conn.Close()
		resp, err := http.ReadResponse(request(conn), nil)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		open = append(open, conn)
	}
	third, err := net.Dial("tcp", ts.hostPort())
	require.NoError(t, err)
	defer third.Close()
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(request(third), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	select {
	case code := <-answered:
		t.Fatalf("a third connection was served (%d) while max_connections (2) were open", code)
	case <-time.After(300 * time.Millisecond):
	}
	require.NoError(t, open[0].Close())
	select {
	case code := <-answered:
		require.Equal(t, http.StatusOK, code)
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not served after one of the others closed")
	}
}

// TestEventStreamOutlivesTimeouts: the dashboard's event stream lives past
// read_timeout and write_timeout (it sets its own deadlines), and a session
// gets max_event_streams_per_session of them.
func TestEventStreamOutlivesTimeouts(t *testing.T) {
	t.Parallel()
	// Timeouts short enough to pass in the test, long enough for a sign-in
	// on a machine busy with the rest of the suite under -race.
	ts := startServer(t, "limits: {read_header_timeout: 2s, read_timeout: 2s, write_timeout: 2s, max_event_streams_per_session: 1}")
	c := browser(t, nil)
	resp, cookie := ts.signIn(t, c, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotNil(t, cookie)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream := func() *http.Response {
		req, err := http.NewRequestWithContext(ctx, "GET", ts.base+"/ui/events", nil)
		require.NoError(t, err)
		req.AddCookie(cookie)
		resp, err := c.Do(req)
		require.NoError(t, err)
		return resp
	}
	resp = stream()
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	second := stream()
	_, _ = io.Copy(io.Discard, second.Body)
	second.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, second.StatusCode, "max_event_streams_per_session: 1")

	// Well past both timeouts, a change still reaches the stream.
	time.Sleep(5 * time.Second)
	_, err := ts.e.Lock(context.Background(), "test", engine.LockParams{Service: "web", Environment: "production", Reason: "x"})
	require.NoError(t, err)
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			require.True(t, ok, "the stream ended before the change (cut off by a server timeout)")
			if l == "event: change" {
				return
			}
		case <-timeout:
			t.Fatal("no change event within 10s")
		}
	}
}

// TestHTTPS: with server.tls the server serves HTTPS (TLS 1.2 or newer),
// the session cookie is Secure, HSTS is sent when configured, and the CLI
// reaches it with BAKERY_CA_CERT.
func TestHTTPS(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "tls"), 0o700))
	certFile, _, pool := testutil.SelfSignedCert(t, filepath.Join(dir, "tls"))
	ts := startServerIn(t, dir, "tls: {cert: tls/cert.pem, key: tls/key.pem}", "hsts: true")
	require.True(t, strings.HasPrefix(ts.base, "https://"), ts.base)

	c := browser(t, &tls.Config{RootCAs: pool})
	resp, err := c.Get(ts.base + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, httpx.HSTSValue, resp.Header.Get("Strict-Transport-Security"))
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	resp, cookie := ts.signIn(t, c, nil)
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)
	require.NotNil(t, cookie)
	require.True(t, cookie.Secure, "a session cookie over HTTPS is Secure")

	old := browser(t, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11})
	_, err = old.Get(ts.base + "/healthz")
	require.Error(t, err, "TLS 1.1 is refused")

	_, err = browser(t, nil).Get(ts.base + "/healthz")
	require.Error(t, err, "a client that does not trust the certificate fails")

	// The CLI, told to trust the certificate.
	t.Setenv("BAKERY_TOKEN", adminSecret)
	t.Setenv("BAKERY_CA_CERT", certFile)
	cl, err := newClient(ts.base)
	require.NoError(t, err)
	var who struct{ Name, Role string }
	require.NoError(t, cl.do(context.Background(), "GET", "/api/v1/whoami", nil, &who))
	require.Equal(t, "admin", who.Name)

	t.Setenv("BAKERY_CA_CERT", filepath.Join(dir, "bakery.yaml"))
	_, err = newClient(ts.base)
	require.ErrorContains(t, err, "holds no PEM certificate")
}

// TestTrustedProxies: X-Forwarded-Proto makes the cookie Secure (and
// X-Forwarded-Host counts as the dashboard's host) only when the
// connection comes from a trusted proxy.
func TestTrustedProxies(t *testing.T) {
	t.Parallel()
	viaProxy := map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bakery.example",
		"Origin": "https://bakery.example", "X-Forwarded-For": "198.51.100.7"}
	for _, tc := range []struct {
		name    string
		lines   []string
		trusted bool
	}{
		{"no proxies configured", nil, false},
		{"another proxy", []string{"trusted_proxies: [10.0.0.1]"}, false},
		{"this client is the proxy", []string{"trusted_proxies: [127.0.0.1, '::1']", "hsts: true"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, tc.lines...)
			c := browser(t, nil)
			resp, cookie := ts.signIn(t, c, viaProxy)
			if !tc.trusted {
				require.Equal(t, http.StatusForbidden, resp.StatusCode, "an untrusted client's X-Forwarded-Host is not the dashboard's host")
				resp, cookie = ts.signIn(t, c, map[string]string{"X-Forwarded-Proto": "https"})
				require.Equal(t, http.StatusSeeOther, resp.StatusCode)
				require.NotNil(t, cookie)
				require.False(t, cookie.Secure, "X-Forwarded-Proto from an untrusted address made the cookie Secure")
				require.Empty(t, resp.Header.Get("Strict-Transport-Security"))
				return
			}
			require.Equal(t, http.StatusSeeOther, resp.StatusCode, "a trusted proxy's X-Forwarded-Host is the dashboard's host")
			require.NotNil(t, cookie)
			require.True(t, cookie.Secure, "a trusted proxy says the client used HTTPS")
			require.Equal(t, httpx.HSTSValue, resp.Header.Get("Strict-Transport-Security"))
		})
	}
}
