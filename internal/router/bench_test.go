package router

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// BenchmarkRouterOverhead measures what the router adds to a request, side
// by side in one run: requests straight to a backend, and the same
// requests through the router at weight 0 (so to that same backend).
//
//   - Latency: sequential requests on a keep-alive connection, direct and
//     proxied alternating so that both see the same machine; p50 and p99
//     of each, and the overhead = proxied − direct at each percentile.
//   - Throughput: a fixed number of requests from 8 concurrent keep-alive
//     clients, direct first, then proxied.
//
// Run it once: go test -run '^$' -bench RouterOverhead -benchtime 1x ./internal/router/
func BenchmarkRouterOverhead(b *testing.B) { routerOverhead(b, nil) }

// BenchmarkRouterOverheadStaging is the same measurement for the
// one-upstream router in front of staging: the same router, counting the
// requests its version answers for the exposure gate.
//
// Run it once: go test -run '^$' -bench RouterOverheadStaging -benchtime 1x ./internal/router/
func BenchmarkRouterOverheadStaging(b *testing.B) {
	routerOverhead(b, func(r *Router) { r.SetVersion("3f2c1ab") })
}

func routerOverhead(b *testing.B, setup func(r *Router)) {
	const (
		sequential = 20_000 // per side
		warmup     = 1_000  // per side, not measured
		clients    = 8
		concurrent = 20_000 // per side, over all clients
	)
	backend := backendFunc(b, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "hello from the backend\n")
	})
	r := newRouter(b, backend.URL, backend.URL, Options{})
	f := serve(b, r)
	r.SetWeight(0)
	if setup != nil {
		setup(r)
	}

	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, DisableCompression: true}}
	}
	do := func(c *http.Client, url string) error {
		resp, err := c.Get(url)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
		}
		return err
	}
	direct, proxied := backend.URL+"/", f.url+"/"

	var res overheadResult
	for range b.N {
		directClient, routerClient := newClient(), newClient()
		for range warmup {
			if err := do(directClient, direct); err != nil {
				b.Fatal(err)
			}
			if err := do(routerClient, proxied); err != nil {
				b.Fatal(err)
			}
		}
		directLat := make([]time.Duration, 0, sequential)
		routerLat := make([]time.Duration, 0, sequential)
		for range sequential {
			start := time.Now()
			if err := do(directClient, direct); err != nil {
				b.Fatal(err)
			}
			mid := time.Now()
			if err := do(routerClient, proxied); err != nil {
				b.Fatal(err)
			}
			directLat = append(directLat, mid.Sub(start))
			routerLat = append(routerLat, time.Since(mid))
		}
		res.directP50, res.directP99 = percentile(directLat, 50), percentile(directLat, 99)
		res.routerP50, res.routerP99 = percentile(routerLat, 50), percentile(routerLat, 99)

		throughput := func(c *http.Client, url string) float64 {
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			start := time.Now()
			for range clients {
				wg.Go(func() {
					for range concurrent / clients {
						if err := do(c, url); err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Wait()
			elapsed := time.Since(start)
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			return concurrent / elapsed.Seconds()
		}
		res.directRPS = throughput(directClient, direct)
		res.routerRPS = throughput(routerClient, proxied)
		directClient.CloseIdleConnections()
		routerClient.CloseIdleConnections()
	}

	us := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
	b.ReportMetric(us(res.directP50), "direct-p50-µs")
	b.ReportMetric(us(res.directP99), "direct-p99-µs")
	b.ReportMetric(us(res.routerP50), "router-p50-µs")
	b.ReportMetric(us(res.routerP99), "router-p99-µs")
	b.ReportMetric(us(res.routerP50-res.directP50), "overhead-p50-µs")
	b.ReportMetric(us(res.routerP99-res.directP99), "overhead-p99-µs")
	b.ReportMetric(res.directRPS, "direct-req/s")
	b.ReportMetric(res.routerRPS, "router-req/s")
	b.Logf("%d sequential requests per side: direct p50 %v p99 %v; router p50 %v p99 %v; overhead p50 %v p99 %v",
		sequential, res.directP50, res.directP99, res.routerP50, res.routerP99,
		res.routerP50-res.directP50, res.routerP99-res.directP99)
	b.Logf("%d requests from %d clients per side: direct %.0f req/s, router %.0f req/s",
		concurrent, clients, res.directRPS, res.routerRPS)
}

type overheadResult struct {
	directP50, directP99, routerP50, routerP99 time.Duration
	directRPS, routerRPS                       float64
}

// percentile returns the p-th percentile (nearest rank) of ds, sorting it.
func percentile(ds []time.Duration, p int) time.Duration {
	slices.Sort(ds)
	i := (len(ds)*p+99)/100 - 1
	return ds[max(i, 0)]
}

// BenchmarkRecord measures recording one sample (the router's own
// bookkeeping per request), without and with Prometheus metrics.
func BenchmarkRecord(b *testing.B) {
	for _, withMetrics := range []bool{false, true} {
		b.Run(fmt.Sprintf("metrics=%v", withMetrics), func(b *testing.B) {
			opts := Options{Service: "web", Environment: "production"}
			if withMetrics {
				opts.Metrics = NewMetrics(nil)
			}
			r := newRouter(b, "http://127.0.0.1:1", "http://127.0.0.1:2", opts)
			tr := r.tracks[0]
			start := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				r.record(tr, http.StatusOK, start)
			}
		})
	}
}

// BenchmarkRecordCounting is BenchmarkRecord for the router in front of
// staging: recording one sample and counting it for the version served.
//
// Run: go test -run '^$' -bench 'Record' ./internal/router/
func BenchmarkRecordCounting(b *testing.B) {
	r := newRouter(b, "http://127.0.0.1:1", "http://127.0.0.1:1", Options{Service: "web", Environment: "staging", Metrics: NewMetrics(nil)})
	r.SetVersion("3f2c1ab")
	tr := r.tracks[0]
	start := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		r.record(tr, http.StatusOK, start)
	}
}
