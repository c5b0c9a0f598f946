package router

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/httpx"
)

// slack is what the deadline tests allow beyond a configured limit.
const slack = 5 * time.Second

// TestTrackHeaderOffByDefault: without Options.TrackHeader no response
// says which track answered, not even when the backend says so itself
// (issue 10, item 6: the header lets clients aim at the canary).
func TestTrackHeaderOffByDefault(t *testing.T) {
	t.Parallel()
	backend := backendFunc(t, func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set(TrackHeader, "canary")
		_, _ = io.WriteString(w, "ok")
	})
	for _, on := range []bool{false, true} {
		r, err := New(mustURL(t, backend.URL), mustURL(t, "http://127.0.0.1:1"), Options{TrackHeader: on})
		if err != nil {
			t.Fatal(err)
		}
		f := serve(t, r)
		resp, err := f.client.Get(f.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got := resp.Header.Values(TrackHeader)
		switch {
		case !on && len(got) != 0:
			t.Errorf("TrackHeader off: the response carries %s %q; want none", TrackHeader, got)
		case on && (len(got) != 1 || got[0] != "stable"):
			t.Errorf("TrackHeader on: %s = %q; want [stable]", TrackHeader, got)
		}
		// The 502 of a backend that is down says nothing either.
		r.SetWeight(100)
		resp, err = f.client.Get(f.url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || string(body) != BadGatewayBody {
			t.Errorf("down canary: %d %q; want 502 %q", resp.StatusCode, body, BadGatewayBody)
		}
		if got := resp.Header.Get(TrackHeader); (got != "") == !on {
			t.Errorf("TrackHeader %v: the 502 carries %s %q", on, TrackHeader, got)
		}
	}
}

// TestResponseHeaderTimeout: a backend that does not start its answer
// within Options.ResponseHeaderTimeout gets the client a 502, instead of
// holding it (and a connection) for as long as the backend likes.
func TestResponseHeaderTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	release := make(chan struct{})
	hung := backendFunc(t, func(w http.ResponseWriter, req *http.Request) {
		select {
		case <-release:
		case <-req.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) })
	r := newRouter(t, hung.URL, "http://127.0.0.1:1", Options{ResponseHeaderTimeout: timeout})
	f := serve(t, r)
	f.client.Timeout = timeout + slack
	start := time.Now()
	resp, err := f.client.Get(f.url + "/")
	if err != nil {
		t.Fatalf("the hung backend held the client for %s (ResponseHeaderTimeout %s): %v", time.Since(start).Round(time.Millisecond), timeout, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || string(body) != BadGatewayBody {
		t.Errorf("hung backend: %d %q; want 502 %q", resp.StatusCode, body, BadGatewayBody)
	}

	if _, err := New(mustURL(t, hung.URL), mustURL(t, "http://127.0.0.1:1"), Options{ResponseHeaderTimeout: -time.Second}); err == nil {
		t.Error("a negative ResponseHeaderTimeout was accepted")
	}
}

// TestRouterServerLimits: the router's server refuses headers over
// Limits.MaxHeaderBytes (431), closes keep-alive connections idle for
// Limits.IdleTimeout and serves at most Limits.MaxConnections at once.
func TestRouterServerLimits(t *testing.T) {
	t.Parallel()
	backend := backendFunc(t, func(w http.ResponseWriter, req *http.Request) { _, _ = io.WriteString(w, "ok") })
	const idle = time.Second
	r := newRouter(t, backend.URL, "http://127.0.0.1:1", Options{Limits: httpx.Limits{
		MaxHeaderBytes: 16 << 10, IdleTimeout: idle, MaxConnections: 2,
		// Not used by the router: it carries the application's streams.
		ReadTimeout: time.Nanosecond, WriteTimeout: time.Nanosecond,
	}})
	f := serve(t, r)
	host := strings.TrimPrefix(f.url, "http://")

	req, _ := http.NewRequest("GET", f.url+"/", nil)
	req.Header.Set("X-Filler", strings.Repeat("a", 17<<10))
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("17 KiB of headers with MaxHeaderBytes 16 KiB: %d; want 431", resp.StatusCode)
	}
	f.client.CloseIdleConnections()

	get := func(conn net.Conn, br *bufio.Reader) (int, error) {
		if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host); err != nil {
			return 0, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	var conns []net.Conn
	var readers []*bufio.Reader
	for range 2 {
		conn, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		br := bufio.NewReader(conn)
		if code, err := get(conn, br); err != nil || code != http.StatusOK {
			t.Fatalf("GET through the router: %d, %v; want 200", code, err)
		}
		conns, readers = append(conns, conn), append(readers, br)
	}
	third, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer third.Close()
	answered := make(chan int, 1)
	go func() {
		code, _ := get(third, bufio.NewReader(third))
		answered <- code
	}()
	select {
	case code := <-answered:
		t.Fatalf("a third connection was served (%d) with MaxConnections 2 open", code)
	case <-time.After(300 * time.Millisecond):
	}

	// Both connections are idle now: the router closes them after
	// IdleTimeout, which lets the third one in.
	idleSince := time.Now()
	for i, conn := range conns {
		_ = conn.SetReadDeadline(idleSince.Add(idle + slack))
		_, err := readers[i].ReadByte()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("idle connection %d still open after %s (IdleTimeout %s)", i, time.Since(idleSince).Round(time.Millisecond), idle)
		}
	}
	select {
	case code := <-answered:
		if code != http.StatusOK {
			t.Errorf("the third connection got %d; want 200", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the third connection was not served after the idle ones closed")
	}
}
