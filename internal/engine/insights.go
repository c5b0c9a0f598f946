package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/insights"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// InsightsLookback is how much history before a period's start the
// insights read: a change that reaches production inside the period needs
// its creation, its staging deployment and its waits, which came earlier.
// A change older than this when it reached production counts from the
// first event read (its lead time is then a lower bound).
const InsightsLookback = 30 * 24 * time.Hour

// insightsPage is how many events one read of the log returns.
const insightsPage = 5000

// InsightsParams is a request for delivery insights.
type InsightsParams struct {
	// Service is one service, or "" for every service in the
	// configuration.
	Service string
	// Since and Until bound the period; a zero Until is now.
	Since, Until time.Time
	// FailureWindow: see insights.Params (zero: server.insights.
	// failure_window from the configuration, else 24 h).
	FailureWindow time.Duration
}

// Insights computes delivery insights (internal/insights) from the event
// log. Events are read service by service from Since minus InsightsLookback
// on (the log's index on service and time finds the first), and each
// service is added to the figures and dropped before the next is read, so
// memory holds one service's period at a time.
func (e *Engine) Insights(ctx context.Context, p InsightsParams) (insights.Report, error) {
	now := e.clock.Now()
	if p.Until.IsZero() || p.Until.After(now) {
		p.Until = now
	}
	if !p.Since.Before(p.Until) {
		return insights.Report{}, fmt.Errorf("%w: since %s is not before until %s", ErrInvalid,
			p.Since.UTC().Format(time.RFC3339), p.Until.UTC().Format(time.RFC3339))
	}
	var services []*config.Service
	if p.Service != "" {
		svc, err := e.Service(p.Service)
		if err != nil {
			return insights.Report{}, err
		}
		services = append(services, svc)
	} else {
		cfg := e.Config()
		for i := range cfg.Services {
			services = append(services, &cfg.Services[i])
		}
	}
	if p.FailureWindow <= 0 {
		p.FailureWindow = e.Config().Server.Insights.FailureWindow // zero: insights' default, 24 h
	}
	acc := insights.New(insights.Params{Since: p.Since, Until: p.Until, FailureWindow: p.FailureWindow, Service: p.Service})
	for _, svc := range services {
		s, err := e.insightsHistory(ctx, svc, p.Since.Add(-InsightsLookback), p.Until)
		if err != nil {
			return insights.Report{}, err
		}
		acc.Add(s)
	}
	return acc.Report(), nil
}

// insightsHistory reads one service's events in [from, until).
func (e *Engine) insightsHistory(ctx context.Context, svc *config.Service, from, until time.Time) (insights.Service, error) {
	s := insights.Service{Name: svc.Name, Envs: e.EnvSpecs(svc)}
	// A lock placed before the history read and still held is on the
	// record too: its placement is stated again from the lock itself.
	held, err := e.store.LockList(ctx, &store.LockListParams{Service: svc.Name})
	if err != nil {
		return s, fmt.Errorf("error reading the locks of %s for insights: %w", svc.Name, err)
	}
	for _, l := range held {
		if !l.CreatedAt.Before(from) {
			continue // its lock.placed event is read below
		}
		if !l.Holds(svc.Name, svc.Labels) {
			continue // a selector lock on other services
		}
		data := map[string]any{"lock_id": l.ID}
		if !l.ExpiresAt.IsZero() {
			data["expires_at"] = l.ExpiresAt.UTC().Format(time.RFC3339Nano)
		}
		s.Events = append(s.Events, pipeline.Event{At: l.CreatedAt, Type: pipeline.EventLockPlaced, Service: eventService(l),
			Environment: l.Environment, Actor: l.Actor, Reason: l.Reason, Data: data})
	}
	var after int64
	for {
		page, err := e.store.EventList(ctx, &store.EventListParams{Service: svc.Name, AfterID: after, Since: from, Limit: insightsPage})
		if err != nil {
			return s, fmt.Errorf("error reading the events of %s for insights: %w", svc.Name, err)
		}
		for _, ev := range page {
			if !ev.At.Before(until) {
				continue
			}
			if sel, _ := ev.Data["selector"].(string); sel != "" && ev.Service == pipeline.AllServices && !pipeline.SelectorMatches(sel, svc.Labels) {
				continue // a selector lock's event, on other services (matched by the labels now)
			}
			s.Events = append(s.Events, ev)
		}
		if len(page) < insightsPage {
			return s, nil
		}
		after = page[len(page)-1].ID
	}
}
