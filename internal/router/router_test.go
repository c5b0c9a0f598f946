package router

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var splitWeights = []int{0, 5, 25, 50, 100}

// checkSplit fails the test unless the canary answered a fraction of the
// n requests within 1 percentage point of weight, and exactly
// n*weight/100 of them (n is a multiple of 100 and the router is new, so
// the deterministic split is exact).
func checkSplit(t *testing.T, weight, n, canary int) {
	t.Helper()
	got := 100 * float64(canary) / float64(n)
	if math.Abs(got-float64(weight)) > 1 {
		t.Errorf("weight %d: the canary answered %d of %d requests (%.2f %%); want within 1 point of %d %%", weight, canary, n, got, weight)
	}
	if want := n * weight / 100; canary != want {
		t.Errorf("weight %d: the canary answered %d of %d requests; the deterministic split sends exactly %d", weight, canary, n, want)
	}
}

func TestSplitMatchesWeight(t *testing.T) {
	t.Parallel()
	stable, canary := namedBackend(t, "stable"), namedBackend(t, "canary")
	const n = 2000
	for _, w := range splitWeights {
		t.Run(fmt.Sprintf("weight=%d", w), func(t *testing.T) {
			t.Parallel()
			f := serve(t, newRouter(t, stable.URL, canary.URL, Options{}))
			f.r.SetWeight(w)
			canaries := 0
			for i := range n {
				resp := f.get(t, "/")
				if resp.status != http.StatusOK {
					t.Fatalf("request %d: status %d (%q); want 200", i, resp.status, resp.body)
				}
				if resp.track != resp.body {
					t.Fatalf("request %d: %s says %q but %q answered", i, TrackHeader, resp.track, resp.body)
				}
				if resp.body == "canary" {
					canaries++
				}
			}
			checkSplit(t, w, n, canaries)
		})
	}
}

