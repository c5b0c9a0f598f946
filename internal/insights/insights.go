// Package insights computes delivery metrics (DORA's four keys and more)
// from bakery's event log: deployment frequency, lead time and where it
// went, change failure rate, failed deployment recovery time, rework rate,
// what the bake caught before production, and what each lock cost.
//
// It is a pure computation: no SQL, no HTTP, no clock of its own. The engine
// loads each service's events and passes them in with the service's
// environments (bake durations, windows, checks) and the period; the same
// events and the same period always give the same figures.
// docs/INSIGHTS.md has the definitions and their sources.
package insights

import (
	"math"
	"slices"
	"sort"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// DefaultFailureWindow is how long after a production deployment an
// emergency deploy still counts it as a failed change.
const DefaultFailureWindow = 24 * time.Hour

// Params is the period and the rules of one computation.
type Params struct {
	// Since and Until bound the period: a deployment counts if it finished
	// inside [Since, Until), a change if it reached the last environment
	// inside it.
	Since, Until time.Time
	// FailureWindow: an emergency deploy this soon after a production
	// deployment makes that deployment a failed change (zero: 24 h).
	FailureWindow time.Duration
	// Service names the one service the report is about ("" for all); it
	// is only copied into the report.
	Service string
}

// Service is one service's history: its environments in order (the last
// one is production) and its events, oldest first, including the events
// about every service (locks on "*").
type Service struct {
	Name   string
	Envs   []pipeline.EnvSpec
	Events []pipeline.Event
}

// Report is the result. The JSON names are the API (issue 14's contract);
// fields beyond the contract are extra.
type Report struct {
	Service                   string    `json:"service,omitempty"`
	Since                     string    `json:"since"`
	Until                     string    `json:"until"`
	Deployments               int       `json:"deployments"`
	DeploymentFrequencyPerDay float64   `json:"deployment_frequency_per_day"`
	LeadTimeSeconds           LeadTime  `json:"lead_time_seconds"`
	LeadTimeBreakdownSeconds  Breakdown `json:"lead_time_breakdown_seconds"`
	// LeadTimeBreakdownPercent is the same as shares of the mean lead
	// time; they sum to 100 (when any change reached production).
	LeadTimeBreakdownPercent Breakdown `json:"lead_time_breakdown_percent"`
	ChangeFailureRate        float64   `json:"change_failure_rate"`
	ChangeFailures           int       `json:"change_failures"`
	CaughtBeforeProduction   int       `json:"caught_before_production"`
	// FailedDeploymentRecoverySeconds is DORA's "failed deployment
	// recovery time".
	FailedDeploymentRecoverySeconds Recovery `json:"failed_deployment_recovery_seconds"`
	ReworkRate                      float64  `json:"rework_rate"`
	Rollbacks                       int      `json:"rollbacks"`
	EmergencyDeploys                int      `json:"emergency_deploys"`
	Locks                           []Lock   `json:"locks"`
	// Outcomes counts finished deployments per service, environment and
	// outcome (succeeded, failed, cancelled) in the period.
	Outcomes []Outcome `json:"outcomes"`
	// Waiting is, per service and environment, how many releases wait to
	// enter it at Until.
	Waiting []Waiting `json:"waiting"`
	// Days and Weeks are the series the dashboard draws (UTC days, weeks
	// starting on Monday).
	Days  []Day  `json:"days"`
	Weeks []Week `json:"weeks"`
	// LeadTimes are every change's lead time in seconds, for histograms.
	LeadTimes []float64 `json:"-"`
}

// LeadTime summarises lead times: nearest-rank percentiles over N changes.
type LeadTime struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	Mean float64 `json:"mean"`
	N    int     `json:"n"`
}

// Breakdown is the mean over changes of the time spent in each state; the
// parts sum to LeadTime.Mean.
type Breakdown struct {
	ToStaging    float64 `json:"to_staging"`
	Bake         float64 `json:"bake"`
	HeldByLock   float64 `json:"held_by_lock"`
	HeldByWindow float64 `json:"held_by_window"`
	HeldByChecks float64 `json:"held_by_checks"`
	Canary       float64 `json:"canary"`
	ToProduction float64 `json:"to_production"`
}

