package router

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// namedBackend starts a loopback server that answers 200 with its name as
// the body.
func namedBackend(t testing.TB, name string) *httptest.Server {
	t.Helper()
	return backendFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})
}

// backendFunc starts a loopback server running h.
func backendFunc(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatalf("error parsing %q: %v", s, err)
	}
	return u
}

// newRouter returns a router (not yet serving) in front of stable and
// canary.
// newRouter makes a router with opts and, since most tests tell the
// tracks apart by it, TrackHeader on.
func newRouter(t testing.TB, stable, canary string, opts Options) *Router {
	t.Helper()
	opts.TrackHeader = true
	r, err := New(mustURL(t, stable), mustURL(t, canary), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return r
}

// front is a router served on a loopback port, with a keep-alive client.
type front struct {
	r      *Router
	url    string
	client *http.Client
}

// serve runs r with ServeListener on 127.0.0.1:0 until the test ends,
// and checks then that it stopped cleanly.
func serve(t testing.TB, r *Router) *front {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("error listening on loopback: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeListener(ctx, ln) }()
	f := &front{
		r:      r,
		url:    "http://" + ln.Addr().String(),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}},
	}
	t.Cleanup(func() {
		f.client.CloseIdleConnections()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener returned %v after its context was cancelled; want nil", err)
		}
	})
	return f
}

// response is what a client saw of one request.
type response struct {
	status int
	track  string // the X-Bakery-Track header
	body   string
}

// get sends GET path through the front and reads the whole response.
func (f *front) get(t testing.TB, path string) response {
	t.Helper()
	resp, err := f.client.Get(f.url + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: error reading the body: %v", path, err)
	}
	return response{status: resp.StatusCode, track: resp.Header.Get(TrackHeader), body: string(body)}
}

// recorded is one sample as the router recorded it.
type recorded struct {
	track  Track
	sample Sample
}

// recordings makes r report every sample it records, so that a test can
// wait for a request's sample instead of sleeping. Call it before serve.
func recordings(r *Router) chan recorded {
	ch := make(chan recorded, 10_000)
	r.afterRecord = func(t Track, s Sample) { ch <- recorded{t, s} }
	return ch
}

// waitFor receives n samples from ch, failing the test if they do not
// come within 10 s (they come within milliseconds unless the router is
// broken).
func waitFor(t testing.TB, ch chan recorded, n int) []recorded {
	t.Helper()
	var got []recorded
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case rec := <-ch:
			got = append(got, rec)
		case <-timeout:
			t.Fatalf("the router recorded %d samples; want %d", len(got), n)
		}
	}
	return got
}

// clock is a fake clock for Options.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lockedBuffer is a bytes.Buffer that a logger may write from several
// goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
