package check

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/secret"
)

// DatadogSpec is a datadog check: a metrics query over the last Window,
// through Datadog's documented "query timeseries points" API (v1):
//
//	GET {Site}/api/v1/query?from=UNIX&to=UNIX&query=QUERY
//	DD-API-KEY: $APIKeyEnv
//	DD-APPLICATION-KEY: $AppKeyEnv
//
// The value of a series is its last non-null point. With several series
// (a query grouped "by" a tag), the highest value is held against Max and
// the lowest against Min. Samples counts the non-null points of all series,
// so MinSamples demands that much data in the window.
//
// The check is Inconclusive, never Healthy, when a key's variable is unset,
// Datadog cannot be reached, rejects the keys or the query, or returns no
// series or only null points.
type DatadogSpec struct {
	// Site is the Datadog site the account lives on, one of DatadogSites
	// (default datadoghq.com); the check queries its API host over HTTPS,
	// https://api.<site>. "api.<site>" and "https://api.<site>" are
	// accepted too. Nothing else is: the request carries the API and
	// application keys, which must reach Datadog and no other host.
	Site  string
	Query string
	// APIKeyEnv and AppKeyEnv name the environment variables that hold the
	// keys (default DD_API_KEY and DD_APP_KEY). They are read at every
	// evaluation, so rotated keys are picked up without a restart.
	APIKeyEnv, AppKeyEnv string
	Max, Min             *float64
	// Window is how far back the query looks: from=now-Window to=now
	// (default 5m).
	Window time.Duration

	// apiURL replaces the site's API base URL in this package's tests (a
	// local fake Datadog). It is unexported so that no configuration file
	// can send the keys elsewhere.
	apiURL string
}

// DatadogSites are Datadog's documented sites (the "site parameter" of
// Datadog's "Getting Started with Datadog Sites": US1, US3, US5, EU1, AP1,
// AP2, US1-FED and US2-FED). The check talks to https://api.<site> only.
var DatadogSites = []string{
	"datadoghq.com",
	"us3.datadoghq.com",
	"us5.datadoghq.com",
	"datadoghq.eu",
	"ap1.datadoghq.com",
	"ap2.datadoghq.com",
	"ddog-gov.com",
	"us2.ddog-gov.com",
}

// DatadogAPIBase returns the API base URL (https://api.<site>) of a
// configured site, or an error that lists the documented sites. An empty
// site is datadoghq.com.
func DatadogAPIBase(site string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(site))
	if s == "" {
		s = defaultDatadogSite
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "https://"), "/")
	s = strings.TrimPrefix(s, "api.")
	if slices.Contains(DatadogSites, s) {
		return "https://api." + s, nil
	}
	return "", fmt.Errorf("datadog site %q is not one of Datadog's sites: use one of %s (the API is reached at https://api.<site>; the keys go nowhere else)",
		site, strings.Join(DatadogSites, ", "))
}

const (
	defaultDatadogSite = "datadoghq.com"
	defaultDatadogWin  = 5 * time.Minute
	// maxDatadogBody bounds how much of an answer is read: a query over a
	// few minutes returns kilobytes; a runaway "by" can return megabytes.
	maxDatadogBody = 32 << 20
)

type datadogChecker struct {
	name       string
	spec       DatadogSpec
	endpoint   string // {site}/api/v1/query
	bounds     bounds
	minSamples int
	timeout    time.Duration
	client     *http.Client
	now        func() time.Time
	getenv     func(string) string
}

func newDatadog(spec Spec) (*datadogChecker, error) {
	d := *spec.Datadog
	site, err := DatadogAPIBase(d.Site)
	if d.apiURL != "" {
		site, err = strings.TrimRight(d.apiURL, "/"), nil
	}
	if err != nil {
		return nil, err
	}
	d.Site = site
	if strings.TrimSpace(d.Query) == "" {
		return nil, errors.New("datadog query is empty")
	}
	if d.APIKeyEnv == "" {
		d.APIKeyEnv = "DD_API_KEY"
	}
	if d.AppKeyEnv == "" {
		d.AppKeyEnv = "DD_APP_KEY"
	}
	if d.Window < 0 {
		return nil, fmt.Errorf("datadog window %s is negative", d.Window)
	}
	if d.Window == 0 {
		d.Window = defaultDatadogWin
	}
	if d.Window < time.Second {
		return nil, fmt.Errorf("datadog window %s is shorter than the API's resolution of a second", d.Window)
	}
	b, err := newBounds(d.Max, d.Min)
	if err != nil {
		return nil, fmt.Errorf("datadog: %w", err)
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true // nothing left open between evaluations
	return &datadogChecker{
		name:       spec.Name,
		spec:       d,
		endpoint:   site + "/api/v1/query",
		bounds:     b,
		minSamples: spec.MinSamples,
		timeout:    spec.Timeout,
		client:     &http.Client{Transport: transport},
		now:        time.Now,
		getenv:     secret.Getenv,
	}, nil
}

func (c *datadogChecker) Name() string { return c.name }

// Check runs the query once over the last Window. See DatadogSpec for the
// outcomes.
func (c *datadogChecker) Check(ctx context.Context) Result {
	at := c.now()
	res := c.check(ctx, at)
	res.Bound = c.bounds.String()
	return res
}

// datadogResponse is the part of the "query timeseries points" answer the
// check reads. A point is [timestamp in ms, value], and value may be null.
type datadogResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Series []struct {
		Metric    string       `json:"metric"`
		Scope     string       `json:"scope"`
		Pointlist [][]*float64 `json:"pointlist"`
	} `json:"series"`
}

