package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/analysis/judge"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/router"
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

// canaryPhase says what a deployment's attempt must do: "" for a plain
// deploy, "canary" to put the release beside stable, "promote" to replace
// stable after the canary, "none" when there is nothing left to do.
func (e *Engine) canaryPhase(ctx context.Context, dep pipeline.Deployment) (string, pipeline.Canary, error) {
	_, cc := e.canaryConfig(dep.Service, dep.Environment)
	c, err := e.store.CanaryGetByDeployment(ctx, dep.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if cc == nil || dep.Kind != pipeline.KindAuto {
			return "", c, nil
		}
		// A canary is judged against the stable version: the first
		// release into the environment has none and is deployed plainly.
		cur, err := e.store.DeploymentList(ctx, &store.DeploymentListParams{Service: dep.Service, Environment: dep.Environment,
			States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 1})
		if err != nil {
			return "", c, err
		}
		if len(cur) == 0 {
			return "", c, nil
		}
		return "canary", c, nil
	case err != nil:
		return "", c, err
	case c.State == pipeline.CanaryPromoting:
		return "promote", c, nil
	default:
		return "none", c, nil
	}
}

// canaryRequest is the request that puts the release beside stable.
func canaryRequest(req deploy.Request, cc *config.Canary) deploy.Request {
	req.Command, req.Dir, req.Env, req.Timeout = cc.Deploy.Command, cc.Deploy.Dir, cc.Deploy.Env, cc.Deploy.Timeout
	req.InheritEnv = cc.Deploy.InheritEnv
	return req
}

// startCanary records, once the canary instances are up, that the canary
// runs at its first step; the deployment stays running for the rollout.
func (e *Engine) startCanary(ctx context.Context, dep pipeline.Deployment, output string) error {
	ctx = context.WithoutCancel(ctx)
	_, cc := e.canaryConfig(dep.Service, dep.Environment)
	if cc == nil || len(cc.Steps) == 0 {
		return e.finishDeployment(ctx, dep, errors.New("the environment's canary was removed from the configuration while its instances were deployed"), output)
	}
	var c pipeline.Canary
	err := e.mutate(ctx, dep.Service, func(u *unit) error {
		u.noDecision() // the deployment stays running; nothing new to decide
		tx, now := u.tx, u.now
		if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentRunning,
			Heartbeat: now, Output: &output}); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return errTakenOver
			}
			return err
		}
		first := cc.Steps[0]
		var err error
		c, err = tx.CanaryInsert(ctx, &pipeline.Canary{DeploymentID: dep.ID, Service: dep.Service, Environment: dep.Environment,
			ReleaseID: dep.ReleaseID, Version: dep.Version, State: pipeline.CanaryRunning, Step: 0, Weight: first.Weight,
			StartedAt: now, StepStartedAt: now, Reason: "canary instances deployed"})
		if err != nil {
			return err
		}
		if err := u.event(&pipeline.Event{Type: pipeline.EventCanaryStarted, Service: dep.Service, Environment: dep.Environment,
			Version: dep.Version, ToVersion: dep.Version, Actor: pipeline.ActorSystem, DeploymentID: dep.ID,
			Reason: fmt.Sprintf("%s is a canary at %d%% (step 1 of %d, for %s)", dep.Version, first.Weight, len(cc.Steps), first.For),
			Data:   map[string]any{"canary_id": c.ID, "weight": first.Weight, "step": 1}}); err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) {
			e.log.Info("canary started", "service", dep.Service, "environment", dep.Environment, "version", dep.Version, "weight", c.Weight)
			_ = e.applyWeight(ctx, c)
		})
		return nil
	})
	if errors.Is(err, errTakenOver) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("error recording the start of the canary of deployment %d: %w", dep.ID, err)
	}
	return nil
}

// promoteCanary is the promote phase of a deployment: all traffic to the
// canary, the environment's deploy command replaces stable, then all
// traffic back to (the new) stable.
func (e *Engine) promoteCanary(ctx context.Context, dep pipeline.Deployment, c pipeline.Canary, req deploy.Request, tail *deploy.Tail) error {
	if err := e.applyWeight(ctx, c); err != nil {
		return fmt.Errorf("could not move traffic to the canary before replacing stable: %w", err)
	}
	return e.opts.Deployer.Deploy(ctx, req, tail)
}

