package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEventStreamLimits: a session gets at most MaxStreamsPerSession live
// streams (then 429), the server at most MaxStreams (then 503), each
// refusal with Retry-After and a JSON error; a closed stream frees its slot.
func TestEventStreamLimits(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, true, 0, func(o *Options) { o.MaxStreams, o.MaxStreamsPerSession = 3, 2 })
	alice, bob := f.client(), f.client()
	f.signIn(alice, "eye")
	f.signIn(bob, "dev")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	open := func(c *http.Client) (*http.Response, context.CancelFunc) {
		t.Helper()
		sctx, scancel := context.WithCancel(ctx)
		req, err := http.NewRequestWithContext(sctx, "GET", f.srv.URL+"/ui/events", nil)
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp, scancel
	}
	refused := func(resp *http.Response, status int) {
		t.Helper()
		require.Equal(t, status, resp.StatusCode)
		require.Equal(t, "10", resp.Header.Get("Retry-After"))
		require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		var e struct{ Error, Detail string }
		body, _ := io.ReadAll(resp.Body)
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		require.Contains(t, e.Detail, "server.limits.max_event_streams")
	}

	first, closeFirst := open(alice)
	require.Equal(t, http.StatusOK, first.StatusCode)
	second, _ := open(alice)
	require.Equal(t, http.StatusOK, second.StatusCode)
	third, _ := open(alice)
	refused(third, http.StatusTooManyRequests)

	mine, _ := open(bob)
	require.Equal(t, http.StatusOK, mine.StatusCode, "another session has slots of its own")
	over, _ := open(bob)
	refused(over, http.StatusServiceUnavailable)
	require.Equal(t, 3, f.hub.Subscribers())

	require.Equal(t, 3, f.h.streams.count())
	closeFirst()
	require.Eventually(t, func() bool { return f.h.streams.count() == 2 }, 5*time.Second, 10*time.Millisecond)
	again, _ := open(bob)
	require.Equal(t, http.StatusOK, again.StatusCode, "a closed stream gives its slot back")
}

// TestEventStreamOutlivesServerTimeouts: over HTTPS with HTTP/2, where a
// write deadline that passes between two writes resets the stream, and
// with server read and write timeouts far shorter than the gaps between
// pings, the event stream lives on.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	f := newFixtureWith(t, true, 0, func(o *Options) { o.PingInterval, o.StreamWriteTimeout = 700*time.Millisecond, 200*time.Millisecond })
	ts := httptest.NewUnstartedServer(f.srv.Config.Handler)
	ts.EnableHTTP2 = true
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	ts.StartTLS()
	t.Cleanup(ts.Close)
	c := ts.Client()
	c.Jar, _ = cookiejar.New(nil)
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// Sign in on the fixture's own server: only the stream is to face the
	// short timeouts (a sign-in on a loaded machine may take longer than
	// 300 ms). The session cookie is good for both.
	resp, err := c.PostForm(f.srv.URL+"/signin", url.Values{"token": {"eye-secret"}, "next": {"/"}})
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusSeeOther, resp.StatusCode)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", ts.URL+"/ui/events", nil)
	require.NoError(t, err)
	resp, err = c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, 2, resp.ProtoMajor, "HTTP/2")
	sc := bufio.NewScanner(resp.Body)
	for pings := 0; pings < 3; {
		require.True(t, sc.Scan(), "the stream ended after %d pings: %v", pings, sc.Err())
		if sc.Text() == ": ping" {
			pings++
		}
	}
}
