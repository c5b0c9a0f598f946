package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestDecideCanary(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	steps := []CanaryStep{{Weight: 10, For: time.Minute}, {Weight: 50, For: 2 * time.Minute}}
	running := func(step, weight int) Canary {
		return Canary{ID: 1, State: CanaryRunning, Step: step, Weight: weight, StartedAt: t0, StepStartedAt: t0}
	}
	judged := func(at time.Time, v Verdict) *Judgement {
		return &Judgement{At: at, Verdict: v, Score: map[Verdict]float64{VerdictPass: 100, VerdictFail: 20}[v], Reason: "because"}
	}
	lock := []Lock{{Service: "web", Environment: "production", Actor: "ann", Reason: "incident", CreatedAt: t0}}
	cases := []struct {
		name   string
		c      Canary
		j      *Judgement
		locks  []Lock
		now    time.Time
		action CanaryAction
		step   int
		weight int
		reason string
	}{
		{"step time not up", running(0, 10), judged(t0.Add(30*time.Second), VerdictPass), nil, t0.Add(59 * time.Second), CanaryHold, 0, 10, "until"},
		{"time up, no judgement since", running(0, 10), judged(t0.Add(30*time.Second), VerdictPass), nil, t0.Add(time.Minute), CanaryHold, 0, 10, "final judgement"},
		{"time up, passed at the deadline", running(0, 10), judged(t0.Add(time.Minute), VerdictPass), nil, t0.Add(time.Minute), CanaryAdvance, 1, 50, "step 2 of 2 at 50%"},
		{"time up, inconclusive holds", running(0, 10), judged(t0.Add(time.Minute), VerdictInconclusive), nil, t0.Add(2 * time.Minute), CanaryHold, 0, 10, "inconclusive"},
		{"time up, marginal holds", running(0, 10), judged(t0.Add(time.Minute), VerdictMarginal), nil, t0.Add(2 * time.Minute), CanaryHold, 0, 10, "marginal"},
		{"fail aborts before the time is up", running(0, 10), judged(t0.Add(10*time.Second), VerdictFail), nil, t0.Add(10 * time.Second), CanaryAbort, 0, 0, "judgement failed"},
		{"fail aborts even when locked", running(0, 10), judged(t0.Add(10*time.Second), VerdictFail), lock, t0.Add(10 * time.Second), CanaryAbort, 0, 0, "judgement failed"},
		{"fail from an earlier step is history", Canary{State: CanaryRunning, Step: 1, Weight: 50, StepStartedAt: t0.Add(time.Minute)}, judged(t0.Add(30*time.Second), VerdictFail), nil, t0.Add(90 * time.Second), CanaryHold, 1, 50, "until"},
		{"lock holds a passing step", running(0, 10), judged(t0.Add(time.Minute), VerdictPass), lock, t0.Add(time.Minute), CanaryHold, 0, 10, "locked by ann: incident"},
		{"last step passes: promote", Canary{State: CanaryRunning, Step: 1, Weight: 50, StepStartedAt: t0}, judged(t0.Add(2*time.Minute), VerdictPass), nil, t0.Add(2 * time.Minute), CanaryPromote, 1, 100, "every step passed"},
		{"step beyond the config (steps removed): treated as last", Canary{State: CanaryRunning, Step: 5, Weight: 80, StepStartedAt: t0}, judged(t0.Add(2*time.Minute), VerdictPass), nil, t0.Add(2 * time.Minute), CanaryPromote, 5, 100, "every step passed"},
		{"not running: nothing", Canary{State: CanaryPromoting, Step: 1, Weight: 100}, judged(t0, VerdictFail), nil, t0, CanaryHold, 1, 100, "promoting"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideCanary(steps, tc.c, tc.j, tc.locks, tc.now)
			if d.Action != tc.action || d.Step != tc.step || d.Weight != tc.weight || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got %s step %d weight %d (%q); want %s step %d weight %d (reason containing %q)",
					d.Action, d.Step, d.Weight, d.Reason, tc.action, tc.step, tc.weight, tc.reason)
			}
		})
	}
}

