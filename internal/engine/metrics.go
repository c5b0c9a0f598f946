package engine

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the engine's Prometheus series. They describe the pipeline
// as this process sees it; the delivery metrics proper are built from the
// event log.
type metrics struct {
	deployments *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	decisions   prometheus.Histogram
	judgements  *prometheus.CounterVec
	leader      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		deployments: prometheus.NewCounterVec(prometheus.CounterOpts{
			// bakery_deployments_total{service,environment,outcome} comes from
			// the event log (insights_metrics.go); this is the process's own
			// count of the deploy commands it ran.
			Name: "bakery_deploy_commands_total", Help: "Deploy commands this process ran to the end, by service, environment, kind and final state.",
		}, []string{"service", "environment", "kind", "state"}),
		// By environment only: 15 buckets per service and environment held
		// 15 MB of heap at 10,000 services. A service's deploy times are in
		// its deployments (the API and the event log).
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bakery_deploy_command_seconds", Help: "How long deploy commands ran, by environment.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14),
		}, []string{"environment"}),
		decisions: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bakery_decision_seconds", Help: "Time to decide and record one service's next steps (one transaction).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		judgements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bakery_canary_judgements_total", Help: "Canary judgements made, by service, environment and verdict.",
		}, []string{"service", "environment", "verdict"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bakery_leader", Help: "1 while this process leads (sweeps for interrupted deployments), else 0.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deployments, m.duration, m.decisions, m.judgements, m.leader)
	}
	return m
}

func (m *metrics) judged(service, env, verdict string) {
	m.judgements.WithLabelValues(service, env, verdict).Inc()
}

func (m *metrics) deployed(service, env, kind, state string, ran time.Duration) {
	m.deployments.WithLabelValues(service, env, kind, state).Inc()
	if ran > 0 {
		m.duration.WithLabelValues(env).Observe(ran.Seconds())
	}
}
