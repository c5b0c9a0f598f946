package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

// TestBakeWatchedByPrometheus: a real Prometheus scrapes a real app that
// stands for staging. A healthy release bakes and promotes; when the app
// starts answering 5xx the next release fails its bake and production is
// locked with the check's value; with Prometheus stopped the bake waits,
// inconclusive, and never promotes (rules 8 and 9).
func TestBakeWatchedByPrometheus(t *testing.T) {
	t.Parallel()
	var failing atomic.Bool
	reg := prometheus.NewRegistry()
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "app_requests_total", Help: "requests"}, []string{"code"})
	reg.MustRegister(requests)
	requests.WithLabelValues("200")
	requests.WithLabelValues("500") // a healthy app's error rate is 0, not "no data"
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			requests.WithLabelValues("500").Inc()
			w.WriteHeader(500)
			return
		}
		requests.WithLabelValues("200").Inc()
	})
	app := httptest.NewServer(mux)
	t.Cleanup(app.Close)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	go func() { // traffic, as people using staging
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				if resp, err := http.Get(app.URL + "/"); err == nil {
					resp.Body.Close()
				}
			}
		}
	}()
	prom := testutil.StartPrometheus(t, strings.TrimPrefix(app.URL, "http://"))

	checks := fmt.Sprintf(`          - name: staging-errors
            prometheus: {url: %q, query: "sum(rate(app_requests_total{code=~\"5..\"}[4s]))", max: 0.5}
            interval: 1s
`, prom.URL)
	w := newWorld(t, worldOpts{bake: 2 * time.Second, productionChecks: checks})
	w.start()

	w.release("web", "v1")
	w.eventually(40*time.Second, "v1 promoted on a healthy check", func() bool { return w.version("web", "production") == "v1" })

	failing.Store(true)
	// Prometheus must have scraped the errors before v2's bake starts: a
	// check run at the bake's start on older samples would pass it (on a
	// loaded machine scrapes lag, and the bake is 2 s).
	w.eventually(40*time.Second, "Prometheus sees the errors", func() bool {
		resp, err := http.Get(prom.URL + "/api/v1/query?query=" + url.QueryEscape(`sum(rate(app_requests_total{code=~"5.."}[4s]))`))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var body struct {
			Data struct {
				Result []struct {
					Value []any `json:"value"`
				} `json:"result"`
			} `json:"data"`
		}
		if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Data.Result) == 0 || len(body.Data.Result[0].Value) < 2 {
			return false
		}
		v, err := strconv.ParseFloat(fmt.Sprint(body.Data.Result[0].Value[1]), 64)
		return err == nil && v > 0.5
	})
	w.release("web", "v2")
	w.eventually(40*time.Second, "the failing check locks production", func() bool { return w.status("web").Environments[1].Locked })
	lock := w.status("web").Environments[1].Locks[0]
	require.Equal(t, "bakery", lock.Actor)
	require.Contains(t, lock.Reason, "staging-errors")
	require.Contains(t, lock.Reason, "max 0.5")
	failed := findEvent(w.events("web"), "check.failed", "production", "")
	require.NotNil(t, failed)
	require.Equal(t, "v1", w.version("web", "production"))

	// The app recovers, someone unlocks; then Prometheus goes away.
	failing.Store(false)
	_, _, err := w.bakery(nil, "unlock", "web", "production", "--reason", "errors fixed")
	require.NoError(t, err)
	prom.Stop()
	w.release("web", "v3")
	w.eventually(20*time.Second, "v3 in staging", func() bool { return w.version("web", "staging") == "v3" })
	w.eventually(20*time.Second, "the bake waits on an inconclusive check", func() bool {
		wt := w.status("web").Environments[1].Waiting
		return wt.Kind == "checks" && strings.Contains(wt.Message, "inconclusive")
	})
	time.Sleep(3 * time.Second)
	require.Equal(t, "v1", w.version("web", "production"), "missing data is not good news: nothing is promoted")
	require.Zero(t, w.count("start", "production", "v2"), "the failed-bake release never reached production")
}
