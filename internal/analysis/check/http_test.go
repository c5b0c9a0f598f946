package check

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// closedURL returns a URL on 127.0.0.1 whose port was just free, so a
// connection to it is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return "http://" + addr
}

func newHTTPCheck(t *testing.T, url string, h HTTPSpec, timeout time.Duration) Checker {
	t.Helper()
	h.URL = url
	c, err := New(Spec{Name: "staging-health", Timeout: timeout, HTTP: &h})
	require.NoError(t, err)
	return c
}

func TestHTTP(t *testing.T) {
	t.Parallel()

	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("status: ok\n")) })
	mux.HandleFunc("/broken", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "database is down", http.StatusInternalServerError)
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("version 1")) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	tests := []struct {
		name    string
		url     string
		spec    HTTPSpec
		timeout time.Duration
		outcome Outcome
		status  float64 // 0: no value
		reason  []string
	}{
		{
			name: "200 with the body", url: srv.URL + "/healthz", spec: HTTPSpec{BodyContains: "ok"},
			outcome: Healthy, status: 200,
			reason: []string{"staging-health: GET " + srv.URL + "/healthz answered 200"},
		},
		{
			name: "500", url: srv.URL + "/broken",
			outcome: Failing, status: 500,
			reason: []string{"answered 500, expected 200", "database is down"},
		},
		{
			name: "body mismatch", url: srv.URL + "/old", spec: HTTPSpec{BodyContains: "version 2"},
			outcome: Failing, status: 200,
			reason: []string{`body does not contain "version 2"`, "version 1"},
		},
		{
			name: "redirect followed", url: srv.URL + "/moved",
			outcome: Healthy, status: 200,
		},
		{
			name: "redirect expected", url: srv.URL + "/moved", spec: HTTPSpec{ExpectStatus: 302},
			outcome: Healthy, status: 302,
		},
		{
			name: "connection refused", url: closedURL(t) + "/healthz",
			outcome: Failing,
			reason:  []string{"connection refused", "the app is down"},
		},
		{
			name: "timeout", url: srv.URL + "/hang", timeout: 200 * time.Millisecond,
			outcome: Failing,
			reason:  []string{"no answer within 200ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newHTTPCheck(t, tt.url, tt.spec, tt.timeout)
			start := time.Now()
			r := c.Check(context.Background())
			require.Less(t, time.Since(start), 5*time.Second)
			require.Equal(t, tt.outcome, r.Outcome, r.Reason)
			if tt.status != 0 {
				require.NotNil(t, r.Value)
				require.Equal(t, tt.status, *r.Value)
				require.Equal(t, 1, r.Samples)
			} else {
				require.Nil(t, r.Value)
			}
			for _, s := range tt.reason {
				require.Contains(t, r.Reason, s)
			}
			require.Contains(t, r.Bound, "status ")
			require.WithinDuration(t, start, r.At, time.Second)
		})
	}
}

// A check interrupted by its caller has no answer about the app: it is
// inconclusive, not a failure that would lock production.
func TestHTTPCancelledIsInconclusive(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	t.Cleanup(srv.Close)
	c := newHTTPCheck(t, srv.URL, HTTPSpec{}, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := c.Check(ctx)
	require.Equal(t, Inconclusive, r.Outcome, r.Reason)
	require.Contains(t, r.Reason, "interrupted")
}
