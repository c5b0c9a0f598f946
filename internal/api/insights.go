package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store"
)

// defaultInsightsSince is the period GET /api/v1/insights covers without
// ?since=.
const defaultInsightsSince = 30 * 24 * time.Hour

// getInsights serves delivery insights (docs/INSIGHTS.md):
// GET /api/v1/insights?service=&since=&until=&failure_window=.
func (s *Server) getInsights(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	now := s.e.Now()
	q := r.URL.Query()
	until := now
	if v := q.Get("until"); v != "" {
		t, err := ParseSince(v, now)
		if err != nil {
			return badParam("until", v, err)
		}
		until = t
	}
	since := until.Add(-defaultInsightsSince)
	if v := q.Get("since"); v != "" {
		t, err := ParseSince(v, now)
		if err != nil {
			return badParam("since", v, err)
		}
		since = t
	}
	if !since.Before(until) {
		return &Error{Status: http.StatusBadRequest, Message: "invalid parameter since",
			Detail: fmt.Sprintf("since %s is not before until %s: give an earlier since", since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))}
	}
	var window time.Duration
	if v := q.Get("failure_window"); v != "" {
		d, err := ParseAge(v)
		if err != nil || d <= 0 {
			if err == nil {
				err = fmt.Errorf("it must be positive")
			}
			return badParam("failure_window", v, err)
		}
		window = d
	}
	rep, err := s.e.Insights(r.Context(), engine.InsightsParams{Service: q.Get("service"), Since: since, Until: until, FailureWindow: window})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rep)
	return nil
}

func badParam(name, value string, err error) *Error {
	return &Error{Status: http.StatusBadRequest, Message: "invalid parameter " + name,
		Detail: fmt.Sprintf("%s=%q: %v; write an age like 30d, 12h or 90m, or a time in RFC3339 like 2026-01-02T15:04:05Z", name, value, err)}
}

// ParseAge reads an age: a number followed by d (days), h, m or s, or
// anything time.ParseDuration reads ("1h30m").
func ParseAge(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.ParseFloat(n, 64)
		if err != nil || days < 0 || days > 3660 {
			return 0, fmt.Errorf("%q is not a number of days from 0 to 3660", n)
		}
		return time.Duration(days * 24 * float64(time.Hour)), nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("not an age")
	}
	if d < 0 {
		return 0, fmt.Errorf("an age cannot be negative")
	}
	return d, nil
}

// ParseSince reads a point in time: an age before now (30d, 12h) or an
// RFC3339 time.
func ParseSince(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := ParseAge(v)
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}
