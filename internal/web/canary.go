package web

import (
	"context"
	"encoding/json"
	"fmt"
	"hash"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// judgementsShown is how many judgements a canary panel lists.
const judgementsShown = 5

// canaryPanel is the service page's view of one canary environment: its
// newest canary (running or ended), what it waits for, and the evidence
// behind its latest judgements.
type canaryPanel struct {
	Env  string
	Base string // the API path of the environment
	// Plan is the configured rollout in words: "25% for 10m → 50% for
	// 10m → promote".
	Plan     string
	Interval time.Duration
	// Canary is nil before the environment's first canary.
	Canary *canaryRow
	// Hold is what a running canary waits for (pipeline.DecideCanary's
	// reason).
	Hold        string
	RouterError string
	Judgements  []judgementRow

	CanPromote     bool
	PromoteConfirm string
	CanAbort       bool
	AbortConfirm   string
}

type canaryRow struct {
	pipeline.Canary
	Short     string
	CommitURL string
	// StepNo and Steps are 1-based for people: "step 1 of 2".
	StepNo, Steps int
	StepEnds      time.Time // zero unless running
}

// Running reports whether the canary still takes traffic at its steps.
func (c *canaryRow) Running() bool { return c.State == pipeline.CanaryRunning }

// Tone is how the canary's state is coloured: ok, bad, warn, run.
func (c *canaryRow) Tone() string {
	switch c.State {
	case pipeline.CanaryPromoted:
		return "ok"
	case pipeline.CanaryAborted:
		return "bad"
	case pipeline.CanaryCancelled:
		return "warn"
	}
	return "run"
}

type judgementRow struct {
	pipeline.Judgement
	StepNo, Steps int
	Metrics       []metricRow
	Checks        []checkRow
	// DetailErr says why the stored detail could not be read.
	DetailErr string
}

// metricRow is one metric of a judgement, its numbers formatted ("–" where
// there is no value).
type metricRow struct {
	Name, Outcome, Reason, Source string
	Critical                      bool
	BaselineCount, CanaryCount    int
	BaselineMedian, CanaryMedian  string
	PValue, EffectSize            string
}

type checkRow struct {
	Name, Outcome, Value, Reason string
}

// canaryPanels builds the panel of each environment of svc that has a
// canary configured (nil when none has). The controls are offered only to
// those who may deploy, and only while the canary runs.
func (h *Handler) canaryPanels(ctx context.Context, svc *config.Service, canDeploy bool) ([]canaryPanel, error) {
	var envs []*config.Environment
	for i := range svc.Environments {
		if svc.Environments[i].Canary != nil {
			envs = append(envs, &svc.Environments[i])
		}
	}
	if len(envs) == 0 {
		return nil, nil
	}
	views, err := h.e.Canaries(ctx, svc.Name, judgementsShown)
	if err != nil {
		return nil, fmt.Errorf("error reading the canaries of %s: %w", svc.Name, err)
	}
	out := make([]canaryPanel, 0, len(envs))
	for _, env := range envs {
		p := canaryPanel{Env: env.Name, Plan: canaryPlan(env.Canary.Steps), Interval: env.Canary.Analysis.Interval,
			Base: "/api/v1/services/" + url.PathEscape(svc.Name) + "/environments/" + url.PathEscape(env.Name)}
		if p.Interval <= 0 {
			p.Interval = config.DefaultAnalysisInterval
		}
		if err := h.e.RouterError(svc.Name, env.Name); err != nil {
			p.RouterError = err.Error()
		}
		v, ok := views[env.Name]
		if !ok {
			out = append(out, p)
			continue
		}
		c := &canaryRow{Canary: v.Canary, Short: shortVersion(v.Canary.Version), StepNo: v.Canary.Step + 1,
			Steps: max(len(v.Steps), v.Canary.Step+1)}
		if svc.Repository != "" {
			c.CommitURL = commitURL(svc.Repository, v.Canary.Version)
		}
		if c.Running() && v.Canary.Step < len(v.Steps) {
			c.StepEnds = v.Canary.StepStartedAt.Add(v.Steps[v.Canary.Step].For)
		}
		p.Canary = c
		if c.Running() {
			p.Hold = v.Hold
			if canDeploy {
				p.CanPromote, p.CanAbort = true, true
				p.PromoteConfirm = fmt.Sprintf("Skip the remaining steps and replace the stable version of %s with %s now?", env.Name, c.Short)
				p.AbortConfirm = fmt.Sprintf("Send all traffic back to the stable version and reject %s?", c.Short)
			}
		}
		for _, j := range v.Judgements {
			p.Judgements = append(p.Judgements, judgementRowOf(j, c.Steps))
		}
		out = append(out, p)
	}
	return out, nil
}

// judgementRowOf reads a stored judgement's detail for display.
func judgementRowOf(j pipeline.Judgement, steps int) judgementRow {
	r := judgementRow{Judgement: j, StepNo: j.Step + 1, Steps: max(steps, j.Step+1)}
	if len(j.Detail) == 0 {
		return r
	}
	var d engine.JudgementDetail
	if err := json.Unmarshal(j.Detail, &d); err != nil {
		r.DetailErr = err.Error()
		return r
	}
	for _, m := range d.Metrics {
		r.Metrics = append(r.Metrics, metricRow{Name: m.Name, Outcome: m.Outcome, Reason: m.Reason, Source: m.Source,
			Critical: m.Critical, BaselineCount: m.BaselineCount, CanaryCount: m.CanaryCount,
			BaselineMedian: number(m.BaselineMedian, 4), CanaryMedian: number(m.CanaryMedian, 4),
			PValue: number(m.PValue, 3), EffectSize: percent(m.EffectSize)})
	}
	for _, c := range d.Checks {
		r.Checks = append(r.Checks, checkRow{Name: c.Name, Outcome: c.Outcome, Value: number(c.Value, 4), Reason: c.Reason})
	}
	return r
}

// noValue stands for a number that does not exist (JSON null, NaN).
const noValue = "–"

// number formats f with digits significant digits, or noValue.
func number(f engine.Float, digits int) string {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return noValue
	}
	return strconv.FormatFloat(v, 'g', digits, 64)
}

