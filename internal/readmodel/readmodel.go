// Package readmodel is what a person sees of a service: per environment,
// what runs there and since when, its state, what its next promotion waits
// for, and the queue of releases between it and the environment below, each
// with its state and bake exactly as pipeline.Decide sees them.
//
// It is built from the same pipeline.State the engine decides on, by the
// same functions (pipeline.Decide, pipeline.Queue): it holds no rule of its
// own. The API, the dashboard and the CLI only format it, so they cannot
// disagree with the engine or with each other.
package readmodel

import (
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// EnvState is one word for an environment's state, for people and scripts.
type EnvState string

const (
	// StateIdle: nothing is deploying and nothing waits for time to pass.
	StateIdle EnvState = "idle"
	// StateDeploying: a deployment into the environment is in progress.
	StateDeploying EnvState = "deploying"
	// StateCanary: the deployment in progress is a canary rollout.
	StateCanary EnvState = "canary"
	// StateWaiting: a release waits for its bake, its checks or the window.
	StateWaiting EnvState = "waiting"
	// StateLocked: the environment is locked and nothing is deploying.
	StateLocked EnvState = "locked"
)

// Service is one service now.
type Service struct {
	Name         string
	Environments []Environment
	// At is the time the model was built for.
	At time.Time
	// Decision is the decision it was built from.
	Decision pipeline.Decision
}

// Environment is one environment of a service now.
type Environment struct {
	// EnvStatus is the decision's view: current release and since when,
	// the active deployment and its canary, the wait, the locks and the
	// candidates (Queue) Decide chooses from.
	pipeline.EnvStatus
	Index int
	// Lower is the environment below; "" for the first.
	Lower string
	// Bake is how long a release must run in Lower first; zero for the
	// first environment.
	Bake time.Duration
	// CanarySteps is how many steps the environment's canary has (0: no
	// canary).
	CanarySteps int
	State       EnvState
	// Releases are the releases between Lower and this environment, newest
	// first, each with its state (pipeline.Queue); nil for the first.
	Releases []pipeline.QueueEntry
	// expected: when each waiting release is expected in the last
	// environment if nothing holds it (ExpectedAt, expected.go).
	expected map[int64]time.Time
	// Exposure is the environment's exposure gate's progress for the
	// release running in Lower (nil without a gate).
	Exposure *pipeline.ExposureProgress
}

// Waiting counts the releases that wait to enter: baking, baked or with
// their bake skipped (never a failed bake, a superseded or a rejected one).
func (e Environment) Waiting() int {
	n := 0
	for _, r := range e.Releases {
		if r.State.Waiting() {
			n++
		}
	}
	return n
}

// OldestWaiting is the creation time of the oldest release waiting to
// enter; zero if none waits.
func (e Environment) OldestWaiting() time.Time {
	var t time.Time
	for _, r := range e.Releases {
		if r.State.Waiting() && (t.IsZero() || r.Release.CreatedAt.Before(t)) {
			t = r.Release.CreatedAt
		}
	}
	return t
}

// Build makes the read model of st at now. It is a pure function.
func Build(st pipeline.State, now time.Time) Service {
	d := pipeline.Decide(st, now)
	s := Service{Name: st.Service, At: now, Decision: d}
	for i, es := range d.Environments {
		e := Environment{EnvStatus: es, Index: i, State: StateIdle}
		if i < len(st.Environments) {
			e.CanarySteps = len(st.Environments[i].CanarySteps)
			if i > 0 {
				e.Lower = st.Environments[i-1].Name
				e.Bake = st.Environments[i].Bake
				e.Releases = pipeline.Queue(st, i, now)
				e.expected = expected(st, i, e.Releases, now)
				e.Exposure = pipeline.ExposureOf(st, i)
			}
		}
		switch {
		case es.Active != nil && es.Canary != nil:
			e.State = StateCanary
		case es.Active != nil:
			e.State = StateDeploying
		case len(es.Locks) > 0:
			e.State = StateLocked
		case es.Wait.Kind == pipeline.WaitBake || es.Wait.Kind == pipeline.WaitWindow || es.Wait.Kind == pipeline.WaitChecks,
			es.Wait.Kind == pipeline.WaitBisect, es.Wait.Kind == pipeline.WaitApproval, es.Wait.Kind == pipeline.WaitExposure:
			e.State = StateWaiting
		}
		s.Environments = append(s.Environments, e)
	}
	return s
}
