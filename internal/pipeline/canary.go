package pipeline

import (
	"fmt"
	"time"
)

// CanaryState is where a canary rollout stands. A canary belongs to one
// deployment, which stays running for the whole rollout.
type CanaryState string

const (
	// CanaryRunning: the release runs beside the stable version with a
	// share of traffic; it is judged every analysis interval and moves
	// from step to step.
	CanaryRunning CanaryState = "running"
	// CanaryPromoting: every step passed (or someone promoted it): the
	// environment's deploy command is replacing the stable version.
	CanaryPromoting CanaryState = "promoting"
	// CanaryPromoted: the release is the stable version; the canary's
	// weight is back to 0.
	CanaryPromoted CanaryState = "promoted"
	// CanaryAborted: a failed judgement or check, or a person, stopped the
	// canary: its weight is 0 and the release is rejected.
	CanaryAborted CanaryState = "aborted"
	// CanaryCancelled: the deployment was cancelled (a rollback or an
	// emergency deploy took the environment over); weight 0.
	CanaryCancelled CanaryState = "cancelled"
)

// IsTerminal reports whether the canary is over.
func (s CanaryState) IsTerminal() bool {
	return s == CanaryPromoted || s == CanaryAborted || s == CanaryCancelled
}

// CanaryStep is one step of a rollout: a traffic weight held for a time.
type CanaryStep struct {
	Weight int // percent of traffic to the canary, 1-100
	For    time.Duration
}

// Canary is one canary rollout as stored.
type Canary struct {
	ID           int64
	DeploymentID int64
	Service      string
	Environment  string
	ReleaseID    int64
	Version      string
	State        CanaryState
	// Step is the index of the current step in the configured steps.
	Step int
	// Weight is the share of traffic the canary should get now (0-100).
	Weight int
	// AppliedWeight is the weight last applied by the set_weight command
	// (-1: never). The built-in router reads Weight directly.
	AppliedWeight int
	StartedAt     time.Time
	StepStartedAt time.Time
	FinishedAt    time.Time
	// CleanedAt is when the canary's cleanup command succeeded (zero: not
	// yet, or there is none).
	CleanedAt time.Time
	// Reason says why the canary is in its state (the judgement that
	// aborted it, the person who promoted it).
	Reason string
}

// Verdict is the outcome of one judgement of a canary.
type Verdict string

// Judgement verdicts (the same words as the judge's).
const (
	VerdictPass         Verdict = "pass"
	VerdictMarginal     Verdict = "marginal"
	VerdictFail         Verdict = "fail"
	VerdictInconclusive Verdict = "inconclusive"
)

// Judgement is one stored judgement of a canary: its verdict and score and
// the details that justify them (metrics, samples, p-values, checks).
type Judgement struct {
	ID          int64
	CanaryID    int64
	Service     string
	Environment string
	Version     string
	Step        int
	Weight      int
	At          time.Time
	// From and To bound the period whose samples were judged.
	From, To time.Time
	Verdict  Verdict
	Score    float64
	Reason   string
	// Detail is the judgement in full, as JSON (see engine.JudgementDetail).
	Detail []byte
}

// CanaryAction is what the canary decision asks for.
type CanaryAction string

const (
	// CanaryHold: stay at the current step.
	CanaryHold CanaryAction = "hold"
	// CanaryAdvance: move to the next step and its weight.
	CanaryAdvance CanaryAction = "advance"
	// CanaryPromote: the last step passed; replace the stable version.
	CanaryPromote CanaryAction = "promote"
	// CanaryAbort: a judgement failed; weight 0, reject the release, lock.
	CanaryAbort CanaryAction = "abort"
)

// CanaryDecision is what should happen to a running canary now.
type CanaryDecision struct {
	Action CanaryAction
	// Step and Weight are the step and weight after the action.
	Step, Weight int
	// Reason is a sentence for people (and the event log).
	Reason string
	// StepEnds is when the current step's time is up (after the action).
	StepEnds time.Time
}