func TestJudgementDue(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	steps := []CanaryStep{{Weight: 10, For: 25 * time.Second}}
	c := Canary{State: CanaryRunning, StepStartedAt: t0}
	iv := 10 * time.Second
	cases := []struct {
		name       string
		lastJudged time.Time
		now        time.Time
		due        bool
		next       time.Time
	}{
		{"first judgement one interval after the step started", time.Time{}, t0.Add(9 * time.Second), false, t0.Add(10 * time.Second)},
		{"due at the interval", time.Time{}, t0.Add(10 * time.Second), true, t0.Add(10 * time.Second)},
		{"next interval", t0.Add(10 * time.Second), t0.Add(15 * time.Second), false, t0.Add(20 * time.Second)},
		{"the step's end comes before the next interval", t0.Add(20 * time.Second), t0.Add(25 * time.Second), true, t0.Add(25 * time.Second)},
		{"judged at the end: back to intervals", t0.Add(25 * time.Second), t0.Add(30 * time.Second), false, t0.Add(35 * time.Second)},
	}
	for _, tc := range cases {
		due, next := JudgementDue(steps, c, tc.lastJudged, iv, tc.now)
		if due != tc.due || !next.Equal(tc.next) {
			t.Errorf("%s: due %v next %s; want %v %s", tc.name, due, next.Sub(t0), tc.due, tc.next.Sub(t0))
		}
	}
	if due, _ := JudgementDue(steps, Canary{State: CanaryAborted}, time.Time{}, iv, t0.Add(time.Hour)); due {
		t.Error("an aborted canary is never judged")
	}
}

func TestDecideShowsTheCanary(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	st := State{Service: "web",
		Environments: []EnvSpec{{Name: "staging"}, {Name: "production", CanarySteps: []CanaryStep{{Weight: 5, For: time.Minute}, {Weight: 50, For: time.Minute}}}},
		Releases:     []Release{{ID: 1, Version: "v1"}, {ID: 2, Version: "v2"}},
		Deployments: []Deployment{
			{ID: 1, Environment: "staging", ReleaseID: 1, State: DeploymentSucceeded, FinishedAt: t0},
			{ID: 2, Environment: "production", ReleaseID: 1, State: DeploymentSucceeded, FinishedAt: t0},
			{ID: 3, Environment: "staging", ReleaseID: 2, State: DeploymentSucceeded, FinishedAt: t0},
			{ID: 4, Environment: "production", ReleaseID: 2, Version: "v2", State: DeploymentRunning},
		},
		Canaries: []Canary{{ID: 9, DeploymentID: 4, Version: "v2", State: CanaryRunning, Step: 1, Weight: 50}},
	}
	d := Decide(st, t0.Add(time.Hour))
	prod := d.Environments[1]
	if prod.Canary == nil || prod.Canary.ID != 9 {
		t.Fatalf("production's canary = %+v; want canary 9", prod.Canary)
	}
	if want := "v2 is a canary at 50% (step 2 of 2)"; prod.Wait.Message != want {
		t.Errorf("wait message %q; want %q", prod.Wait.Message, want)
	}
	if len(d.Promotions) != 0 {
		t.Errorf("nothing is promoted while the canary runs: %+v", d.Promotions)
	}
	st.Locks = []Lock{{ID: 1, Service: "web", Environment: "production", Actor: "ann", Reason: "incident", CreatedAt: t0}}
	d = Decide(st, t0.Add(time.Hour))
	if len(d.Environments[1].Locks) != 1 {
		t.Errorf("a lock held during a canary is shown: locks %+v", d.Environments[1].Locks)
	}
	if want := "v2 is a canary at 50% (step 2 of 2), held at this step: locked by ann: incident"; d.Environments[1].Wait.Message != want {
		t.Errorf("wait message %q; want %q", d.Environments[1].Wait.Message, want)
	}
}
