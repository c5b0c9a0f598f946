package api

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// CanaryView is a canary rollout.
type CanaryView struct {
	ID            int64      `json:"id"`
	Version       string     `json:"version"`
	State         string     `json:"state"`
	Step          int        `json:"step"` // 1-based
	Steps         int        `json:"steps"`
	Weight        int        `json:"weight"`
	StartedAt     time.Time  `json:"started_at"`
	StepStartedAt time.Time  `json:"step_started_at"`
	StepEndsAt    *time.Time `json:"step_ends_at"`
	FinishedAt    *time.Time `json:"finished_at"`
	// CleanedAt is when its cleanup command succeeded (null: not yet, or none).
	CleanedAt    *time.Time `json:"cleaned_at"`
	Reason       string     `json:"reason"`
	DeploymentID int64      `json:"deployment_id"`
}

// JudgementView is one judgement of a canary; Detail has every metric
// with its samples, medians and p-value (null where there is no value).
type JudgementView struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	From    time.Time       `json:"from"`
	To      time.Time       `json:"to"`
	Step    int             `json:"step"` // 1-based
	Weight  int             `json:"weight"`
	Verdict string          `json:"verdict"`
	Score   float64         `json:"score"`
	Reason  string          `json:"reason"`
	Detail  json.RawMessage `json:"detail"`
}

func canaryView(c pipeline.Canary, steps []pipeline.CanaryStep) CanaryView {
	v := CanaryView{ID: c.ID, Version: c.Version, State: string(c.State), Step: c.Step + 1, Steps: len(steps), Weight: c.Weight,
		StartedAt: c.StartedAt.UTC(), StepStartedAt: c.StepStartedAt.UTC(), FinishedAt: timePtr(c.FinishedAt), CleanedAt: timePtr(c.CleanedAt), Reason: c.Reason,
		DeploymentID: c.DeploymentID}
	if c.State == pipeline.CanaryRunning && c.Step < len(steps) {
		v.StepEndsAt = timePtr(c.StepStartedAt.Add(steps[c.Step].For))
	}
	return v
}

func judgementView(j pipeline.Judgement) JudgementView {
	d := json.RawMessage(j.Detail)
	if len(d) == 0 {
		d = json.RawMessage("null")
	}
	return JudgementView{ID: j.ID, At: j.At.UTC(), From: j.From.UTC(), To: j.To.UTC(), Step: j.Step + 1, Weight: j.Weight,
		Verdict: string(j.Verdict), Score: j.Score, Reason: j.Reason, Detail: d}
}

func (s *Server) getCanary(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	service, env := r.PathValue("service"), r.PathValue("env")
	svc, err := s.e.Service(service)
	if err != nil {
		return err
	}
	cfgEnv, _, ok := svc.Environment(env)
	if !ok {
		return &Error{Status: http.StatusNotFound, Message: "unknown environment",
			Detail: "service " + service + " has no environment " + env}
	}
	if cfgEnv.Canary == nil {
		return &Error{Status: http.StatusNotFound, Message: "no canary",
			Detail: env + " of " + service + " has no canary block in the configuration: its promotions deploy plainly"}
	}
	limit := 20
	views, err := s.e.Canaries(r.Context(), service, limit)
	if err != nil {
		return err
	}
	out := map[string]any{"canary": nil, "judgements": []JudgementView{}, "holding": ""}
	if v, ok := views[env]; ok {
		out["canary"] = canaryView(v.Canary, v.Steps)
		js := make([]JudgementView, 0, len(v.Judgements))
		for _, j := range v.Judgements {
			js = append(js, judgementView(j))
		}
		out["judgements"] = js
		out["holding"] = v.Hold
	}
	if err := s.e.RouterError(service, env); err != nil {
		out["router_error"] = err.Error()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) canaryPromote(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	return s.canaryCommand(w, r, tok, s.e.CanaryPromote)
}

func (s *Server) canaryAbort(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	return s.canaryCommand(w, r, tok, s.e.CanaryAbort)
}

func (s *Server) canaryCommand(w http.ResponseWriter, r *http.Request, tok *store.Token,
	do func(ctx context.Context, actor, service, env, reason string) (pipeline.Canary, error)) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	service, env := r.PathValue("service"), r.PathValue("env")
	c, err := do(r.Context(), tok.Name, service, env, req.Reason)
	if err != nil {
		return err
	}
	var steps []pipeline.CanaryStep
	if svc, err := s.e.Service(service); err == nil {
		if e, _, ok := svc.Environment(env); ok {
			steps = engine.CanarySteps(e.Canary)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"canary": canaryView(c, steps)})
	return nil
}