func TestSplitMatchesWeightConcurrently(t *testing.T) {
	t.Parallel()
	stable, canary := namedBackend(t, "stable"), namedBackend(t, "canary")
	const clients, each = 8, 250
	for _, w := range splitWeights {
		t.Run(fmt.Sprintf("weight=%d", w), func(t *testing.T) {
			t.Parallel()
			f := serve(t, newRouter(t, stable.URL, canary.URL, Options{}))
			f.r.SetWeight(w)
			var canaries atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Go(func() {
					for range each {
						resp, err := f.client.Get(f.url + "/")
						if err != nil {
							errs <- err
							return
						}
						body, err := io.ReadAll(resp.Body)
						resp.Body.Close()
						if err != nil {
							errs <- err
							return
						}
						if got := resp.Header.Get(TrackHeader); got != string(body) {
							errs <- fmt.Errorf("%s says %q but %q answered", TrackHeader, got, body)
							return
						}
						if string(body) == "canary" {
							canaries.Add(1)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			checkSplit(t, w, clients*each, int(canaries.Load()))
		})
	}
}

// TestPickSpreadsEvenly checks the split rule itself on every weight: any
// 100 consecutive requests send exactly the weight to the canary, and the
// canary's requests are evenly spaced (never two in a row below 50 %).
func TestPickSpreadsEvenly(t *testing.T) {
	t.Parallel()
	r := newRouter(t, "http://127.0.0.1:1", "http://127.0.0.1:2", Options{})
	for w := 0; w <= 100; w++ {
		r.SetWeight(w)
		r.next.Store(uint64(w) * 7919) // any starting point
		var toCanary []bool
		for range 300 {
			toCanary = append(toCanary, r.pick().name == Canary)
		}
		for start := 0; start+100 <= len(toCanary); start++ {
			n := 0
			for _, c := range toCanary[start : start+100] {
				if c {
					n++
				}
			}
			if n != w {
				t.Fatalf("weight %d: requests %d..%d sent %d to the canary; want %d", w, start, start+99, n, w)
			}
		}
		if w <= 50 {
			for i := 1; i < len(toCanary); i++ {
				if toCanary[i] && toCanary[i-1] {
					t.Fatalf("weight %d: requests %d and %d both went to the canary; the split should spread them", w, i-1, i)
				}
			}
		}
	}
}

func TestSetWeightAtRuntime(t *testing.T) {
	t.Parallel()
	stable, canary := namedBackend(t, "stable"), namedBackend(t, "canary")
	f := serve(t, newRouter(t, stable.URL, canary.URL, Options{}))

	for step, w := range []int{0, 100, 0, 100} {
		f.r.SetWeight(w)
		want := "stable"
		if w == 100 {
			want = "canary"
		}
		for i := range 50 {
			if resp := f.get(t, "/"); resp.body != want || resp.track != want {
				t.Fatalf("step %d (weight %d), request %d: answered by %q with %s %q; want %q", step, w, i, resp.body, TrackHeader, resp.track, want)
			}
		}
	}

	for _, tc := range []struct{ set, want int }{{-5, 0}, {0, 0}, {42, 42}, {100, 100}, {150, 100}} {
		f.r.SetWeight(tc.set)
		if got := f.r.Weight(); got != tc.want {
			t.Errorf("after SetWeight(%d), Weight() = %d; want %d", tc.set, got, tc.want)
		}
	}
}

func TestCanaryErrorsAreRecordedOnTheCanary(t *testing.T) {
	t.Parallel()
	stable := namedBackend(t, "stable")
	var calls atomic.Int64
	canary := backendFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1)%4 == 0 { // every fourth request to the canary fails
			http.Error(w, "canary is broken", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "canary")
	})
	r := newRouter(t, stable.URL, canary.URL, Options{})
	rec := recordings(r)
	f := serve(t, r)
	f.r.SetWeight(50)

	from := time.Now()
	const n = 400
	statuses := map[string]map[int]int{"stable": {}, "canary": {}}
	for range n {
		resp := f.get(t, "/")
		statuses[resp.track][resp.status]++
	}
	waitFor(t, rec, n)
	to := time.Now().Add(time.Nanosecond)

	if want := map[int]int{200: 200}; fmt.Sprint(statuses["stable"]) != fmt.Sprint(want) {
		t.Errorf("stable answered %v; want %v", statuses["stable"], want)
	}
	if want := map[int]int{200: 150, 500: 50}; fmt.Sprint(statuses["canary"]) != fmt.Sprint(want) {
		t.Errorf("canary answered %v; want %v", statuses["canary"], want)
	}
	if got, want := r.Totals(Stable), (Totals{Requests: 200, Errors: 0}); got != want {
		t.Errorf("Totals(Stable) = %+v; want %+v", got, want)
	}
	if got, want := r.Totals(Canary), (Totals{Requests: 200, Errors: 50}); got != want {
		t.Errorf("Totals(Canary) = %+v; want %+v", got, want)
	}
	if got := r.Totals("blue"); got != (Totals{}) {
		t.Errorf("Totals of an unknown track = %+v; want zero", got)
	}

	for _, tc := range []struct {
		track        Track
		total, fails int
	}{{Stable, 200, 0}, {Canary, 200, 50}} {
		samples := r.Samples(tc.track, from, to)
		if len(samples) != tc.total {
			t.Fatalf("Samples(%s) has %d samples; want %d", tc.track, len(samples), tc.total)
		}
		fails := 0
		for i, s := range samples {
			if s.Status >= 500 {
				fails++
			}
			if s.At.Before(from) || !s.At.Before(to) {
				t.Errorf("Samples(%s)[%d].At = %v; want within [%v, %v)", tc.track, i, s.At, from, to)
			}
			if i > 0 && s.At.Before(samples[i-1].At) {
				t.Errorf("Samples(%s)[%d] is older than the sample before it; want oldest first", tc.track, i)
			}
			if s.Latency <= 0 || s.Latency > 10*time.Second {
				t.Errorf("Samples(%s)[%d].Latency = %v; want a real request's latency", tc.track, i, s.Latency)
			}
		}
		if fails != tc.fails {
			t.Errorf("Samples(%s) has %d errors; want %d", tc.track, fails, tc.fails)
		}
		if got := ErrorRates(samples, 0); len(got) != 1 || got[0] != float64(tc.fails)/float64(tc.total) {
			t.Errorf("ErrorRates(Samples(%s), 0) = %v; want [%v]", tc.track, got, float64(tc.fails)/float64(tc.total))
		}
		lat := Latencies(samples)
		for i := range samples {
			if lat[i] != samples[i].Latency.Seconds() {
				t.Fatalf("Latencies(Samples(%s))[%d] = %v; want %v", tc.track, i, lat[i], samples[i].Latency.Seconds())
			}
		}
	}
	if got := r.Samples("blue", from, to); got != nil {
		t.Errorf("Samples of an unknown track = %v; want nil", got)
	}
	// The copy is the caller's.
	s := r.Samples(Canary, from, to)
	s[0].Status = 999
	if r.Samples(Canary, from, to)[0].Status == 999 {
		t.Error("changing the slice Samples returned changed the router's samples; want a copy")
	}
}

func TestCanaryDown(t *testing.T) {
	t.Parallel()
	stable := namedBackend(t, "stable")
	// A port that was just free: nothing listens on it any more.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := "http://" + ln.Addr().String()
	ln.Close()

	var logs lockedBuffer
	r := newRouter(t, stable.URL, down, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Environment: "production"})
	rec := recordings(r)
	f := serve(t, r)
	f.r.SetWeight(50)
	const n = 100
	for i := range n {
		resp := f.get(t, "/")
		switch resp.track {
		case "stable":
			if resp.status != http.StatusOK || resp.body != "stable" {
				t.Errorf("request %d: stable answered %d %q; want 200 \"stable\"", i, resp.status, resp.body)
			}
		case "canary":
			if resp.status != http.StatusBadGateway {
				t.Errorf("request %d to the canary that is down: status %d; want 502", i, resp.status)
			}
			// The client learns nothing about the backend: no address,
			// no error (issue 10: "dial tcp 127.0.0.1:8093: connection
			// refused" was in the body); the log has both.
			if resp.body != BadGatewayBody || strings.Contains(resp.body, strings.TrimPrefix(down, "http://")) {
				t.Errorf("request %d: 502 body %q; want %q, naming no backend", i, resp.body, BadGatewayBody)
			}
		default:
			t.Errorf("request %d: %s = %q; want stable or canary", i, TrackHeader, resp.track)
		}
	}
	waitFor(t, rec, n)
	if got, want := r.Totals(Canary), (Totals{Requests: 50, Errors: 50}); got != want {
		t.Errorf("Totals(Canary) = %+v; want %+v", got, want)
	}
	if got, want := r.Totals(Stable), (Totals{Requests: 50}); got != want {
		t.Errorf("Totals(Stable) = %+v; want %+v", got, want)
	}
	all := time.Now().Add(-time.Hour)
	for _, s := range r.Samples(Canary, all, all.Add(2*time.Hour)) {
		if s.Status != http.StatusBadGateway {
			t.Fatalf("a canary sample has status %d; want 502", s.Status)
		}
	}
	if got := ErrorRates(r.Samples(Stable, all, all.Add(2*time.Hour)), 0); len(got) != 1 || got[0] != 0 {
		t.Errorf("stable error rate = %v; want [0]", got)
	}

	// 50 failures are logged as a warning, but not 50 times (at most one
	// line a second per track).
	var warnings []string
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, "level=WARN") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) == 0 || len(warnings) >= 50 {
		t.Fatalf("%d warnings logged for 50 failed requests; want a few:\n%s", len(warnings), logs.String())
	}
	for _, want := range []string{`msg="backend did not answer"`, "environment=production", "track=canary", "backend=" + down, "connection refused"} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("warning %q does not contain %q", warnings[0], want)
		}
	}
	if !strings.Contains(logs.String(), `msg="canary weight changed" environment=production weight=50 previous=0`) {
		t.Errorf("the weight change was not logged:\n%s", logs.String())
	}
}