// endCanary writes a canary's end in tx: weight 0, its final state, and
// the job that runs its cleanup command (if it has one).
func (e *Engine) endCanary(ctx context.Context, tx store.Tx, c pipeline.Canary, state pipeline.CanaryState, reason string, now time.Time) (pipeline.Canary, error) {
	return e.endCanaryFrom(ctx, tx, c, []pipeline.CanaryState{pipeline.CanaryRunning, pipeline.CanaryPromoting}, state, reason, now)
}

func (e *Engine) endCanaryFrom(ctx context.Context, tx store.Tx, c pipeline.Canary, from []pipeline.CanaryState,
	state pipeline.CanaryState, reason string, now time.Time) (pipeline.Canary, error) {
	ended, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: from, State: state,
		Weight: 0, SetWeight: true, FinishedAt: now, Reason: &reason})
	if err != nil {
		return ended, err
	}
	if _, cc := e.canaryConfig(c.Service, c.Environment); cc != nil && cc.Cleanup != nil {
		err = tx.JobInsert(ctx, river.InsertManyParams{Args: CanaryCleanupArgs{CanaryID: c.ID}})
	}
	return ended, err
}

// cleanupCanary runs an ended canary's cleanup command once, with
// BAKERY_CANARY_OUTCOME, and puts the outcome on the record. An error
// makes River try again later.
func (e *Engine) cleanupCanary(ctx context.Context, id int64) error {
	c, err := e.store.CanaryGet(ctx, id)
	if err != nil {
		return err
	}
	_, cc := e.canaryConfig(c.Service, c.Environment)
	if !c.State.IsTerminal() || !c.CleanedAt.IsZero() || cc == nil || cc.Cleanup == nil {
		return nil // not over, done already, or nothing to run any more
	}
	req := e.canaryCommand(c, cc.Cleanup, "BAKERY_CANARY_OUTCOME", string(c.State))
	tail := deploy.NewTail(8 << 10)
	runErr := e.opts.Deployer.Deploy(context.WithoutCancel(ctx), req, tail)
	err = e.mutate(context.WithoutCancel(ctx), c.Service, func(u *unit) error {
		u.noDecision()
		tx, now := u.tx, u.now
		ev := &pipeline.Event{At: now, Type: pipeline.EventCanaryCleanedUp, Service: c.Service, Environment: c.Environment, Version: c.Version,
			Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: "cleanup command exited 0",
			Data: map[string]any{"canary_id": c.ID, "outcome": c.State}}
		if runErr != nil {
			ev.Type = pipeline.EventCanaryCleanup
			ev.Reason = fmt.Sprintf("cleanup command failed (%v): %s; trying again later", runErr, lastLine(tail.String()))
		} else if err := tx.CanaryCleaned(ctx, c.ID, now); err != nil {
			return err
		}
		return u.event(ev)
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil // another run recorded it first
	}
	if err != nil {
		return err
	}
	if runErr != nil {
		return fmt.Errorf("cleanup of canary %d: %w", c.ID, runErr)
	}
	return nil
}

// applyWeight gives the canary the weight stored for it now: the built-in
// router (in this process) at once, and the set_weight command if there is
// one. Applications of one canary's weight are serialised and re-read the
// stored weight, so they land in order and a weight already applied is not
// applied again. Routers in other replicas follow within a router sync.
func (e *Engine) applyWeight(ctx context.Context, c pipeline.Canary) error {
	ctx = context.WithoutCancel(ctx)
	mu := e.weightLock(c.ID)
	mu.Lock()
	defer mu.Unlock()
	if cur, err := e.store.CanaryGet(ctx, c.ID); err == nil {
		c = cur
	}
	e.syncRoutersSoon()
	if r := e.routerFor(c.Service, c.Environment); r != nil {
		r.SetWeight(c.Weight)
	}
	_, cc := e.canaryConfig(c.Service, c.Environment)
	if cc == nil || cc.SetWeight == nil || c.AppliedWeight == c.Weight {
		return nil
	}
	req := e.canaryCommand(c, cc.SetWeight, "BAKERY_CANARY_WEIGHT", fmt.Sprint(c.Weight))
	tail := deploy.NewTail(8 << 10)
	if err := e.opts.Deployer.Deploy(ctx, req, tail); err != nil {
		msg := fmt.Sprintf("set_weight %d%% failed: %v: %s", c.Weight, err, lastLine(tail.String()))
		e.log.Error("canary weight not applied", "service", c.Service, "environment", c.Environment, "weight", c.Weight, "error", msg)
		_ = e.mutate(ctx, c.Service, func(u *unit) error {
			u.noDecision()
			return u.event(&pipeline.Event{Type: pipeline.EventCanaryWeight, Service: c.Service,
				Environment: c.Environment, Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: msg,
				Data: map[string]any{"weight": c.Weight}})
		})
		return errors.New(msg)
	}
	return e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.CanaryWeightApplied(ctx, c.ID, c.Weight)
	})
}

