package engine

import (
	"context"
	"time"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
)

// defaultPrometheusStep is the resolution of a Prometheus range query
// without a step.
const defaultPrometheusStep = 5 * time.Second

// prometheusSource reads a metric with two Prometheus range queries, one
// for stable and one for the canary.
type prometheusSource struct {
	spec config.PrometheusMetric
}

func (s *prometheusSource) Kind() string     { return "prometheus" }
func (s *prometheusSource) Describe() string { return "prometheus" }

func (s *prometheusSource) Samples(ctx context.Context, from, to time.Time) (baseline, canary []float64, err error) {
	step := s.spec.Step
	if step <= 0 {
		step = defaultPrometheusStep
	}
	baseline, err = check.PrometheusRange(ctx, s.spec.URL, s.spec.Baseline, from, to, step)
	if err != nil {
		return nil, nil, err
	}
	canary, err = check.PrometheusRange(ctx, s.spec.URL, s.spec.Canary, from, to, step)
	return baseline, canary, err
}
