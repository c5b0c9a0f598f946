package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/analysis/judge"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// judgeService judges running canaries on the leader, each when its
// analysis interval or its step's time is up on the engine's clock
// (pipeline.JudgementDue); a canary is never judged twice at once.
type judgeService struct {
	duty
	e *Engine

	mu     sync.Mutex
	judged map[int64]time.Time // the end of each canary's last judgement
	busy   map[int64]bool
}

func newJudgeService(e *Engine) *judgeService {
	s := &judgeService{e: e, judged: map[int64]time.Time{}, busy: map[int64]bool{}}
	s.duty = newDuty("canary judge", e.IsLeader, s.runOnce)
	return s
}

// runOnce starts the judgement of every running canary that is due, and
// ends canaries whose environment lost its canary in a reload.
func (s *judgeService) runOnce(ctx context.Context) {
	e := s.e
	now := e.clock.Now()
	running, err := e.store.CanaryList(ctx, &store.CanaryListParams{
		States: []pipeline.CanaryState{pipeline.CanaryRunning}, Limit: 1000})
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("error listing canaries", "error", err)
		}
		return
	}
	if len(running) == 0 {
		s.rest() // a canary's start nudges the judge
	}
	// Forget what is kept about canaries that ended.
	alive := make(map[int64]bool, len(running))
	for _, c := range running {
		alive[c.ID] = true
	}
	s.mu.Lock()
	for id := range s.judged {
		if !alive[id] && !s.busy[id] {
			delete(s.judged, id)
		}
	}
	s.mu.Unlock()
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
		s.mu.Lock()
		last, known := s.judged[c.ID]
		busy := s.busy[c.ID]
		s.mu.Unlock()
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
			s.mu.Lock()
			s.judged[c.ID] = last
			s.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.busy[c.ID] = true
		s.mu.Unlock()
		c, from := c, last
		s.goWork(func() {
			to, err := e.judgeCanary(ctx, c, cc, from)
			s.mu.Lock()
			delete(s.busy, c.ID)
			if err == nil {
				s.judged[c.ID] = to
			}
			s.mu.Unlock()
			if err != nil && ctx.Err() == nil {
				e.log.Error("canary judgement failed to run", "service", c.Service, "environment", c.Environment, "error", err)
			}
		})
	}
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
		b, cn, src, err := e.gather(ctx, e.metricSource(c, m), from, to)
		sources[m.Name] = src
		if err != nil {
			errs[m.Name] = e.forViewers("canary metric unreadable", err.Error(), "service", c.Service, "environment", c.Environment, "metric", m.Name)
			continue
		}
		baseline[m.Name], canary[m.Name] = b, cn
	}
	var judged *pipeline.MetricsVerdict
	if len(metrics) > 0 {
		j := judge.Judge(metrics, baseline, canary, judge.Thresholds{Pass: cc.Analysis.Pass, Marginal: cc.Analysis.Marginal})
		reason := j.Reason
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
		judged = &pipeline.MetricsVerdict{Verdict: pipeline.Verdict(j.Verdict), Score: j.Score, Reason: reason}
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
	var outcomes []pipeline.CheckOutcome
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
		outcomes = append(outcomes, pipeline.CheckOutcome{Outcome: string(res.Outcome), Reason: res.Reason})
	}
	verdict, score, reason := pipeline.ComposeVerdict(judged, outcomes)
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
		held, err := e.heldLocks(ctx, tx, c.Service, c.Environment, now)
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