// weightLock is the lock that serialises applying one canary's weight.
func (e *Engine) weightLock(id int64) *sync.Mutex {
	e.mu.Lock()
	defer e.mu.Unlock()
	mu, ok := e.weightLocks[id]
	if !ok {
		mu = &sync.Mutex{}
		e.weightLocks[id] = mu
	}
	return mu
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

// runCanaries, on the leader, judges every running canary that is due and
// retries set_weight commands that did not apply.
func (e *Engine) runCanaries(ctx context.Context) {
	now := e.clock.Now()
	running, err := e.store.CanaryList(ctx, &store.CanaryListParams{
		States: []pipeline.CanaryState{pipeline.CanaryRunning}, Limit: 1000})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("error listing canaries", "error", err)
		}
		return
	}
	// Forget what is kept about canaries that ended.
	alive := make(map[int64]bool, len(running))
	for _, c := range running {
		alive[c.ID] = true
	}
	e.mu.Lock()
	for id := range e.canaryJudged {
		if !alive[id] && !e.canaryBusy[id] {
			delete(e.canaryJudged, id)
		}
	}
	e.mu.Unlock()
	for _, c := range running {
		svc, cc := e.canaryConfig(c.Service, c.Environment)
		if cc == nil {
			if svc != nil {
				e.dropCanary(ctx, c)
			}
			continue
		}
		interval := cc.Analysis.Interval
		if interval <= 0 {
			interval = config.DefaultAnalysisInterval
		}
		e.mu.Lock()
		last, known := e.canaryJudged[c.ID]
		busy := e.canaryBusy[c.ID]
		e.mu.Unlock()
		if busy {
			continue
		}
		if !known {
			js, err := e.store.JudgementList(ctx, &store.JudgementListParams{CanaryID: c.ID, Limit: 1})
			if err != nil {
				continue
			}
			if len(js) > 0 {
				last = js[0].To
			}
		}
		if due, _ := pipeline.JudgementDue(CanarySteps(cc), c, last, interval, now); !due {
			e.mu.Lock()
			e.canaryJudged[c.ID] = last
			e.mu.Unlock()
			continue
		}
		e.mu.Lock()
		e.canaryBusy[c.ID] = true
		e.mu.Unlock()
		e.wg.Add(1)
		go func(c pipeline.Canary, from time.Time) {
			defer e.wg.Done()
			to, err := e.judgeCanary(ctx, c, cc, from)
			e.mu.Lock()
			delete(e.canaryBusy, c.ID)
			if err == nil {
				e.canaryJudged[c.ID] = to
			}
			e.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				e.log.Error("canary judgement failed to run", "service", c.Service, "environment", c.Environment, "error", err)
			}
		}(c, last)
	}
	// set_weight commands that did not apply are tried again.
	recent, err := e.store.CanaryList(ctx, &store.CanaryListParams{Limit: 50})
	if err != nil {
		return
	}
	for _, c := range recent {
		_, cc := e.canaryConfig(c.Service, c.Environment)
		if cc == nil || cc.SetWeight == nil || c.AppliedWeight == c.Weight || c.State == pipeline.CanaryPromoting {
			continue
		}
		e.mu.Lock()
		retry := !e.canaryBusy[-c.ID] && !now.Before(e.weightRetry[c.ID])
		if retry {
			e.canaryBusy[-c.ID] = true
			e.weightRetry[c.ID] = now.Add(5 * time.Second)
		}
		e.mu.Unlock()
		if !retry {
			continue
		}
		e.wg.Add(1)
		go func(c pipeline.Canary) {
			defer e.wg.Done()
			_ = e.applyWeight(ctx, c)
			e.mu.Lock()
			delete(e.canaryBusy, -c.ID)
			e.mu.Unlock()
		}(c)
	}
}

