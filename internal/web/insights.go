package web

import (
	"fmt"
	"html/template"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/insights"
)

// insightsData is the Insights page: the figures of GET /api/v1/insights
// and server-rendered SVG charts of them (no script draws anything).
type insightsData struct {
	layoutData
	Report   insights.Report
	From, To time.Time
	Since    string
	Services []string
	Periods  []string
	Parts    []breakdownPart
	Charts   struct{ Stack, Deploys, LeadTime, Locks, Weekly template.HTML }
}

// breakdownPart is one state of the lead-time breakdown, with its share.
type breakdownPart struct {
	Key, Name string
	Seconds   float64
	Percent   float64
}

var insightsPeriods = []string{"7d", "30d", "90d", "365d"}

func (h *Handler) insightsPage(w http.ResponseWriter, r *http.Request, s *Session) error {
	seq := h.seq()
	b, err := h.cachedBanner(r.Context())
	if err != nil {
		return err
	}
	q := r.URL.Query()
	since := q.Get("since")
	if since == "" {
		since = "30d"
	}
	now := h.e.Now()
	from, err := api.ParseSince(since, now)
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid parameter since",
			Detail: fmt.Sprintf("since=%q: %v; write an age like 30d or 12h, or an RFC3339 time", since, err)}
	}
	if !from.Before(now) {
		return &api.Error{Status: http.StatusBadRequest, Message: "invalid parameter since", Detail: "since must be in the past"}
	}
	service := q.Get("service")
	rep, err := h.e.Insights(r.Context(), engine.InsightsParams{Service: service, Since: from, Until: now})
	if err != nil {
		return err
	}
	title := "Insights"
	if service != "" {
		title = "Insights · " + service
	}
	d := insightsData{layoutData: h.layout(s, seq, title, "insights", service, b), Report: rep, From: from, To: now, Since: since, Periods: insightsPeriods}
	for _, svc := range h.e.Config().Services {
		d.Services = append(d.Services, svc.Name)
	}
	bd := rep.LeadTimeBreakdownSeconds
	total := bd.Total()
	for _, p := range []breakdownPart{{"to_staging", "to staging", bd.ToStaging, 0}, {"bake", "bake", bd.Bake, 0},
		{"held_by_lock", "held by a lock", bd.HeldByLock, 0}, {"held_by_window", "held by a window", bd.HeldByWindow, 0},
		{"held_by_checks", "held by checks", bd.HeldByChecks, 0}, {"canary", "canary", bd.Canary, 0},
		{"to_production", "to production", bd.ToProduction, 0}} {
		if total > 0 {
			p.Percent = 100 * p.Seconds / total
		}
		d.Parts = append(d.Parts, p)
	}
	d.Charts.Stack = stackChart(d.Parts)
	d.Charts.Deploys = deploysChart(rep.Days)
	d.Charts.LeadTime = leadTimeChart(rep.Days)
	d.Charts.Locks = locksChart(rep, from, now)
	d.Charts.Weekly = weeklyChart(rep.Weeks)
	return render(w, h.pages.insights, "layout", d)
}

// The charts share one coordinate system: a viewBox 720 wide, scaled to
// the page's width by CSS, so they read on a phone as on a laptop. Colours
// are CSS classes (app.css), so dark mode applies.
const (
	chartW    = 720.0
	chartPadL = 44.0
	chartPadR = 8.0
	chartPadT = 10.0
	chartPadB = 22.0
)

func esc(s string) string { return template.HTMLEscapeString(s) }

type svgBuf struct{ strings.Builder }

func (b *svgBuf) f(format string, args ...any) { fmt.Fprintf(&b.Builder, format, args...) }

func svgOpen(b *svgBuf, id string, height float64, label string) {
	b.f(`<svg id="%s" class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s" preserveAspectRatio="xMidYMid meet"><title>%s</title>`,
		esc(id), chartW, height, esc(label), esc(label))
}

// niceMax rounds a maximum up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// yAxis draws the axis line, its maximum and a mid gridline.
func yAxis(b *svgBuf, height, max float64, label func(float64) string) {
	bottom := height - chartPadB
	for _, f := range []float64{0, 0.5, 1} {
		y := bottom - f*(bottom-chartPadT)
		b.f(`<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, chartPadL, y, chartW-chartPadR, y)
		b.f(`<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartPadL-4, y+4, esc(label(f*max)))
	}
}

