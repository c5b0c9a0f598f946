package insights_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bakery-deploy/bakery/internal/insights"
	"github.com/bakery-deploy/bakery/internal/insights/insightstest"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/window"
)

// BenchmarkInsights1000ServicesYear computes a year's insights over 1,000
// services, streaming them service by service through one Accumulator as
// the engine does. Generating the history is not timed.
func BenchmarkInsights1000ServicesYear(b *testing.B) {
	weekdays, _ := window.ParseEntry("Mon-Fri 09:00-18:00")
	envs := twoEnvs(window.New(time.UTC, []window.Entry{weekdays}, nil))
	start := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	const services, days = 1000, 365
	template := insightstest.Generate("svc", start, days)
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
