package check

import (
	"context"
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

// PrometheusRange evaluates query over [start, end] at resolution step and
// returns the values of its single series in time order, NaN values
// dropped: the samples a canary judgement compares. A query that returns
// no series is an error (no data is not good news); one that returns
// several must be aggregated (e.g. with sum) and is an error too.
func PrometheusRange(ctx context.Context, serverURL, query string, start, end time.Time, step time.Duration) ([]float64, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus url %q must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:9090", serverURL)
	}
	if step <= 0 {
		step = 5 * time.Second
	}
	client, err := api.NewClient(api.Config{Address: serverURL, Client: &http.Client{Timeout: DefaultTimeout}})
	if err != nil {
		return nil, fmt.Errorf("prometheus url %q: %w", serverURL, err)
	}
	where := "Prometheus at " + serverURL
	ctx, cancel := context.WithTimeout(ctx, DefaultTimeout)
	defer cancel()
	value, _, _, err := v1.NewAPI(client).QueryRange(ctx, query, v1.Range{Start: start, End: end, Step: step})
	if err != nil {
		c := prometheusChecker{spec: PrometheusSpec{URL: serverURL, Query: query}, timeout: DefaultTimeout}
		return nil, fmt.Errorf("%s", c.describeError(where, err))
	}
	m, ok := value.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("%s: range query %s returned a %s, not a range of values", where, query, typeName(value))
	}
	switch len(m) {
	case 0:
		return nil, fmt.Errorf("%s: query returned no data between %s and %s (%s)", where,
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), query)
	case 1:
	default:
		var names []string
		for _, s := range m[:min(3, len(m))] {
			names = append(names, s.Metric.String())
		}
		return nil, fmt.Errorf("%s: query returned %d series (%s…); aggregate it to one, e.g. sum(...) (%s)", where, len(m),
			strings.Join(names, ", "), query)
	}
	out := make([]float64, 0, len(m[0].Values))
	for _, p := range m[0].Values {
		if v := float64(p.Value); !math.IsNaN(v) {
			out = append(out, v)
		}
	}
	return out, nil
}
