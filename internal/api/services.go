package api

import (
	"net/http"

	"github.com/bakery-deploy/bakery/internal/store"
)

func (s *Server) getService(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	v, err := s.serviceViewOf(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) whoami(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	writeJSON(w, http.StatusOK, map[string]any{"name": tok.Name, "role": tok.Role})
	return nil
}
