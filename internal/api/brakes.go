package api

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// LockRequest is the body of a lock request.
type LockRequest struct {
	Reason string `json:"reason"`
	// Expires is a duration such as "2h"; empty: until unlocked.
	Expires string `json:"expires,omitempty"`
}

// ReasonRequest is the body of requests that only need a reason.
type ReasonRequest struct {
	Reason string `json:"reason"`
}

// RollbackRequest is the body of a rollback.
type RollbackRequest struct {
	To     string `json:"to,omitempty"`
	Reason string `json:"reason"`
}

// EmergencyRequest is the body of an emergency deploy.
type EmergencyRequest struct {
	Version  string `json:"version"`
	Artifact string `json:"artifact,omitempty"`
	Message  string `json:"message,omitempty"`
	Author   string `json:"author,omitempty"`
	Reason   string `json:"reason"`
}

// LockView is a lock.
type LockView struct {
	ID          int64      `json:"id"`
	Service     string     `json:"service"` // "*" for every service
	Environment string     `json:"environment"`
	Actor       string     `json:"actor"`
	Reason      string     `json:"reason"`
	Since       time.Time  `json:"since"`
	ExpiresAt   *time.Time `json:"expires_at"`
}

func lockView(l pipeline.Lock) LockView {
	return LockView{ID: l.ID, Service: l.Service, Environment: l.Environment, Actor: l.Actor, Reason: l.Reason,
		Since: l.CreatedAt.UTC(), ExpiresAt: timePtr(l.ExpiresAt)}
}

// decodeOptional decodes a body that may be absent or empty.
func decodeOptional(r *http.Request, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body too large", Detail: err.Error()}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return decode(r, v)
}

func (s *Server) lock(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req LockRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var expires time.Duration
	if req.Expires != "" {
		d, err := time.ParseDuration(req.Expires)
		if err != nil || d <= 0 {
			return &Error{Status: http.StatusBadRequest, Message: "invalid expires",
				Detail: fmt.Sprintf("expires %q must be a positive duration such as 30m or 2h; leave it out to hold until unlocked", req.Expires)}
		}
		expires = d
	}
	service := r.PathValue("service")
	if service == "" {
		service = pipeline.AllServices
	}
	l, err := s.e.Lock(r.Context(), tok.Name, engine.LockParams{Service: service, Environment: r.PathValue("env"), Reason: req.Reason, Expires: expires})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, lockView(l))
	return nil
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req ReasonRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	service := r.PathValue("service")
	if service == "" {
		service = pipeline.AllServices
	}
	l, err := s.e.Unlock(r.Context(), tok.Name, service, r.PathValue("env"), req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"released": lockView(l)})
	return nil
}

func (s *Server) listLocks(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	locks, err := s.e.Records().LockList(r.Context(), &store.LockListParams{})
	if err != nil {
		return err
	}
	now := s.e.Now()
	out := []LockView{}
	for _, l := range locks {
		if l.ActiveAt(now) {
			out = append(out, lockView(l))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"locks": out})
	return nil
}

func (s *Server) skipBake(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req ReasonRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rel, err := s.e.SkipBake(r.Context(), tok.Name, r.PathValue("service"), r.PathValue("env"), req.Reason)
	if err != nil {
		return err
	}
	svc, _ := s.e.Service(rel.Service)
	writeJSON(w, http.StatusOK, map[string]any{"release": releaseView(svc, rel),
		"note": "the bake counts as complete; the lock, window and checks still apply"})
	return nil
}

func (s *Server) rollback(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req RollbackRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	dep, rejected, err := s.e.Rollback(r.Context(), tok.Name, engine.RollbackParams{Service: r.PathValue("service"),
		Environment: r.PathValue("env"), To: req.To, Reason: req.Reason})
	if err != nil {
		return err
	}
	svc, _ := s.e.Service(dep.Service)
	writeJSON(w, http.StatusCreated, map[string]any{"deployment": deploymentView(dep, false), "rejected": releaseView(svc, rejected)})
	return nil
}

func (s *Server) emergency(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	if Role(tok.Role) != RoleAdmin && !tok.Emergency {
		return &Error{Status: http.StatusForbidden, Message: "forbidden",
			Detail: fmt.Sprintf("token %q may not make emergency deploys: it needs role admin, or a deployer token created with --emergency", tok.Name)}
	}
	var req EmergencyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	dep, err := s.e.Emergency(r.Context(), tok.Name, engine.EmergencyParams{Service: r.PathValue("service"), Version: req.Version,
		Artifact: req.Artifact, Message: req.Message, Author: req.Author, Reason: req.Reason})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"deployment": deploymentView(dep, false),
		"note": fmt.Sprintf("automatic promotion into %s is locked until someone unlocks it", dep.Environment)})
	return nil
}
