package insights_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/insights"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/window"
)

// generate writes one service's year: a release every four hours, five
// minutes to staging, an hour's bake, promotions inside Mon-Fri 09:00-18:00,
// a two-hour lock every Wednesday, a rollback every four weeks and a failed
// bake check every week.
func generate(name string, start time.Time, days int) []pipeline.Event {
	l := &logb{svc: name}
	type queued struct {
		v     string
		baked time.Time
	}
	var last, inProd string
	var waiting []queued
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d)
		wd := day.Weekday()
		workday := wd != time.Saturday && wd != time.Sunday
		for h := 0; h < 24; h++ {
			if h%4 == 0 {
				at := day.Add(time.Duration(h)*time.Hour + 7*time.Minute)
				v := fmt.Sprintf("v%d-%d", d, h)
				l.release(v, at)
				l.promote("staging", v, last, at, at.Add(5*time.Minute))
				last = v
				if h == 8 && d%7 == 3 {
					l.add(pipeline.Event{At: at.Add(20 * time.Minute), Type: pipeline.EventCheckFailed, Environment: "production", Version: v,
						Data: map[string]any{"check": "errors"}})
				} else {
					waiting = append(waiting, queued{v, at.Add(65 * time.Minute)})
				}
			}
			if workday && wd == time.Wednesday && h == 12 {
				id := l.lockAt("production", "ana", "release freeze", day.Add(12*time.Hour))
				l.unlock("production", id, day.Add(14*time.Hour))
			}
			if !workday || (h != 9 && h != 14 && h != 17) {
				continue
			}
			at := day.Add(time.Duration(h) * time.Hour)
			n := 0
			for n < len(waiting) && !waiting[n].baked.After(at) {
				n++
			}
			if n == 0 {
				continue
			}
			v := waiting[n-1].v
			for _, s := range waiting[:n-1] {
				l.add(pipeline.Event{At: at, Type: pipeline.EventReleaseSuperseded, Environment: "production", Version: s.v, ToVersion: v})
			}
			waiting = waiting[n:]
			l.promote("production", v, inProd, at, at.Add(5*time.Minute))
			if d%28 == 10 && h == 14 && inProd != "" {
				l.add(pipeline.Event{At: at.Add(time.Hour), Type: pipeline.EventReleaseRejected, Environment: "production", Version: v})
				l.deploy(pipeline.EventRollbackDecided, "production", inProd, v, at.Add(time.Hour), at.Add(time.Hour+2*time.Minute), "succeeded")
				continue
			}
			inProd = v
		}
	}
	return l.service(nil).Events
}

// BenchmarkInsights1000ServicesYear computes a year's insights over 1,000
// services, streaming them service by service through one Accumulator as
// the engine does. Generating the history is not timed.
func BenchmarkInsights1000ServicesYear(b *testing.B) {
	weekdays, _ := window.ParseEntry("Mon-Fri 09:00-18:00")
	envs := twoEnvs(window.New(time.UTC, []window.Entry{weekdays}, nil))
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	const services, days = 1000, 365
	template := generate("svc", start, days)
	for b.Loop() {
		a := insights.New(insights.Params{Since: start, Until: start.AddDate(0, 0, days)})
		for i := range services {
			b.StopTimer()
			name := fmt.Sprintf("svc-%04d", i)
			evs := make([]pipeline.Event, len(template))
			copy(evs, template)
			for j := range evs {
				evs[j].Service = name
			}
			b.StartTimer()
			a.Add(insights.Service{Name: name, Envs: envs, Events: evs})
		}
		r := a.Report()
		b.ReportMetric(float64(len(template)*services), "events/op")
		b.ReportMetric(float64(r.LeadTimeSeconds.N), "changes/op")
		if r.LeadTimeSeconds.N == 0 || len(r.Locks) == 0 || r.ChangeFailures == 0 || r.CaughtBeforeProduction == 0 {
			b.Fatalf("the generated history should have every kind of figure: lead %+v, %d locks, %d failures, %d caught", r.LeadTimeSeconds, len(r.Locks), r.ChangeFailures, r.CaughtBeforeProduction)
		}
	}
}
