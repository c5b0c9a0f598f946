package router

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the routers' Prometheus collectors, shared by all routers of
// a process (each router's series carry its service and environment):
//
//   - bakery_router_requests_total{service,environment,track,code}: requests
//     answered, by the status the client got (502 when the backend failed,
//     499 when the client went away first);
//   - bakery_router_request_duration_seconds{service,environment,track}: the
//     router's latency per request, from receiving it to the end of the
//     response.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewMetrics returns the routers' collectors, registered with reg unless
// reg is nil. Calling it again with the same registry returns collectors
// that share the already registered series. If reg holds different
// collectors under these names, the Metrics still count but are not
// exported; RegisterMetrics reports that conflict.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m, _ := RegisterMetrics(reg)
	return m
}

// RegisterMetrics is NewMetrics that reports a failed registration. The
// returned Metrics are usable even then.
func RegisterMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bakery_router_requests_total",
			Help: "Requests through bakery's canary router, by service, environment, track (stable or canary) and the status the client got (502: backend failed, 499: client went away).",
		}, []string{"service", "environment", "track", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bakery_router_request_duration_seconds",
			Help: "Latency of requests through bakery's canary router, from receiving the request to the end of the response, by service, environment and track.",
			// 250 µs (a local backend's floor) to 16 s.
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 17),
		}, []string{"service", "environment", "track"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	var err error
	if m.requests, err = register(reg, m.requests); err != nil {
		errs = append(errs, err)
	}
	if m.duration, err = register(reg, m.duration); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return m, fmt.Errorf("error registering the router metrics (another collector uses their names with other labels or help; give the router a registry of its own): %w", err)
	}
	return m, nil
}

// register registers c, or returns the collector of the same kind already
// registered in its place.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var already prometheus.AlreadyRegisteredError
	if errors.As(err, &already) {
		if existing, ok := already.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