// gather reads a metric's baseline and canary samples for [from, to).
func (e *Engine) gather(ctx context.Context, c pipeline.Canary, m config.AnalysisMetric, from, to time.Time) (baseline, canary []float64, source string, err error) {
	switch {
	case m.Router != "":
		r := e.routerFor(c.Service, c.Environment)
		if r == nil {
			return nil, nil, "router", fmt.Errorf("the built-in router of %s/%s is not running in this process", c.Service, c.Environment)
		}
		if err := e.RouterError(c.Service, c.Environment); err != nil {
			return nil, nil, "router", fmt.Errorf("the built-in router of %s/%s is not serving, so it has no samples: %w", c.Service, c.Environment, err)
		}
		bs, cs := r.Samples(router.Stable, from, to), r.Samples(router.Canary, from, to)
		if m.Router == config.RouterLatency {
			return router.Latencies(bs), router.Latencies(cs), "router latency (seconds per request)", nil
		}
		return router.ErrorRates(bs, time.Second), router.ErrorRates(cs, time.Second), "router error rate (per second)", nil
	case m.Prometheus != nil:
		p := m.Prometheus
		step := p.Step
		if step <= 0 {
			step = 5 * time.Second
		}
		baseline, err = check.PrometheusRange(ctx, p.URL, p.Baseline, from, to, step)
		if err != nil {
			return nil, nil, "prometheus", err
		}
		canary, err = check.PrometheusRange(ctx, p.URL, p.Canary, from, to, step)
		return baseline, canary, "prometheus", err
	}
	return nil, nil, "", errors.New("the metric has no source")
}

