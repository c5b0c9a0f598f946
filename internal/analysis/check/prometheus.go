package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// PrometheusSpec is a prometheus check: an instant PromQL query evaluated
// now, whose value must stay at or below Max and at or above Min.
//
// The query may return a scalar or an instant vector. With several series,
// the highest value is held against Max and the lowest against Min, so one
// bad series fails the check. Series whose value is NaN (typically a ratio
// 0/0: no traffic) have no data and are left out.
//
// The check is Inconclusive, never Healthy, when Prometheus cannot be
// reached or rejects the query, when the result is empty or only NaN, or is
// of a kind that has no single value (a range vector, a string, a native
// histogram).
//
// Samples counts series: MinSamples demands that many series with a value,
// e.g. one per instance. It does not count requests. To demand traffic
// behind an aggregated value, write it into the query, so that too little
// traffic gives an empty result (Inconclusive):
//
//	sum(rate(http_requests_total{code=~"5.."}[5m]))
//	  and on() sum(increase(http_requests_total[5m])) > 100
type PrometheusSpec struct {
	URL, Query string
	Max, Min   *float64
}

type prometheusChecker struct {
	name       string
	spec       PrometheusSpec
	bounds     bounds
	minSamples int
	timeout    time.Duration
	api        v1.API
	now        func() time.Time
}

func newPrometheus(spec Spec) (*prometheusChecker, error) {
	p := *spec.Prometheus
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q cannot be parsed: %w", p.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus url %q must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:9090", p.URL)
	}
	if strings.TrimSpace(p.Query) == "" {
		return nil, errors.New("prometheus query is empty")
	}
	b, err := newBounds(p.Max, p.Min)
	if err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true // nothing left open between evaluations
	client, err := api.NewClient(api.Config{Address: p.URL, Client: &http.Client{Transport: transport}})
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q: %w", p.URL, err)
	}
	return &prometheusChecker{
		name:       spec.Name,
		spec:       p,
		bounds:     b,
		minSamples: spec.MinSamples,
		timeout:    spec.Timeout,
		api:        v1.NewAPI(client),
		now:        time.Now,
	}, nil
}

func (c *prometheusChecker) Name() string { return c.name }

// Check runs the query once. See PrometheusSpec for the outcomes.
func (c *prometheusChecker) Check(ctx context.Context) Result {
	at := c.now()
	res := c.check(ctx, at)
	res.Bound = c.bounds.String()
	return res
}

// series is one value of a query's result and the labels that name it.
type series struct {
	labels string
	value  float64
}

func (c *prometheusChecker) check(parent context.Context, at time.Time) Result {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	where := "Prometheus at " + c.spec.URL

	// No evaluation time: Prometheus evaluates at its own "now", so a clock
	// difference between bakery and Prometheus cannot shift the window.
	value, warnings, _, err := c.api.Query(ctx, c.spec.Query, time.Time{}, v1.WithTimeout(c.timeout))
	if err != nil {
		if why, ok := cancelled(parent); ok {
			return result(c.name, at, Inconclusive, "%s: %s", where, why)
		}
		return result(c.name, at, Inconclusive, "%s", c.describeError(where, err))
	}
	warned := ""
	if len(warnings) > 0 {
		warned = " (Prometheus warned: " + clip(strings.Join(warnings, "; "), 200) + ")"
	}

	var all []series
	switch v := value.(type) {
	case *model.Scalar:
		all = []series{{value: float64(v.Value)}}
	case model.Vector:
		for _, s := range v {
			if s.Histogram != nil {
				return result(c.name, at, Inconclusive,
					"query returned a native histogram for %s, which has no single value: wrap it, e.g. in histogram_quantile (%s)%s",
					s.Metric, c.spec.Query, warned)
			}
			all = append(all, series{labels: s.Metric.String(), value: float64(s.Value)})
		}
	case model.Matrix:
		return result(c.name, at, Inconclusive,
			"query returned a range vector, which has no single value: aggregate it, e.g. with rate() or avg_over_time() (%s)%s",
			c.spec.Query, warned)
	default:
		return result(c.name, at, Inconclusive, "query returned a %s, not a number (%s)%s", typeName(value), c.spec.Query, warned)
	}

	if len(all) == 0 {
		return result(c.name, at, Inconclusive, "query returned no data (%s)%s", c.spec.Query, warned)
	}
	var values []float64
	var named []series
	for _, s := range all {
		if !math.IsNaN(s.value) {
			values = append(values, s.value)
			named = append(named, s)
		}
	}
	if len(values) == 0 {
		return result(c.name, at, Inconclusive, "query returned NaN, i.e. no data (e.g. 0/0 with no traffic) (%s)%s", c.spec.Query, warned)
	}
	if len(values) < c.minSamples {
		r := result(c.name, at, Inconclusive, "query returned %d series with a value, fewer than min_samples %d (%s)%s",
			len(values), c.minSamples, c.spec.Query, warned)
		r.Samples = len(values)
		return r
	}

	v := c.bounds.judge(values)
	of := ""
	if len(values) > 1 {
		of = fmt.Sprintf(" for %s, the %s of %d series", named[v.index].labels, extreme(v.lowest), len(values))
	}
	r := result(c.name, at, v.outcome, "%s%s (%s)%s", v.text, of, c.spec.Query, warned)
	r.Value = ptr(values[v.index])
	r.Samples = len(values)
	return r
}

// describeError turns an error of the Prometheus API client into a Reason
// that says whether Prometheus was unreachable or answered with an error.
func (c *prometheusChecker) describeError(where string, err error) string {
	var apiErr *v1.Error
	if !errors.As(err, &apiErr) {
		return fmt.Sprintf("%s unreachable: %s", where, describeNetError(err, c.timeout))
	}
	msg := apiErr.Msg
	if apiErr.Detail != "" {
		msg += ": " + clip(strings.Join(strings.Fields(apiErr.Detail), " "), 160)
	}
	switch apiErr.Type {
	case v1.ErrBadData:
		return fmt.Sprintf("%s rejected the query %s: %s", where, c.spec.Query, msg)
	case v1.ErrTimeout, v1.ErrCanceled, v1.ErrExec:
		return fmt.Sprintf("%s could not evaluate the query %s: %s", where, c.spec.Query, msg)
	case v1.ErrBadResponse:
		return fmt.Sprintf("%s gave an answer that is not a Prometheus API response (is the URL right?): %s", where, msg)
	}
	return fmt.Sprintf("%s answered with an error (is the URL right?): %s", where, msg)
}

func typeName(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}