// Total is the sum of the parts.
func (b Breakdown) Total() float64 {
	return b.ToStaging + b.Bake + b.HeldByLock + b.HeldByWindow + b.HeldByChecks + b.Canary + b.ToProduction
}

func (b *Breakdown) add(o Breakdown) {
	b.ToStaging += o.ToStaging
	b.Bake += o.Bake
	b.HeldByLock += o.HeldByLock
	b.HeldByWindow += o.HeldByWindow
	b.HeldByChecks += o.HeldByChecks
	b.Canary += o.Canary
	b.ToProduction += o.ToProduction
}

func (b Breakdown) scaled(f float64) Breakdown {
	return Breakdown{b.ToStaging * f, b.Bake * f, b.HeldByLock * f, b.HeldByWindow * f, b.HeldByChecks * f, b.Canary * f, b.ToProduction * f}
}

// Recovery summarises failed deployment recovery times.
type Recovery struct {
	P50 float64 `json:"p50"`
	N   int     `json:"n"`
}

// Lock is one lock held during the period and what it cost.
type Lock struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// HeldSeconds is how long it held (until Until if it still does).
	HeldSeconds float64 `json:"held_seconds"`
	// ReleasesPiledUp counts the releases that waited to enter the
	// environment while it held.
	ReleasesPiledUp int       `json:"releases_piled_up"`
	Reason          string    `json:"reason"`
	By              string    `json:"by"`
	Since           time.Time `json:"since"`
	Until           time.Time `json:"until"`
	Held            bool      `json:"held"` // still held at Until
}

// Outcome counts finished deployments.
type Outcome struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Outcome     string `json:"outcome"`
	Count       int    `json:"count"`
}

// Waiting is the queue in front of one environment at Until.
type Waiting struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	Releases    int    `json:"releases"`
}

// Day is one UTC day of the period.
type Day struct {
	Date        string `json:"date"`
	Deployments int    `json:"deployments"`
	// Changes reached production that day; Breakdown is their mean.
	Changes      int       `json:"changes"`
	LeadTimeP50  float64   `json:"lead_time_p50"`
	Breakdown    Breakdown `json:"breakdown"`
	leadTimes    []float64
	breakdownSum Breakdown
}

// Week is one week (starting Monday, UTC) of the period.
type Week struct {
	Start                  string  `json:"start"`
	Deployments            int     `json:"deployments"`
	ChangeFailures         int     `json:"change_failures"`
	ChangeFailureRate      float64 `json:"change_failure_rate"`
	CaughtBeforeProduction int     `json:"caught_before_production"`
}

// Accumulator adds services one at a time, so that a caller can stream a
// large log service by service and keep only the figures.
type Accumulator struct {
	p          Params
	deploys    int
	leadTimes  []float64
	bdSum      Breakdown
	failures   int
	caught     int
	recoveries []float64
	rollbacks  int
	emergency  int
	locks      map[string]*Lock
	outcomes   map[[3]string]int
	waiting    []Waiting
	days       []Day
	weeks      []Week
}

// New starts an accumulator for the period p.
func New(p Params) *Accumulator {
	if p.FailureWindow <= 0 {
		p.FailureWindow = DefaultFailureWindow
	}
	a := &Accumulator{p: p, locks: map[string]*Lock{}, outcomes: map[[3]string]int{}}
	for d := dayStart(p.Since); d.Before(p.Until); d = d.AddDate(0, 0, 1) {
		a.days = append(a.days, Day{Date: d.Format(time.DateOnly)})
	}
	for w := weekStart(p.Since); w.Before(p.Until); w = w.AddDate(0, 0, 7) {
		a.weeks = append(a.weeks, Week{Start: w.Format(time.DateOnly)})
	}
	return a
}

// Compute is New, Add for each service, Report.
func Compute(p Params, services ...Service) Report {
	a := New(p)
	for _, s := range services {
		a.Add(s)
	}
	return a.Report()
}

func dayStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func weekStart(t time.Time) time.Time {
	d := dayStart(t)
	return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
}

func (a *Accumulator) inPeriod(t time.Time) bool {
	return !t.IsZero() && !t.Before(a.p.Since) && t.Before(a.p.Until)
}