// judgeCanary judges a canary on the samples since from, records the
// judgement and, in the same transaction, what it means for the canary
// (pipeline.DecideCanary): hold, next step, promotion, or abort.
func (e *Engine) judgeCanary(ctx context.Context, c pipeline.Canary, cc *config.Canary, from time.Time) (time.Time, error) {
	to := e.clock.Now()
	if from.IsZero() || from.Before(c.StartedAt) {
		from = c.StartedAt
	}
	detail := JudgementDetail{From: from, To: to}
	metrics := make([]judge.Metric, 0, len(cc.Analysis.Metrics))
	baseline, canary := map[string][]float64{}, map[string][]float64{}
	sources := map[string]string{}
	errs := map[string]string{}
	for _, m := range cc.Analysis.Metrics {
		metrics = append(metrics, m.Metric)
		b, cn, src, err := e.gather(ctx, c, m, from, to)
		sources[m.Name] = src
		if err != nil {
			errs[m.Name] = e.forViewers("canary metric unreadable", err.Error(), "service", c.Service, "environment", c.Environment, "metric", m.Name)
			continue
		}
		baseline[m.Name], canary[m.Name] = b, cn
	}
	verdict, score, reason := pipeline.VerdictPass, 100.0, "every check is healthy"
	if len(metrics) > 0 {
		j := judge.Judge(metrics, baseline, canary, judge.Thresholds{Pass: cc.Analysis.Pass, Marginal: cc.Analysis.Marginal})
		verdict, score, reason = pipeline.Verdict(j.Verdict), j.Score, j.Reason
		// Name what failed, with its figures, in the reason people read.
		var failed []string
		for _, r := range j.Metrics {
			if r.Outcome == judge.OutcomeFail {
				failed = append(failed, r.Name+": "+r.Reason)
			}
		}
		if len(failed) > 0 {
			reason += "; " + strings.Join(failed, "; ")
		}
		for i, r := range j.Metrics {
			m := cc.Analysis.Metrics[i]
			md := MetricDetail{Name: r.Name, Outcome: r.Outcome, Critical: m.Critical, Baseline: floats(r.Baseline), Canary: floats(r.Canary),
				BaselineCount: len(r.Baseline), CanaryCount: len(r.Canary), BaselineMedian: Float(r.BaselineMedian),
				CanaryMedian: Float(r.CanaryMedian), PValue: Float(r.PValue), EffectSize: Float(r.EffectSize), Reason: r.Reason,
				Source: sources[r.Name], Error: errs[r.Name]}
			if md.Error != "" {
				md.Reason = "no data: " + md.Error
			}
			detail.Metrics = append(detail.Metrics, md)
		}
	}
	for _, spec := range cc.Analysis.Checks {
		checker, err := e.newChecker(spec)
		var res check.Result
		if err != nil {
			res = check.Result{Outcome: check.Inconclusive, Reason: err.Error()}
		} else {
			res = checker.Check(ctx)
		}
		res.Reason = e.forViewers("canary check result", res.Reason, "service", c.Service, "environment", c.Environment, "check", spec.Name)
		cd := CheckDetail{Name: spec.Name, Outcome: string(res.Outcome), Value: Float(math.NaN()), Reason: res.Reason}
		if res.Value != nil {
			cd.Value = Float(*res.Value)
		}
		detail.Checks = append(detail.Checks, cd)
		switch res.Outcome {
		case check.Failing:
			verdict, reason = pipeline.VerdictFail, "check "+res.Reason
		case check.Inconclusive:
			if verdict == pipeline.VerdictPass || verdict == pipeline.VerdictMarginal {
				verdict, reason = pipeline.VerdictInconclusive, "check "+res.Reason
			}
		}
	}
	detail.Verdict, detail.Score, detail.Reason = verdict, score, reason
	blob, err := json.Marshal(detail)
	if err != nil {
		return to, err
	}
	var apply *pipeline.Canary
	err = e.mutate(ctx, c.Service, func(u *unit) error {
		tx, now := u.tx, u.now
		cur, err := tx.CanaryGet(ctx, c.ID)
		if err != nil {
			return err
		}
		if cur.State != pipeline.CanaryRunning {
			u.noDecision()
			return nil // promoted or aborted meanwhile: this judgement is moot
		}
		prev, err := tx.JudgementList(ctx, &store.JudgementListParams{CanaryID: c.ID, Limit: 1})
		if err != nil {
			return err
		}
		jm, err := tx.JudgementInsert(ctx, &pipeline.Judgement{CanaryID: c.ID, Service: c.Service, Environment: c.Environment,
			Version: c.Version, Step: cur.Step, Weight: cur.Weight, At: now, From: from, To: to, Verdict: verdict, Score: score,
			Reason: reason, Detail: blob})
		if err != nil {
			return err
		}
		e.metrics.judged(c.Service, c.Environment, string(verdict))
		if len(prev) == 0 || prev[0].Verdict != verdict {
			if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryJudged, Service: c.Service,
				Environment: c.Environment, Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID,
				Reason: fmt.Sprintf("%s (score %.0f): %s", verdict, score, reason),
				Data:   map[string]any{"judgement_id": jm.ID, "verdict": verdict, "score": score}}); err != nil {
				return err
			}
		}
		held, err := heldLocks(ctx, tx, c.Service, c.Environment, now)
		if err != nil {
			return err
		}
		d := pipeline.DecideCanary(CanarySteps(cc), cur, &jm, held, now)
		switch d.Action {
		case pipeline.CanaryAbort:
			ended, err := e.abortCanaryTx(ctx, tx, cur, pipeline.ActorSystem, d.Reason, true, &jm, now)
			if err != nil {
				return err
			}
			apply = &ended
		case pipeline.CanaryAdvance:
			why := d.Reason
			up, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: cur.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
				State: pipeline.CanaryRunning, Step: d.Step, SetStep: true, Weight: d.Weight, SetWeight: true, StepStartedAt: now, Reason: &why})
			if err != nil {
				return err
			}
			if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryAdvanced, Service: c.Service,
				Environment: c.Environment, Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: why,
				Data: map[string]any{"weight": d.Weight, "step": d.Step + 1, "judgement_id": jm.ID, "score": score}}); err != nil {
				return err
			}
			apply = &up
		case pipeline.CanaryPromote:
			up, err := e.startPromotionTx(ctx, tx, cur, pipeline.ActorSystem, d.Reason, now)
			if err != nil {
				return err
			}
			apply = &up
			u.noDecision() // the promotion is the deployment's next attempt, decided already
		default:
			u.noDecision() // the canary holds
		}
		if apply != nil && apply.State != pipeline.CanaryPromoting {
			// The promotion's worker moves traffic itself, in order.
			u.afterCommit(func(ctx context.Context) { _ = e.applyWeight(ctx, *apply) })
		}
		return nil
	})
	if err != nil {
		return to, fmt.Errorf("error recording the judgement of canary %d: %w", c.ID, err)
	}
	return to, nil
}

