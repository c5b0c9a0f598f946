package api

import (
	"net/http"

	"github.com/bakery-deploy/bakery/internal/store"
)

func (s *Server) listServices(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	out := []ServiceView{}
	for _, svc := range s.e.Config().Services {
		cfgSvc, m, err := s.e.View(r.Context(), svc.Name)
		if err != nil {
			return err
		}
		v := serviceView(cfgSvc, m)
		s.decorate(r.Context(), cfgSvc, m, &v)
		out = append(out, v)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
	return nil
}

func (s *Server) getService(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, m, err := s.e.View(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	v := serviceView(svc, m)
	s.decorate(r.Context(), svc, m, &v)
	s.exposureProblems(&v)
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	writeJSON(w, http.StatusOK, map[string]any{"name": tok.Name, "role": tok.Role})
	return nil
}
