package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// maxStoredSamples bounds the samples kept per side and metric in a stored
// judgement (the judge itself uses them all).
const maxStoredSamples = 500

// JudgementDetail is a judgement in full, as stored with it and shown by
// the API, the CLI and the dashboard.
type JudgementDetail struct {
	Verdict pipeline.Verdict `json:"verdict"`
	Score   float64          `json:"score"`
	Reason  string           `json:"reason"`
	From    time.Time        `json:"from"`
	To      time.Time        `json:"to"`
	Metrics []MetricDetail   `json:"metrics"`
	Checks  []CheckDetail    `json:"checks,omitempty"`
}

// MetricDetail is one metric's comparison in a judgement.
type MetricDetail struct {
	Name           string  `json:"name"`
	Outcome        string  `json:"outcome"`
	Critical       bool    `json:"critical,omitempty"`
	Baseline       []Float `json:"baseline"`
	Canary         []Float `json:"canary"`
	BaselineCount  int     `json:"baseline_count"`
	CanaryCount    int     `json:"canary_count"`
	BaselineMedian Float   `json:"baseline_median"`
	CanaryMedian   Float   `json:"canary_median"`
	PValue         Float   `json:"p_value"`
	EffectSize     Float   `json:"effect_size"`
	Reason         string  `json:"reason"`
	Source         string  `json:"source"`
	Error          string  `json:"error,omitempty"`
}

// CheckDetail is one threshold check's result in a judgement.
type CheckDetail struct {
	Name    string `json:"name"`
	Outcome string `json:"outcome"`
	Value   Float  `json:"value"`
	Reason  string `json:"reason"`
}

// Float is a float64 that encodes NaN and ±Inf (no value, an infinite
// effect) as JSON null.
type Float float64

// MarshalJSON implements json.Marshaler.
func (f Float) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte("null"), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON implements json.Unmarshaler: null is NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = Float(v)
	return nil
}

func floats(xs []float64) []Float {
	if len(xs) > maxStoredSamples {
		xs = xs[len(xs)-maxStoredSamples:]
	}
	out := make([]Float, len(xs))
	for i, x := range xs {
		out[i] = Float(x)
	}
	return out
}

// CanarySteps are a canary's configured steps as the decision takes them
// (nil for no canary).
func CanarySteps(c *config.Canary) []pipeline.CanaryStep {
	if c == nil {
		return nil
	}
	out := make([]pipeline.CanaryStep, len(c.Steps))
	for i, s := range c.Steps {
		out[i] = pipeline.CanaryStep{Weight: s.Weight, For: s.For}
	}
	return out
}

func (e *Engine) canaryConfig(service, env string) (*config.Service, *config.Canary) {
	svc, ok := e.Config().Service(service)
	if !ok {
		return nil, nil
	}
	en, _, ok := svc.Environment(env)
	if !ok {
		return svc, nil
	}
	return svc, en.Canary
}

// canaryCommand is the request that runs one of a canary's commands
// (set_weight, cleanup) with the canary's BAKERY_* variables, the
// command's own env, and name=value.
func (e *Engine) canaryCommand(c pipeline.Canary, d *config.Deploy, name, value string) deploy.Request {
	env := map[string]string{name: value}
	for k, v := range d.Env {
		env[k] = v
	}
	return deploy.Request{Service: c.Service, Environment: c.Environment, Version: c.Version, DeploymentID: c.DeploymentID,
		Command: d.Command, Dir: d.Dir, Timeout: d.Timeout, Env: env, InheritEnv: d.InheritEnv, Mask: e.masker}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// heldLocks are the locks holding service/env at now, oldest first: a
// selector lock holds it while the service's labels match.
func (e *Engine) heldLocks(ctx context.Context, r store.Reader, service, env string, now time.Time) ([]pipeline.Lock, error) {
	locks, err := r.LockList(ctx, &store.LockListParams{Service: service, Environment: env})
	if err != nil {
		return nil, err
	}
	var labels map[string]string
	if svc, ok := e.Config().Service(service); ok {
		labels = svc.Labels
	}
	held := locks[:0]
	for _, l := range locks {
		if l.ActiveAt(now) && l.Holds(service, labels) {
			held = append(held, l)
		}
	}
	return held, nil
}

// runningCanary finds the running canary of service/env.
func runningCanary(ctx context.Context, r store.Reader, service, env string) (pipeline.Canary, error) {
	cs, err := r.CanaryList(ctx, &store.CanaryListParams{Service: service, Environment: env,
		States: []pipeline.CanaryState{pipeline.CanaryRunning}, Limit: 1})
	if err != nil {
		return pipeline.Canary{}, err
	}
	if len(cs) == 0 {
		return pipeline.Canary{}, fmt.Errorf("%w in %s/%s", ErrNoCanary, service, env)
	}
	return cs[0], nil
}

// CanaryView is a canary with its latest judgements, newest first.
type CanaryView struct {
	Canary     pipeline.Canary
	Steps      []pipeline.CanaryStep
	Judgements []pipeline.Judgement
	// Hold says what the canary waits for now (DecideCanary's reason).
	Hold string
}

// Canaries returns the newest canary of each canary environment of service
// (running or not), with up to judgements of its judgements.
func (e *Engine) Canaries(ctx context.Context, service string, judgements int) (map[string]CanaryView, error) {
	svc, err := e.Service(service)
	if err != nil {
		return nil, err
	}
	out := map[string]CanaryView{}
	for _, env := range svc.Environments {
		if env.Canary == nil {
			continue
		}
		cs, err := e.store.CanaryList(ctx, &store.CanaryListParams{Service: svc.Name, Environment: env.Name, Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			continue
		}
		v := CanaryView{Canary: cs[0], Steps: CanarySteps(env.Canary)}
		js, err := e.store.JudgementList(ctx, &store.JudgementListParams{CanaryID: cs[0].ID, Limit: max(judgements, 1)})
		if err != nil {
			return nil, err
		}
		if judgements > 0 {
			v.Judgements = js
		}
		if cs[0].State == pipeline.CanaryRunning {
			var latest *pipeline.Judgement
			if len(js) > 0 {
				latest = &js[0]
			}
			now := e.clock.Now()
			held, err := e.heldLocks(ctx, e.store, svc.Name, env.Name, now)
			if err != nil {
				return nil, err
			}
			v.Hold = pipeline.DecideCanary(v.Steps, cs[0], latest, held, now).Reason
		} else {
			v.Hold = cs[0].Reason
		}
		out[env.Name] = v
	}
	return out, nil
}
