package check

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// HTTPSpec is an http check: a GET of URL that must answer ExpectStatus and,
// when BodyContains is set, a body containing it.
//
// Redirects are followed unless ExpectStatus is itself a redirect (3xx).
// Only the first MaxBodyBytes of the body are searched for BodyContains.
type HTTPSpec struct {
	URL          string
	ExpectStatus int // default 200
	BodyContains string
}

// MaxBodyBytes is how much of a response body an http check reads.
const MaxBodyBytes = 1 << 20

type httpChecker struct {
	name    string
	spec    HTTPSpec
	bound   string
	timeout time.Duration
	client  *http.Client
	now     func() time.Time
}

func newHTTP(spec Spec) (*httpChecker, error) {
	h := *spec.HTTP
	u, err := url.Parse(h.URL)
	if err != nil {
		return nil, fmt.Errorf("http url %q cannot be parsed: %w", h.URL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("http url %q must be an absolute http:// or https:// URL", h.URL)
	}
	if h.ExpectStatus == 0 {
		h.ExpectStatus = http.StatusOK
	}
	if h.ExpectStatus < 100 || h.ExpectStatus > 599 {
		return nil, fmt.Errorf("http expect_status %d is not an HTTP status code", h.ExpectStatus)
	}
	bound := "status " + strconv.Itoa(h.ExpectStatus)
	if h.BodyContains != "" {
		bound += fmt.Sprintf(", body contains %q", h.BodyContains)
	}

	// A fresh connection per evaluation: the check sees the app as a new
	// client does, and nothing is left open between evaluations.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.DisableKeepAlives = true
	client := &http.Client{Transport: transport}
	if h.ExpectStatus/100 == 3 {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &httpChecker{
		name:    spec.Name,
		spec:    h,
		bound:   bound,
		timeout: spec.Timeout,
		client:  client,
		now:     time.Now,
	}, nil
}

func (c *httpChecker) Name() string { return c.name }

// Check GETs the URL once. Any failure to get an answer from the app
// (refused, unresolvable, TLS, timeout) is Failing: see the package doc.
func (c *httpChecker) Check(ctx context.Context) Result {
	at := c.now()
	res := c.check(ctx, at)
	res.Bound = c.bound
	return res
}

func (c *httpChecker) check(parent context.Context, at time.Time) Result {
	ctx, cancel := context.WithTimeout(parent, c.timeout)
	defer cancel()
	target := "GET " + c.spec.URL

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.spec.URL, nil)
	if err != nil {
		// New validated the URL; this would be a bug, not news about the app.
		return result(c.name, at, Inconclusive, "cannot build the request %s: %v", target, err)
	}
	req.Header.Set("User-Agent", "bakery-check")
	resp, err := c.client.Do(req)
	if err != nil {
		if why, ok := cancelled(parent); ok {
			return result(c.name, at, Inconclusive, "%s: %s", target, why)
		}
		return result(c.name, at, Failing, "%s failed: %s (the app is down or not answering)",
			target, describeNetError(err, c.timeout))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	if err != nil {
		if why, ok := cancelled(parent); ok {
			return result(c.name, at, Inconclusive, "%s: %s", target, why)
		}
		r := result(c.name, at, Failing, "%s answered %d but its body could not be read: %s",
			target, resp.StatusCode, describeNetError(err, c.timeout))
		r.Value, r.Samples = ptr(float64(resp.StatusCode)), 1
		return r
	}

	var r Result
	switch {
	case resp.StatusCode != c.spec.ExpectStatus:
		r = result(c.name, at, Failing, "%s answered %d, expected %d%s",
			target, resp.StatusCode, c.spec.ExpectStatus, bodySnippet(body))
	case c.spec.BodyContains != "" && !strings.Contains(string(body), c.spec.BodyContains):
		r = result(c.name, at, Failing, "%s answered %d but its body does not contain %q%s",
			target, resp.StatusCode, c.spec.BodyContains, bodySnippet(body))
	default:
		r = result(c.name, at, Healthy, "%s answered %d", target, resp.StatusCode)
	}
	r.Value, r.Samples = ptr(float64(resp.StatusCode)), 1
	return r
}

// bodySnippet is the start of a response body for a Reason, on one line.
func bodySnippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if s == "" {
		return " (empty body)"
	}
	return ": " + clip(s, 160)
}
