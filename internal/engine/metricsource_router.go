package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/router"
)

// routerSource reads a metric from the samples the built-in router of the
// canary's environment (in this process) keeps of the requests it routed.
type routerSource struct {
	e            *Engine
	service, env string
	metric       string // config.RouterLatency or config.RouterErrors
}

func (s *routerSource) Kind() string { return "router" }

func (s *routerSource) Describe() string {
	if s.metric == config.RouterLatency {
		return "router latency (seconds per request)"
	}
	return "router error rate (per second)"
}

func (s *routerSource) Samples(_ context.Context, from, to time.Time) (baseline, canary []float64, err error) {
	r := s.e.routerFor(s.service, s.env)
	if r == nil {
		return nil, nil, fmt.Errorf("the built-in router of %s/%s is not running in this process", s.service, s.env)
	}
	if err := s.e.RouterError(s.service, s.env); err != nil {
		return nil, nil, fmt.Errorf("the built-in router of %s/%s is not serving, so it has no samples: %w", s.service, s.env, err)
	}
	bs, cs := r.Samples(router.Stable, from, to), r.Samples(router.Canary, from, to)
	if s.metric == config.RouterLatency {
		return router.Latencies(bs), router.Latencies(cs), nil
	}
	return router.ErrorRates(bs, time.Second), router.ErrorRates(cs, time.Second), nil
}