// abortCanaryTx aborts a running canary in tx: weight 0, its deployment
// failed, its release rejected and, when lock is set, the environment
// locked with the reason; the event carries the judgement's scores.
func (e *Engine) abortCanaryTx(ctx context.Context, tx store.Tx, c pipeline.Canary, actor, reason string, lock bool,
	j *pipeline.Judgement, now time.Time) (pipeline.Canary, error) {
	ended, err := e.endCanaryFrom(ctx, tx, c, []pipeline.CanaryState{pipeline.CanaryRunning}, pipeline.CanaryAborted, reason, now)
	if err != nil {
		return ended, err
	}
	dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
	if err != nil {
		return ended, err
	}
	msg := "canary aborted: " + reason
	if dep.State == pipeline.DeploymentRunning {
		if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
			FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentFailed, FinishedAt: now,
			Error: &msg}); err != nil {
			return ended, err
		}
	}
	if err := tx.ReleaseReject(ctx, c.ReleaseID); err != nil {
		return ended, err
	}
	data := map[string]any{"canary_id": c.ID, "weight": 0, "step": c.Step + 1}
	if j != nil {
		data["judgement_id"], data["verdict"], data["score"] = j.ID, j.Verdict, j.Score
		var jd JudgementDetail
		if json.Unmarshal(j.Detail, &jd) == nil {
			scores := map[string]any{}
			for _, m := range jd.Metrics {
				scores[m.Name] = map[string]any{"outcome": m.Outcome, "p_value": m.PValue, "baseline_median": m.BaselineMedian,
					"canary_median": m.CanaryMedian}
			}
			data["metrics"] = scores
		}
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryAborted, Service: c.Service, Environment: c.Environment,
		Version: c.Version, Actor: actor, DeploymentID: c.DeploymentID, Reason: reason, Data: data}); err != nil {
		return ended, err
	}
	e.log.Warn("canary aborted", "service", c.Service, "environment", c.Environment, "version", c.Version, "actor", actor, "reason", reason)
	if lock {
		if err := e.lockUnlessHeld(ctx, tx, c.Service, c.Environment, pipeline.ActorSystem,
			fmt.Sprintf("canary %s failed: %s", c.Version, reason), map[string]any{"canary_id": c.ID}, now); err != nil {
			return ended, err
		}
	}
	return ended, nil
}

// startPromotionTx moves a running canary to its promotion: the
// deployment's next attempt replaces stable (a River job, in tx).
func (e *Engine) startPromotionTx(ctx context.Context, tx store.Tx, c pipeline.Canary, actor, reason string, now time.Time) (pipeline.Canary, error) {
	up, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
		State: pipeline.CanaryPromoting, Weight: 100, SetWeight: true, Reason: &reason})
	if err != nil {
		return up, err
	}
	dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
	if err != nil {
		return up, err
	}
	if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
		FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentPending,
		NewAttempt: dep.Attempt + 1}); err != nil {
		return up, err
	}
	if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryPromoting, Service: c.Service, Environment: c.Environment,
		Version: c.Version, ToVersion: c.Version, Actor: actor, DeploymentID: c.DeploymentID, Reason: reason,
		Data: map[string]any{"canary_id": c.ID}}); err != nil {
		return up, err
	}
	return up, tx.JobInsert(ctx, river.InsertManyParams{Args: DeployArgs{DeploymentID: dep.ID, Attempt: dep.Attempt + 1}})
}

