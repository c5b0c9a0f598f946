package httpx

import (
	"io"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"
)

// BenchmarkLimitsOverhead measures what the server limits cost a request:
// a trivial handler served on loopback by the server bakery had before
// (only ReadHeaderTimeout) and by NewServer with every limit and a
// LimitListener, 20,000 sequential keep-alive requests each, alternating
// so both see the same machine. It reports both p50s and p99s.
//
//	go test -run '^$' -bench LimitsOverhead -benchtime 1x ./internal/httpx/
func BenchmarkLimitsOverhead(b *testing.B) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	start := func(srv *http.Server, limit int) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go func() { _ = srv.Serve(LimitListener(ln, limit)) }()
		b.Cleanup(func() { _ = srv.Close() })
		return "http://" + ln.Addr().String() + "/"
	}
	plain := start(&http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}, 0)
	limited := start(NewServer(h, ServerOptions{Limits: Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}}), 1024)
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	get := func(url string) time.Duration {
		t0 := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(t0)
	}
	for b.Loop() {
		for range 1000 {
			get(plain)
			get(limited)
		}
		var p, l []time.Duration
		for range 20000 {
			p = append(p, get(plain))
			l = append(l, get(limited))
		}
		slices.Sort(p)
		slices.Sort(l)
		q := func(s []time.Duration, f float64) float64 {
			return float64(s[int(f*float64(len(s)))].Nanoseconds()) / 1e3
		}
		b.ReportMetric(q(p, .5), "plain-p50-µs")
		b.ReportMetric(q(l, .5), "limited-p50-µs")
		b.ReportMetric(q(p, .99), "plain-p99-µs")
		b.ReportMetric(q(l, .99), "limited-p99-µs")
	}
}