func TestForwarding(t *testing.T) {
	t.Parallel()
	seen := make(chan *http.Request, 1)
	stable := backendFunc(t, func(w http.ResponseWriter, req *http.Request) {
		seen <- req
		w.Header().Set(TrackHeader, "spoofed by the backend")
		w.Header().Set("X-Backend", "yes")
		_, _ = io.WriteString(w, "stable")
	})
	r := newRouter(t, stable.URL+"/base?key=1", "http://127.0.0.1:1", Options{})
	f := serve(t, r)

	req, _ := http.NewRequest(http.MethodGet, f.url+"/items/7?page=2", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Host = "shop.example"
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	got := <-seen

	if got.URL.Path != "/base/items/7" {
		t.Errorf("the backend got path %q; want the URL's prefix joined with the request's: /base/items/7", got.URL.Path)
	}
	if q := got.URL.Query(); q.Get("key") != "1" || q.Get("page") != "2" {
		t.Errorf("the backend got query %q; want both key=1 and page=2", got.URL.RawQuery)
	}
	if xff := got.Header.Get("X-Forwarded-For"); xff != "203.0.113.9, 127.0.0.1" {
		t.Errorf("X-Forwarded-For = %q; want the incoming chain with the client appended", xff)
	}
	if h := got.Header.Get("X-Forwarded-Host"); h != "shop.example" {
		t.Errorf("X-Forwarded-Host = %q; want shop.example", h)
	}
	if p := got.Header.Get("X-Forwarded-Proto"); p != "http" {
		t.Errorf("X-Forwarded-Proto = %q; want http", p)
	}
	if v := resp.Header.Values(TrackHeader); len(v) != 1 || v[0] != "stable" {
		t.Errorf("%s = %q; want exactly [stable], whatever the backend says", TrackHeader, v)
	}
	if resp.Header.Get("X-Backend") != "yes" {
		t.Error("the backend's own headers did not reach the client")
	}
}

func TestClientGoneIsNotAnError(t *testing.T) {
	t.Parallel()
	stable := backendFunc(t, func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.WriteString(w, "first part")
		http.NewResponseController(w).Flush()
		<-req.Context().Done() // the rest never comes
	})
	r := newRouter(t, stable.URL, "http://127.0.0.1:1", Options{})
	rec := recordings(r)
	f := serve(t, r)

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/", nil)
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("first part"))
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatalf("error reading the start of the body: %v", err)
	}
	cancel() // the client gives up
	resp.Body.Close()

	got := waitFor(t, rec, 1)[0]
	if got.track != Stable || got.sample.Status != StatusClientClosed {
		t.Errorf("recorded %s %d; want stable %d", got.track, got.sample.Status, StatusClientClosed)
	}
	if tot := r.Totals(Stable); tot != (Totals{Requests: 1}) {
		t.Errorf("Totals(Stable) = %+v; want 1 request and no error", tot)
	}
}