// dropCanary ends a running canary whose environment lost its canary
// block in a reload: weight 0, its deployment failed (the release was not
// promoted; a person can deploy it with rollback --to or emergency). The
// release is not rejected: nothing was judged against it.
func (e *Engine) dropCanary(ctx context.Context, c pipeline.Canary) {
	err := e.mutate(ctx, c.Service, func(u *unit) error {
		tx, now := u.tx, u.now
		reason := "the configuration no longer has a canary for " + c.Environment + "; " + c.Version + " was not promoted"
		var err error
		ended, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
			State: pipeline.CanaryCancelled, Weight: 0, SetWeight: true, FinishedAt: now, Reason: &reason})
		if err != nil {
			return err
		}
		dep, err := tx.DeploymentGet(ctx, c.DeploymentID)
		if err != nil {
			return err
		}
		if dep.State == pipeline.DeploymentRunning {
			if _, err := tx.DeploymentUpdate(ctx, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
				FromStates: []pipeline.DeploymentState{pipeline.DeploymentRunning}, State: pipeline.DeploymentFailed, FinishedAt: now,
				Error: &reason}); err != nil {
				return err
			}
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventCanaryAborted, Service: c.Service, Environment: c.Environment,
			Version: c.Version, Actor: pipeline.ActorSystem, DeploymentID: c.DeploymentID, Reason: reason,
			Data: map[string]any{"canary_id": c.ID, "weight": 0}}); err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) {
			e.log.Warn("canary ended: its configuration is gone", "service", c.Service, "environment", c.Environment, "version", c.Version)
			_ = e.applyWeight(ctx, ended)
		})
		return nil
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("error ending a canary removed from the configuration", "service", c.Service, "environment", c.Environment, "error", err)
	}
}

// heldLocks are the locks holding service/env at now, oldest first.
func heldLocks(ctx context.Context, r store.Reader, service, env string, now time.Time) ([]pipeline.Lock, error) {
	locks, err := r.LockList(ctx, &store.LockListParams{Service: service, Environment: env})
	if err != nil {
		return nil, err
	}
	held := locks[:0]
	for _, l := range locks {
		if l.ActiveAt(now) {
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

// CanaryPromote finishes the running canary of service/env now: its
// remaining steps are skipped and stable is replaced. A held lock refuses
// it (the lock is a brake; unlock first or abort).
func (e *Engine) CanaryPromote(ctx context.Context, actor, service, env, reason string) (pipeline.Canary, error) {
	if err := requireReason("promoting a canary", reason); err != nil {
		return pipeline.Canary{}, err
	}
	if _, _, err := e.environment(service, env); err != nil {
		return pipeline.Canary{}, err
	}
	var up pipeline.Canary
	err := e.mutate(ctx, service, func(u *unit) error {
		u.noDecision() // the promotion is the deployment's next attempt
		tx, now := u.tx, u.now
		c, err := runningCanary(ctx, tx, service, env)
		if err != nil {
			return err
		}
		held, err := heldLocks(ctx, tx, service, env, now)
		if err != nil {
			return err
		}
		if len(held) > 0 {
			l := held[0]
			return fmt.Errorf("%w: %s/%s is locked by %s: %s; unlock it first (bakery unlock %s %s --reason ...) or abort the canary",
				ErrLocked, service, env, l.Actor, l.Reason, service, env)
		}
		up, err = e.startPromotionTx(ctx, tx, c, actor, fmt.Sprintf("promoted by %s at %d%% (step %d): %s", actor, c.Weight, c.Step+1, reason), now)
		return err
	})
	if err != nil {
		return up, err
	}
	return up, nil
}

// CanaryAbort stops the running canary of service/env now: weight 0, its
// deployment failed and its release rejected.
func (e *Engine) CanaryAbort(ctx context.Context, actor, service, env, reason string) (pipeline.Canary, error) {
	if err := requireReason("aborting a canary", reason); err != nil {
		return pipeline.Canary{}, err
	}
	svc, _, err := e.environment(service, env)
	if err != nil {
		return pipeline.Canary{}, err
	}
	var ended pipeline.Canary
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		c, err := runningCanary(ctx, tx, service, env)
		if err != nil {
			return err
		}
		ended, err = e.abortCanaryTx(ctx, tx, c, actor, fmt.Sprintf("aborted by %s: %s", actor, reason), false, nil, now)
		if err != nil {
			return err
		}
		u.afterCommit(func(ctx context.Context) { _ = e.applyWeight(ctx, ended) })
		return nil
	})
	if err != nil {
		return ended, err
	}
	return ended, nil
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
			held, err := heldLocks(ctx, e.store, svc.Name, env.Name, now)
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
