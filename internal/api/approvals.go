package api

import (
	"net/http"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// ApprovalView is one person's approval of a release into an environment.
type ApprovalView struct {
	Environment string    `json:"environment"`
	Version     string    `json:"version"`
	Actor       string    `json:"actor"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

func (s *Server) approve(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	service, env, version := r.PathValue("service"), r.PathValue("env"), r.PathValue("version")
	a, err := s.e.Approve(r.Context(), tok.Name, service, env, version, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"approval": ApprovalView{Environment: a.Environment, Version: version,
		Actor: a.Actor, Reason: a.Reason, At: a.CreatedAt.UTC()}})
	return nil
}

func (s *Server) listApprovals(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	version := r.PathValue("version")
	as, err := s.e.Approvals(r.Context(), r.PathValue("service"), version)
	if err != nil {
		return err
	}
	out := []ApprovalView{}
	for _, a := range as {
		out = append(out, ApprovalView{Environment: a.Environment, Version: version, Actor: a.Actor, Reason: a.Reason, At: a.CreatedAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"approvals": out})
	return nil
}
