package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/bakery-deploy/bakery/internal/store"
)

func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, err := s.e.Service(r.PathValue("service"))
	if err != nil {
		return err
	}
	env := r.URL.Query().Get("environment")
	if env != "" {
		if _, _, ok := svc.Environment(env); !ok {
			return &Error{Status: http.StatusNotFound, Message: "unknown environment",
				Detail: fmt.Sprintf("%s has no environment %q", svc.Name, env)}
		}
	}
	limit, err := intParam(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	deps, err := s.e.Records().DeploymentList(r.Context(), &store.DeploymentListParams{Service: svc.Name, Environment: env, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]DeploymentView, 0, len(deps))
	for _, d := range deps {
		out = append(out, deploymentView(d, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"deployments": out})
	return nil
}

func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "invalid deployment id",
			Detail: fmt.Sprintf("%q is not a number", r.PathValue("id"))}
	}
	d, err := s.e.Records().DeploymentGet(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deploymentView(d, true))
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, err := s.e.Service(r.PathValue("service"))
	if err != nil {
		return err
	}
	after, err := int64Param(r, "after")
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 1000, 10000)
	if err != nil {
		return err
	}
	events, err := s.e.Records().EventList(r.Context(), &store.EventListParams{Service: svc.Name, AfterID: after, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]EventView, 0, len(events))
	for _, e := range events {
		out = append(out, eventView(e))
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": out})
	return nil
}
