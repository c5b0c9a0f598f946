package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// BisectRequest starts a bisect (POST /api/v1/services/{service}/bisects).
type BisectRequest struct {
	Good   string `json:"good"`
	Bad    string `json:"bad"`
	Check  string `json:"check"`
	Repeat int    `json:"repeat"`
	// Restore is "before" (default: what staging ran when the bisect
	// started) or "good" (the newest release found healthy).
	Restore string `json:"restore"`
	Reason  string `json:"reason"`
}

// BisectProbeView is one probe of a bisect.
type BisectProbeView struct {
	Version  string    `json:"version"`
	Outcome  string    `json:"outcome"`
	Runs     []string  `json:"runs"`
	Evidence string    `json:"evidence"`
	Deployed bool      `json:"deployed"`
	At       time.Time `json:"at"`
}

// BisectView is a bisect: where it stands, or how it ended.
type BisectView struct {
	ID          int64             `json:"id"`
	Service     string            `json:"service"`
	Environment string            `json:"environment"`
	Good        string            `json:"good"`
	Bad         string            `json:"bad"`
	Check       string            `json:"check"`
	Repeat      int               `json:"repeat"`
	Restore     string            `json:"restore"`
	ReturnTo    string            `json:"return_to"`
	State       string            `json:"state"`
	Probe       string            `json:"probe"`
	Culprit     string            `json:"culprit"`
	Tried       []BisectProbeView `json:"tried"`
	Deploys     int               `json:"deploys"`
	StartedBy   string            `json:"started_by"`
	Reason      string            `json:"reason"`
	Result      string            `json:"result"`
	CreatedAt   time.Time         `json:"created_at"`
	EndedAt     *time.Time        `json:"ended_at"`
}

// FormatBisect is a bisect as the API shows it.
func FormatBisect(b pipeline.Bisect) BisectView {
	v := BisectView{ID: b.ID, Service: b.Service, Environment: b.Environment, Good: b.Good, Bad: b.Bad, Check: b.Check,
		Repeat: b.Repeat, Restore: "before", ReturnTo: b.ReturnTo, State: string(b.State), Probe: b.Probe, Culprit: b.Culprit,
		Tried: []BisectProbeView{}, Deploys: b.Deploys, StartedBy: b.StartedBy, Reason: b.Reason, Result: b.Result,
		CreatedAt: b.CreatedAt.UTC(), EndedAt: timePtr(b.EndedAt)}
	if b.RestoreGood {
		v.Restore = "good"
	}
	for _, p := range b.Tried {
		runs := p.Runs
		if runs == nil {
			runs = []string{}
		}
		v.Tried = append(v.Tried, BisectProbeView{Version: p.Version, Outcome: p.Outcome, Runs: runs, Evidence: p.Evidence,
			Deployed: p.Deployed, At: p.At.UTC()})
	}
	return v
}

func (s *Server) startBisect(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req BisectRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	for field, v := range map[string]string{"good": req.Good, "bad": req.Bad, "check": req.Check} {
		if v == "" {
			return &Error{Status: http.StatusBadRequest, Message: "invalid input",
				Detail: field + " is missing: a bisect needs good, bad and check (--good, --bad, --check in the CLI)"}
		}
	}
	restoreGood := false
	switch req.Restore {
	case "", "before":
	case "good":
		restoreGood = true
	default:
		return &Error{Status: http.StatusBadRequest, Message: "invalid input",
			Detail: "restore is " + strconv.Quote(req.Restore) + `: give "before" (what staging ran) or "good" (the newest good release)`}
	}
	b, err := s.e.StartBisect(r.Context(), tok.Name, engine.BisectParams{Service: r.PathValue("service"), Good: req.Good,
		Bad: req.Bad, Check: req.Check, Repeat: req.Repeat, RestoreGood: restoreGood, Reason: req.Reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"bisect": FormatBisect(b)})
	return nil
}

func bisectID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, &Error{Status: http.StatusBadRequest, Message: "invalid input",
			Detail: "bisect id " + strconv.Quote(r.PathValue("id")) + " is not a positive number: use the id POST …/bisects returned"}
	}
	return id, nil
}

func (s *Server) getBisect(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	id, err := bisectID(r)
	if err != nil {
		return err
	}
	b, err := s.e.Bisect(r.Context(), r.PathValue("service"), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"bisect": FormatBisect(b)})
	return nil
}

func (s *Server) listBisects(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	bs, err := s.e.Bisects(r.Context(), r.PathValue("service"), 20)
	if err != nil {
		return err
	}
	out := []BisectView{}
	for _, b := range bs {
		out = append(out, FormatBisect(b))
	}
	writeJSON(w, http.StatusOK, map[string]any{"bisects": out})
	return nil
}

func (s *Server) cancelBisect(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	id, err := bisectID(r)
	if err != nil {
		return err
	}
	var req ReasonRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	b, err := s.e.CancelBisect(r.Context(), tok.Name, r.PathValue("service"), id, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"bisect": FormatBisect(b)})
	return nil
}
