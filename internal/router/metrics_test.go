package router

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	stable := namedBackend(t, "stable")
	var calls atomic.Int64
	canary := backendFunc(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1)%2 == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "canary")
	})
	r := newRouter(t, stable.URL, canary.URL, Options{Metrics: m, Service: "web", Environment: "production"})
	rec := recordings(r)
	f := serve(t, r)
	f.r.SetWeight(50)
	const n = 100
	for range n {
		f.get(t, "/")
	}
	waitFor(t, rec, n)

	got := gather(t, reg)
	want := map[string]float64{
		`bakery_router_requests_total{code="200",environment="production",service="web",track="stable"}`: 50,
		`bakery_router_requests_total{code="200",environment="production",service="web",track="canary"}`: 25,
		`bakery_router_requests_total{code="503",environment="production",service="web",track="canary"}`: 25,
		`bakery_router_request_duration_seconds{environment="production",service="web",track="stable"}`:  50,
		`bakery_router_request_duration_seconds{environment="production",service="web",track="canary"}`:  50,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the registry holds\n%v\nwant\n%v", got, want)
	}

	// A second router's Metrics on the same registry share the series.
	again := NewMetrics(reg)
	if again.requests != m.requests || again.duration != m.duration {
		t.Error("NewMetrics on a registry that has them did not return the registered collectors")
	}
	if _, err := RegisterMetrics(reg); err != nil {
		t.Errorf("RegisterMetrics on a registry that has them: %v; want nil", err)
	}
	if m := NewMetrics(nil); m == nil || m.requests == nil {
		t.Error("NewMetrics(nil) returned no collectors; want unregistered ones")
	}
}

func TestRegisterMetricsConflict(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewCounter(prometheus.CounterOpts{Name: "bakery_router_requests_total", Help: "something else"}))
	m, err := RegisterMetrics(reg)
	if err == nil {
		t.Fatal("RegisterMetrics with a conflicting collector returned no error")
	}
	if m == nil {
		t.Fatal("RegisterMetrics returned nil Metrics; want usable ones even on error")
	}
	if NewMetrics(reg) == nil {
		t.Error("NewMetrics returned nil on a conflict; want usable Metrics")
	}
}

// gather reads every series of reg: a counter's value, or a histogram's
// number of observations, keyed by name{labels} with labels sorted by name.
// (prometheus/testutil would do, but it needs a module bakery's go.mod does
// not have.)
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatalf("error gathering metrics: %v", err)
	}
	out := map[string]float64{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			sort.Strings(labels)
			key := fam.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetHistogram() != nil:
				out[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
