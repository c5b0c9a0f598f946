package engine

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bakery-deploy/bakery/internal/insights"
)

// insightsRefresh is how often a scrape may recompute the delivery
// metrics; scrapes in between are served what was computed last.
const insightsRefresh = 30 * time.Second

// leadTimeBuckets span a minute to two weeks.
var leadTimeBuckets = []float64{60, 300, 900, 1800, 3600, 2 * 3600, 4 * 3600, 8 * 3600, 24 * 3600, 2 * 24 * 3600, 7 * 24 * 3600, 14 * 24 * 3600}

// insightsCollector serves the delivery metrics to Prometheus from the
// same computation as GET /api/v1/insights (internal/insights), so the
// figures agree. At a scrape, at most every insightsRefresh, it computes
// the period since its last computation and folds it in: deployments that
// ended and changes that reached production in the new period are added to
// the counters and the histogram (which therefore count from this
// process's start, like any counter), and the queues and held locks are
// taken as they are now. Every replica reads the same log, so every replica
// reports the same figures: aggregate them with max(), not sum().
//
// Labels are bounded: services and environments come from the
// configuration, outcomes are succeeded, failed and cancelled.
type insightsCollector struct {
	e *Engine

	deployments *prometheus.Desc
	leadTime    *prometheus.Desc
	waiting     *prometheus.Desc
	lockHeld    *prometheus.Desc

	mu       sync.Mutex
	until    time.Time // the end of the period folded in so far
	nextAt   time.Time // the next allowed computation, on the engine's clock
	outcomes map[[3]string]float64
	buckets  []uint64
	sum      float64
	count    uint64
	queues   []insights.Waiting
	locks    []insights.Lock
}

func newInsightsCollector(e *Engine, from time.Time) *insightsCollector {
	return &insightsCollector{e: e, until: from, outcomes: map[[3]string]float64{}, buckets: make([]uint64, len(leadTimeBuckets)),
		deployments: prometheus.NewDesc("bakery_deployments_total",
			"Deployments that ended, by service, environment and outcome (succeeded, failed, cancelled), read from the event log.",
			[]string{"service", "environment", "outcome"}, nil),
		leadTime: prometheus.NewDesc("bakery_lead_time_seconds",
			"Lead time of changes that reached their service's last environment: from the commit (or the release's creation) to success there (docs/INSIGHTS.md).",
			nil, nil),
		waiting: prometheus.NewDesc("bakery_releases_waiting",
			"Releases waiting to enter an environment: in the one below, and not yet in it inside any newer release.",
			[]string{"service", "environment"}, nil),
		lockHeld: prometheus.NewDesc("bakery_lock_held_seconds",
			"How long the lock now holding promotions into an environment has held (service \"*\": the lock on every service).",
			[]string{"service", "environment"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *insightsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deployments
	ch <- c.leadTime
	ch <- c.waiting
	ch <- c.lockHeld
}

// refresh folds in the period since the last one, unless it ran less than
// insightsRefresh ago.
func (c *insightsCollector) refresh(ctx context.Context) {
	if c.e.store == nil {
		return // not started: nothing to read yet
	}
	now := c.e.clock.Now()
	if now.Before(c.nextAt) || !c.until.Before(now) {
		return
	}
	rep, err := c.e.Insights(ctx, InsightsParams{Since: c.until, Until: now})
	if err != nil {
		c.e.log.Warn("error computing delivery metrics; serving the last ones", "error", err)
		return
	}
	c.nextAt = now.Add(insightsRefresh)
	c.until = now
	for _, o := range rep.Outcomes {
		c.outcomes[[3]string{o.Service, o.Environment, o.Outcome}] += float64(o.Count)
	}
	for _, lt := range rep.LeadTimes {
		c.count++
		c.sum += lt
		for i, b := range leadTimeBuckets {
			if lt <= b {
				c.buckets[i]++
			}
		}
	}
	c.queues = rep.Waiting
	c.locks = c.locks[:0]
	for _, l := range rep.Locks {
		if l.Held {
			c.locks = append(c.locks, l)
		}
	}
}

// Collect implements prometheus.Collector.
func (c *insightsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.refresh(ctx)
	keys := make([][3]string, 0, len(c.outcomes))
	for k := range c.outcomes {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1]+keys[i][2] < keys[j][0]+keys[j][1]+keys[j][2] })
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(c.deployments, prometheus.CounterValue, c.outcomes[k], k[0], k[1], k[2])
	}
	b := map[float64]uint64{}
	for i, le := range leadTimeBuckets {
		b[le] = c.buckets[i]
	}
	ch <- prometheus.MustNewConstHistogram(c.leadTime, c.count, c.sum, b)
	for _, q := range c.queues {
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(q.Releases), q.Service, q.Environment)
	}
	seen := map[[2]string]bool{}
	for _, l := range c.locks {
		k := [2]string{l.Service, l.Environment}
		if seen[k] {
			continue // two locks on one environment: the older one is reported
		}
		seen[k] = true
		ch <- prometheus.MustNewConstMetric(c.lockHeld, prometheus.GaugeValue, l.HeldSeconds, l.Service, l.Environment)
	}
}