func (a *Accumulator) dayOf(t time.Time) *Day {
	i := int(dayStart(t).Sub(dayStart(a.p.Since)) / (24 * time.Hour))
	if i < 0 || i >= len(a.days) {
		return nil
	}
	return &a.days[i]
}

func (a *Accumulator) weekOf(t time.Time) *Week {
	i := int(weekStart(t).Sub(weekStart(a.p.Since)) / (7 * 24 * time.Hour))
	if i < 0 || i >= len(a.weeks) {
		return nil
	}
	return &a.weeks[i]
}

// Report returns the figures of everything added so far.
func (a *Accumulator) Report() Report {
	r := Report{Service: a.p.Service, Since: a.p.Since.UTC().Format(time.RFC3339), Until: a.p.Until.UTC().Format(time.RFC3339),
		Deployments: a.deploys, ChangeFailures: a.failures, CaughtBeforeProduction: a.caught,
		Rollbacks: a.rollbacks, EmergencyDeploys: a.emergency, Locks: []Lock{}, Outcomes: []Outcome{}, Waiting: a.waiting,
		LeadTimes: slices.Clone(a.leadTimes)}
	if r.Waiting == nil {
		r.Waiting = []Waiting{}
	}
	if days := a.p.Until.Sub(a.p.Since).Hours() / 24; days > 0 {
		r.DeploymentFrequencyPerDay = float64(a.deploys) / days
	}
	r.LeadTimeSeconds = summarise(r.LeadTimes)
	if n := len(a.leadTimes); n > 0 {
		r.LeadTimeBreakdownSeconds = a.bdSum.scaled(1 / float64(n))
		if t := r.LeadTimeBreakdownSeconds.Total(); t > 0 {
			r.LeadTimeBreakdownPercent = r.LeadTimeBreakdownSeconds.scaled(100 / t)
		}
	}
	if a.deploys > 0 {
		r.ChangeFailureRate = float64(a.failures) / float64(a.deploys)
		r.ReworkRate = float64(a.rollbacks+a.emergency) / float64(a.deploys)
	}
	rec := slices.Clone(a.recoveries)
	slices.Sort(rec)
	r.FailedDeploymentRecoverySeconds = Recovery{P50: rank(rec, 0.5), N: len(rec)}
	for _, l := range a.locks {
		r.Locks = append(r.Locks, *l)
	}
	sort.Slice(r.Locks, func(i, j int) bool {
		if !r.Locks[i].Since.Equal(r.Locks[j].Since) {
			return r.Locks[i].Since.Before(r.Locks[j].Since)
		}
		return r.Locks[i].Service < r.Locks[j].Service
	})
	for k, n := range a.outcomes {
		r.Outcomes = append(r.Outcomes, Outcome{Service: k[0], Environment: k[1], Outcome: k[2], Count: n})
	}
	sort.Slice(r.Outcomes, func(i, j int) bool {
		x, y := r.Outcomes[i], r.Outcomes[j]
		return x.Service+"\x00"+x.Environment+"\x00"+x.Outcome < y.Service+"\x00"+y.Environment+"\x00"+y.Outcome
	})
	for _, d := range a.days {
		if d.Changes > 0 {
			lt := slices.Clone(d.leadTimes)
			slices.Sort(lt)
			d.LeadTimeP50 = rank(lt, 0.5)
			d.Breakdown = d.breakdownSum.scaled(1 / float64(d.Changes))
		}
		d.leadTimes = nil
		r.Days = append(r.Days, d)
	}
	for _, w := range a.weeks {
		if w.Deployments > 0 {
			w.ChangeFailureRate = float64(w.ChangeFailures) / float64(w.Deployments)
		}
		r.Weeks = append(r.Weeks, w)
	}
	if r.Days == nil {
		r.Days = []Day{}
	}
	if r.Weeks == nil {
		r.Weeks = []Week{}
	}
	return r
}

func summarise(v []float64) LeadTime {
	s := slices.Clone(v)
	slices.Sort(s)
	lt := LeadTime{P50: rank(s, 0.5), P90: rank(s, 0.9), N: len(s)}
	if len(s) > 0 {
		sum := 0.0
		for _, x := range s {
			sum += x
		}
		lt.Mean = sum / float64(len(s))
	}
	return lt
}

// rank is the nearest-rank percentile of sorted values: the smallest value
// with at least q of the values at or below it.
func rank(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}