func TestBackendBreaksOffMidBody(t *testing.T) {
	t.Parallel()
	stable := backendFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
		_ = brw.Flush()
	})
	r := newRouter(t, stable.URL, "http://127.0.0.1:1", Options{})
	rec := recordings(r)
	f := serve(t, r)

	resp, err := f.client.Get(f.url + "/")
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Error("the client read a whole response; want an error, as the backend broke off")
	}
	got := waitFor(t, rec, 1)[0]
	if got.track != Stable || got.sample.Status != http.StatusBadGateway {
		t.Errorf("recorded %s %d; want stable 502", got.track, got.sample.Status)
	}
	if tot := r.Totals(Stable); tot != (Totals{Requests: 1, Errors: 1}) {
		t.Errorf("Totals(Stable) = %+v; want 1 request, 1 error", tot)
	}
}

func TestUpgradeIsProxiedAndRecordedAtTheSwitch(t *testing.T) {
	t.Parallel()
	stable := backendFunc(t, func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
		line, _ := brw.ReadString('\n')
		_, _ = io.WriteString(conn, line)
	})
	r := newRouter(t, stable.URL, "http://127.0.0.1:1", Options{})
	rec := recordings(r)
	f := serve(t, r)

	conn, err := net.Dial("tcp", strings.TrimPrefix(f.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("error reading the upgrade response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get(TrackHeader) != "stable" {
		t.Fatalf("upgrade answered %d with %s %q; want 101 from stable", resp.StatusCode, TrackHeader, resp.Header.Get(TrackHeader))
	}
	_, _ = io.WriteString(conn, "ping\n")
	if line, err := br.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("echo over the upgraded connection: %q, %v; want \"ping\\n\"", line, err)
	}
	got := waitFor(t, rec, 1)[0]
	if got.sample.Status != http.StatusSwitchingProtocols {
		t.Errorf("recorded status %d; want 101", got.sample.Status)
	}
	if tot := r.Totals(Stable); tot != (Totals{Requests: 1}) {
		t.Errorf("Totals(Stable) = %+v; want 1 request and no error", tot)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	good := &url.URL{Scheme: "http", Host: "127.0.0.1:8092"}
	for _, tc := range []struct {
		name           string
		stable, canary *url.URL
		opts           Options
		want           string
	}{
		{"no stable", nil, good, Options{Environment: "production"}, "router for production: the stable backend URL is missing"},
		{"no canary", good, nil, Options{}, "router: the canary backend URL is missing"},
		{"not http", &url.URL{Scheme: "ftp", Host: "x"}, good, Options{}, `the stable backend URL "ftp://x" is not http or https`},
		{"relative", &url.URL{Path: "/only/a/path"}, good, Options{}, "is not http or https"},
		{"no host", good, &url.URL{Scheme: "https", Path: "/x"}, Options{Service: "web", Environment: "production"}, `router for web in production: the canary backend URL "https:///x" has no host`},
		{"negative keep", good, good, Options{Keep: -time.Second}, "Keep is -1s"},
		{"negative max", good, good, Options{MaxSamples: -1}, "MaxSamples is -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.stable, tc.canary, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestServeAddressInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	r := newRouter(t, "http://127.0.0.1:1", "http://127.0.0.1:2", Options{Environment: "production"})

	err = r.Serve(context.Background(), addr)
	if err == nil {
		t.Fatalf("Serve on %s, which is taken, returned nil; want an error", addr)
	}
	if want := "router for production: cannot listen on " + addr + ": "; !strings.Contains(err.Error(), want) {
		t.Errorf("Serve: %q; want it to contain %q", err, want)
	}
	if !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("Serve: %q; want it to say the address is in use", err)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("Serve: %q; want it to wrap EADDRINUSE", err)
	}
}
