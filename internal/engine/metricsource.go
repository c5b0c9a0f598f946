package engine

import (
	"context"
	"errors"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// metricSource reads one canary metric's samples, for stable (the
// baseline) and for the canary, over a span of time. There is one
// implementation per kind of source, one file each
// (metricsource_router.go, metricsource_prometheus.go); the judge compares
// what they return and never knows where it came from.
type metricSource interface {
	// Kind names the source in a judgement's detail when it could not be
	// read ("router", "prometheus").
	Kind() string
	// Describe names the source and its unit when it was read.
	Describe() string
	// Samples are the baseline's and the canary's samples in [from, to).
	// An error means no data: the metric is inconclusive (rule 9).
	Samples(ctx context.Context, from, to time.Time) (baseline, canary []float64, err error)
}

// metricSource is the source of metric m for canary c.
func (e *Engine) metricSource(c pipeline.Canary, m config.AnalysisMetric) metricSource {
	switch {
	case m.Router != "":
		return &routerSource{e: e, service: c.Service, env: c.Environment, metric: m.Router}
	case m.Prometheus != nil:
		return &prometheusSource{spec: *m.Prometheus}
	}
	return nil
}

// gather reads a metric's baseline and canary samples for [from, to) from
// src, and names the source for the judgement's detail.
func (e *Engine) gather(ctx context.Context, src metricSource, from, to time.Time) (baseline, canary []float64, source string, err error) {
	if src == nil {
		return nil, nil, "", errors.New("the metric has no source")
	}
	baseline, canary, err = src.Samples(ctx, from, to)
	if err != nil {
		return nil, nil, src.Kind(), err
	}
	return baseline, canary, src.Describe(), nil
}