func xLabels(b *svgBuf, height float64, first, last string) {
	b.f(`<text class="axis" x="%.1f" y="%.1f">%s</text>`, chartPadL, height-6, esc(first))
	b.f(`<text class="axis" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, chartW-chartPadR, height-6, esc(last))
}

func deploysChart(days []insights.Day) template.HTML {
	const height = 170.0
	var b svgBuf
	svgOpen(&b, "chart-deploys", height, "Production deployments per day")
	max := 0
	for _, d := range days {
		if d.Deployments > max {
			max = d.Deployments
		}
	}
	top := niceMax(float64(max))
	yAxis(&b, height, top, countLabel)
	if n := len(days); n > 0 {
		bw := (chartW - chartPadL - chartPadR) / float64(n)
		bottom := height - chartPadB
		for i, d := range days {
			h := float64(d.Deployments) / top * (bottom - chartPadT)
			b.f(`<rect class="bar" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s: %d</title></rect>`,
				chartPadL+float64(i)*bw+bw*0.1, bottom-h, bw*0.8, h, esc(d.Date), d.Deployments)
		}
		xLabels(&b, height, days[0].Date, days[n-1].Date)
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}

// hoursLabel writes seconds short: 45s, 12m, 1.5h, 3.2d.
func hoursLabel(sec float64) string {
	switch {
	case sec < 60:
		return trimZero(fmt.Sprintf("%.1f", sec)) + "s"
	case sec < 3600:
		return trimZero(fmt.Sprintf("%.1f", sec/60)) + "m"
	case sec < 2*86400:
		return trimZero(fmt.Sprintf("%.1f", sec/3600)) + "h"
	}
	return trimZero(fmt.Sprintf("%.1f", sec/86400)) + "d"
}

func trimZero(s string) string { return strings.TrimSuffix(s, ".0") }

// countLabel writes an axis count: 5, 2.5.
func countLabel(v float64) string { return trimZero(fmt.Sprintf("%.1f", v)) }

func leadTimeChart(days []insights.Day) template.HTML {
	const height = 200.0
	var b svgBuf
	svgOpen(&b, "chart-leadtime", height, "Mean lead time per day, stacked by where it went")
	max := 0.0
	for _, d := range days {
		if t := d.Breakdown.Total(); t > max {
			max = t
		}
	}
	top := niceMax(max)
	yAxis(&b, height, top, hoursLabel)
	if n := len(days); n > 0 {
		bw := (chartW - chartPadL - chartPadR) / float64(n)
		bottom := height - chartPadB
		for i, d := range days {
			if d.Changes == 0 {
				continue
			}
			y := bottom
			x := chartPadL + float64(i)*bw + bw*0.1
			bd := d.Breakdown
			for _, p := range []struct {
				key string
				v   float64
			}{{"to_staging", bd.ToStaging}, {"bake", bd.Bake}, {"held_by_lock", bd.HeldByLock}, {"held_by_window", bd.HeldByWindow},
				{"held_by_checks", bd.HeldByChecks}, {"canary", bd.Canary}, {"to_production", bd.ToProduction}} {
				if p.v <= 0 {
					continue
				}
				h := p.v / top * (bottom - chartPadT)
				y -= h
				b.f(`<rect class="part-%s" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>%s %s: %s</title></rect>`,
					p.key, x, y, bw*0.8, h, esc(d.Date), strings.ReplaceAll(p.key, "_", " "), esc(hoursLabel(p.v)))
			}
		}
		xLabels(&b, height, days[0].Date, days[n-1].Date)
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}

// locksChart draws each lock as a bar on the period's time axis, with the
// releases that piled up behind it.
func locksChart(rep insights.Report, from, until time.Time) template.HTML {
	locks := append([]insights.Lock(nil), rep.Locks...)
	sort.SliceStable(locks, func(i, j int) bool { return locks[i].HeldSeconds > locks[j].HeldSeconds })
	if len(locks) > 12 {
		locks = locks[:12]
	}
	sort.SliceStable(locks, func(i, j int) bool { return locks[i].Since.Before(locks[j].Since) })
	const row = 30.0
	height := chartPadT + chartPadB + row*math.Max(1, float64(len(locks)))
	var b svgBuf
	svgOpen(&b, "chart-locks", height, "Locks on a timeline, with the releases piled up behind each")
	span := until.Sub(from).Seconds()
	x := func(t time.Time) float64 {
		f := t.Sub(from).Seconds() / span
		return 4 + math.Max(0, math.Min(1, f))*(chartW-8)
	}
	if len(locks) == 0 {
		b.f(`<text class="axis" x="%.1f" y="%.1f">No lock held in this period.</text>`, 8.0, chartPadT+16)
	}
	for i, l := range locks {
		y := chartPadT + float64(i)*row
		x0, x1 := x(l.Since), x(l.Until)
		if x1-x0 < 3 {
			x1 = x0 + 3
		}
		label := fmt.Sprintf("%s/%s · %s · %d piled up · %s", l.Service, l.Environment, humanDuration(time.Duration(l.HeldSeconds*float64(time.Second))), l.ReleasesPiledUp, l.By)
		b.f(`<rect class="lockbar" x="%.2f" y="%.2f" width="%.2f" height="%.2f" rx="3"><title>%s: %s</title></rect>`, x0, y+14, x1-x0, 10.0, esc(label), esc(l.Reason))
		anchor, tx := "start", x0
		if x0 > chartW/2 {
			anchor, tx = "end", x1
		}
		b.f(`<text class="locklabel" x="%.2f" y="%.2f" text-anchor="%s">%s</text>`, tx, y+11, anchor, esc(label))
	}
	xLabels(&b, height, from.UTC().Format(time.DateOnly), until.UTC().Format(time.DateOnly))
	b.f(`</svg>`)
	return template.HTML(b.String())
}

// weeklyChart: per week, the change failure rate (bars, left axis in %)
// and the releases caught before production (dots with their count).
func weeklyChart(weeks []insights.Week) template.HTML {
	const height = 180.0
	var b svgBuf
	svgOpen(&b, "chart-weekly", height, "Change failure rate and releases caught before production, per week")
	maxCaught := 0
	maxRate := 0.0
	for _, w := range weeks {
		if w.CaughtBeforeProduction > maxCaught {
			maxCaught = w.CaughtBeforeProduction
		}
		maxRate = math.Max(maxRate, w.ChangeFailureRate)
	}
	top := niceMax(maxRate * 100)
	yAxis(&b, height, top, func(v float64) string { return countLabel(v) + "%" })
	if n := len(weeks); n > 0 {
		bw := (chartW - chartPadL - chartPadR) / float64(n)
		bottom := height - chartPadB
		ctop := niceMax(float64(maxCaught))
		for i, w := range weeks {
			x := chartPadL + float64(i)*bw
			h := w.ChangeFailureRate * 100 / top * (bottom - chartPadT)
			b.f(`<rect class="cfr" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>week of %s: %.0f%% of %d deployments failed</title></rect>`,
				x+bw*0.15, bottom-h, bw*0.35, h, esc(w.Start), 100*w.ChangeFailureRate, w.Deployments)
			ch := float64(w.CaughtBeforeProduction) / ctop * (bottom - chartPadT)
			b.f(`<rect class="caught" x="%.2f" y="%.2f" width="%.2f" height="%.2f"><title>week of %s: %d caught before production</title></rect>`,
				x+bw*0.5, bottom-ch, bw*0.35, ch, esc(w.Start), w.CaughtBeforeProduction)
		}
		xLabels(&b, height, weeks[0].Start, weeks[n-1].Start)
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}

// stackChart is the mean breakdown as one bar, each state's share of it.
func stackChart(parts []breakdownPart) template.HTML {
	var b svgBuf
	b.f(`<svg id="chart-stack" class="chart stack" viewBox="0 0 %.0f 16" preserveAspectRatio="none" aria-hidden="true">`, chartW)
	b.f(`<rect class="empty" x="0" y="0" width="%.0f" height="16" rx="4"/>`, chartW)
	x := 0.0
	for _, p := range parts {
		if p.Percent <= 0 {
			continue
		}
		w := p.Percent / 100 * chartW
		b.f(`<rect class="part-%s" x="%.2f" y="0" width="%.2f" height="16"><title>%s %.0f%%</title></rect>`, p.Key, x, w, esc(p.Name), p.Percent)
		x += w
	}
	b.f(`</svg>`)
	return template.HTML(b.String())
}