func (c *datadogChecker) check(parent context.Context, at time.Time) Result {
	apiKey, appKey := c.getenv(c.spec.APIKeyEnv), c.getenv(c.spec.AppKeyEnv)
	for _, k := range []struct{ env, val, what string }{
		{c.spec.APIKeyEnv, apiKey, "API key"},
		{c.spec.AppKeyEnv, appKey, "application key"},
	} {
		if k.val == "" {
			return result(c.name, at, Inconclusive,
				"environment variable %s is not set: the datadog check reads its %s from it", k.env, k.what)
		}
	}

	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	where := "Datadog at " + c.spec.Site
	q := url.Values{}
	q.Set("from", strconv.FormatInt(at.Add(-c.spec.Window).Unix(), 10))
	q.Set("to", strconv.FormatInt(at.Unix(), 10))
	q.Set("query", c.spec.Query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.endpoint+"?"+q.Encode(), nil)
	if err != nil {
		return result(c.name, at, Inconclusive, "cannot build the request to %s: %v", where, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("DD-API-KEY", apiKey)
	req.Header.Set("DD-APPLICATION-KEY", appKey)

	resp, err := c.client.Do(req)
	if err != nil {
		if why, ok := cancelled(parent); ok {
			return result(c.name, at, Inconclusive, "%s: %s", where, why)
		}
		return result(c.name, at, Inconclusive, "%s unreachable: %s", where, describeNetError(err, c.timeout))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDatadogBody))
	if err != nil {
		if why, ok := cancelled(parent); ok {
			return result(c.name, at, Inconclusive, "%s: %s", where, why)
		}
		return result(c.name, at, Inconclusive, "%s: reading the answer failed: %s", where, describeNetError(err, c.timeout))
	}

	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return result(c.name, at, Inconclusive, "%s refused the keys (HTTP %d%s): check %s/%s (the application key needs the timeseries_query permission)",
			where, code, datadogErrors(body), c.spec.APIKeyEnv, c.spec.AppKeyEnv)
	case code == http.StatusTooManyRequests:
		return result(c.name, at, Inconclusive, "%s is rate limiting the keys (HTTP 429%s): lengthen the check's interval",
			where, datadogErrors(body))
	case code == http.StatusBadRequest:
		return result(c.name, at, Inconclusive, "%s rejected the query %s (HTTP 400%s)", where, c.spec.Query, datadogErrors(body))
	case code/100 != 2:
		return result(c.name, at, Inconclusive, "%s answered HTTP %d%s", where, code, datadogErrors(body))
	}

	var dr datadogResponse
	if err := json.Unmarshal(body, &dr); err != nil {
		return result(c.name, at, Inconclusive, "%s gave an answer that is not a timeseries query response (is the site right?): %v", where, err)
	}
	if (dr.Status != "" && dr.Status != "ok") || dr.Error != "" {
		return result(c.name, at, Inconclusive, "%s could not run the query %s: status %q: %s", where, c.spec.Query, dr.Status, dr.Error)
	}

	// The value of each series is its last non-null point.
	var values []float64
	var names []string
	points := 0
	for _, s := range dr.Series {
		var last *float64
		for _, p := range s.Pointlist {
			if len(p) == 2 && p[1] != nil {
				points++
				last = p[1]
			}
		}
		if last != nil {
			values = append(values, *last)
			names = append(names, seriesName(s.Metric, s.Scope))
		}
	}
	switch {
	case len(dr.Series) == 0:
		return result(c.name, at, Inconclusive, "query returned no data: no series in the last %s (%s)", c.spec.Window, c.spec.Query)
	case len(values) == 0:
		return result(c.name, at, Inconclusive, "query returned no data: %d series, all points null, in the last %s (%s)",
			len(dr.Series), c.spec.Window, c.spec.Query)
	case points < c.minSamples:
		r := result(c.name, at, Inconclusive, "query returned %d points in the last %s, fewer than min_samples %d (%s)",
			points, c.spec.Window, c.minSamples, c.spec.Query)
		r.Samples = points
		return r
	}

	v := c.bounds.judge(values)
	of := ""
	if len(values) > 1 {
		of = fmt.Sprintf(" for %s, the %s of %d series", names[v.index], extreme(v.lowest), len(values))
	}
	r := result(c.name, at, v.outcome, "%s%s (%s, last point of the last %s)", v.text, of, c.spec.Query, c.spec.Window)
	r.Value = ptr(values[v.index])
	r.Samples = points
	return r
}

// seriesName names a series for a Reason, e.g. "requests.errors{env:staging}".
func seriesName(metric, scope string) string {
	if scope == "" {
		return metric
	}
	return metric + "{" + scope + "}"
}

// datadogErrors is the "errors" list of a Datadog error answer, as a
// Reason fragment.
func datadogErrors(body []byte) string {
	var e struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &e) == nil && len(e.Errors) > 0 {
		return ": " + clip(strings.Join(e.Errors, "; "), 200)
	}
	if s := strings.Join(strings.Fields(string(body)), " "); s != "" {
		return ": " + clip(s, 160)
	}
	return ""
}