// DecideCanary says what happens to a running canary at time now, given the
// configured steps, the latest judgement (nil if none yet) and the locks
// that hold the environment now. It is a pure function.
//
// The rules, first that applies:
//   - a failed judgement made during the current step aborts the canary,
//     whatever else holds it (brakes are always welcome);
//   - a held lock keeps the canary at its step (SPEC rule 3);
//   - before the step's time is up, the canary stays;
//   - once it is up, a judgement made at or after that moment must pass
//     (inconclusive or marginal holds it: missing data is not good news,
//     rule 9); then the canary advances, or is promoted after the last
//     step.
func DecideCanary(steps []CanaryStep, c Canary, latest *Judgement, locks []Lock, now time.Time) CanaryDecision {
	d := CanaryDecision{Action: CanaryHold, Step: c.Step, Weight: c.Weight}
	if c.State != CanaryRunning {
		d.Reason = fmt.Sprintf("the canary is %s", c.State)
		return d
	}
	if len(steps) == 0 {
		// The configuration lost its steps: nothing left to wait for.
		d.Action, d.Reason = CanaryPromote, "the canary has no steps left in the configuration"
		return d
	}
	step := c.Step
	if step >= len(steps) {
		step = len(steps) - 1
	}
	ends := c.StepStartedAt.Add(steps[step].For)
	d.StepEnds = ends
	where := fmt.Sprintf("step %d of %d at %d%%", step+1, len(steps), c.Weight)
	if latest != nil && latest.Verdict == VerdictFail && !latest.At.Before(c.StepStartedAt) {
		d.Action, d.Weight = CanaryAbort, 0
		d.Reason = fmt.Sprintf("judgement failed at %s (score %.0f): %s", where, latest.Score, latest.Reason)
		return d
	}
	if len(locks) > 0 {
		l := locks[0]
		d.Reason = fmt.Sprintf("held at %s: locked by %s: %s", where, l.Actor, l.Reason)
		return d
	}
	if now.Before(ends) {
		d.Reason = fmt.Sprintf("at %s until %s", where, ends.UTC().Format(time.RFC3339))
		return d
	}
	if latest == nil || latest.At.Before(ends) {
		d.Reason = fmt.Sprintf("%s is over; waiting for its final judgement", where)
		return d
	}
	if latest.Verdict != VerdictPass {
		d.Reason = fmt.Sprintf("held at %s: the last judgement is %s: %s", where, latest.Verdict, latest.Reason)
		return d
	}
	if step+1 >= len(steps) {
		d.Action, d.Weight = CanaryPromote, 100
		d.Reason = fmt.Sprintf("every step passed (last: %s, score %.0f)", where, latest.Score)
		d.StepEnds = time.Time{}
		return d
	}
	next := steps[step+1]
	d.Action, d.Step, d.Weight = CanaryAdvance, step+1, next.Weight
	d.StepEnds = now.Add(next.For)
	d.Reason = fmt.Sprintf("%s passed (score %.0f); step %d of %d at %d%% for %s", where, latest.Score,
		step+2, len(steps), next.Weight, next.For)
	return d
}

// JudgementDue reports whether a running canary should be judged at now: an
// interval has passed since the last judgement (or since the step started,
// before any), or the step's time is up and it has not been judged since.
func JudgementDue(steps []CanaryStep, c Canary, lastJudged time.Time, interval time.Duration, now time.Time) (bool, time.Time) {
	if c.State != CanaryRunning {
		return false, time.Time{}
	}
	base := lastJudged
	if base.Before(c.StepStartedAt) {
		base = c.StepStartedAt
	}
	next := base.Add(interval)
	if len(steps) > 0 {
		step := min(c.Step, len(steps)-1)
		if ends := c.StepStartedAt.Add(steps[step].For); lastJudged.Before(ends) && ends.Before(next) {
			next = ends
		}
	}
	return !now.Before(next), next
}