// percent formats a relative change: "+12%", "-3.5%", or noValue.
func percent(f engine.Float) string {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return noValue
	}
	s := strconv.FormatFloat(v*100, 'g', 3, 64) + "%"
	if v > 0 {
		s = "+" + s
	}
	return s
}

// canaryPlan says a canary's steps in words.
func canaryPlan(steps []config.CanaryStep) string {
	var b strings.Builder
	for _, s := range steps {
		fmt.Fprintf(&b, "%d%% for %s → ", s.Weight, shortDur(s.For))
	}
	return b.String() + "promote"
}

// shortDur is a configuration-style duration: "10m", "1h", "1m30s".
func shortDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// canaryFingerprint adds to the row's fingerprint what a canary panel
// shows that the service's view does not: the newest canary of each canary
// environment and the newest judgement. A judgement that changes neither
// step nor weight still reaches open service pages.
func (h *Handler) canaryFingerprint(ctx context.Context, svc *config.Service, d hash.Hash) error {
	canaries := false
	for _, env := range svc.Environments {
		if env.Canary == nil {
			continue
		}
		canaries = true
		cs, err := h.e.Records().CanaryList(ctx, &store.CanaryListParams{Service: svc.Name, Environment: env.Name, Limit: 1})
		if err != nil {
			return err
		}
		for _, c := range cs {
			fmt.Fprintf(d, "c%d/%s/%d/%d/%s;", c.ID, c.State, c.Step, c.Weight, c.Reason)
		}
	}
	if !canaries {
		return nil
	}
	js, err := h.e.Records().JudgementList(ctx, &store.JudgementListParams{Service: svc.Name, Limit: 1})
	if err != nil {
		return err
	}
	for _, j := range js {
		fmt.Fprintf(d, "j%d;", j.ID)
	}
	return nil
}
