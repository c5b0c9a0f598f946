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
	// Selector (on /api/v1/environments/{env}/lock only, instead of a
	// service in the path) locks every service whose labels match it at
	// decision time, such as "team=payments,tier=1": one lock.
	Selector string `json:"selector,omitempty"`
}

// UnlockRequest is the body of an unlock request.
type UnlockRequest struct {
	Reason string `json:"reason"`
	// Selector releases the selector lock (on /api/v1/environments/{env}/lock
	// only); key order and spaces do not matter.
	Selector string `json:"selector,omitempty"`
}

// SkipBakeRequest is the body of a skip-bake request.
type SkipBakeRequest struct {
	Reason string `json:"reason"`
	// Selector (required on /api/v1/environments/{env}/skip-bake, refused
	// with a service in the path) skips the bake of every matching service.
	Selector string `json:"selector,omitempty"`
}

// SkipBakeResult is one matching service of a skip-bake by selector.
type SkipBakeResult struct {
	Service string       `json:"service"`
	Skipped bool         `json:"skipped"`
	Release *ReleaseView `json:"release,omitempty"`
	Why     string       `json:"why,omitempty"` // why nothing was skipped there
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
	ID      int64  `json:"id"`
	Service string `json:"service"` // "*" for every service, "" for a selector lock
	// Selector is set on a selector lock: it holds every service whose
	// labels match it (canonical: pairs sorted by key).
	Selector    string     `json:"selector,omitempty"`
	Environment string     `json:"environment"`
	Actor       string     `json:"actor"`
	Reason      string     `json:"reason"`
	Since       time.Time  `json:"since"`
	ExpiresAt   *time.Time `json:"expires_at"`
	// Matching and Note are set in the answer to placing or releasing a
	// selector lock: how many services it matches now (it may be 0: the
	// lock still holds for services that match after a reload).
	Matching *int   `json:"matching,omitempty"`
	Note     string `json:"note,omitempty"`
}

func lockView(l pipeline.Lock) LockView {
	return LockView{ID: l.ID, Service: l.Service, Selector: l.Selector, Environment: l.Environment, Actor: l.Actor, Reason: l.Reason,
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
	service, err := serviceOrSelector(r, req.Selector)
	if err != nil {
		return err
	}
	env := r.PathValue("env")
	l, err := s.e.Lock(r.Context(), tok.Name, engine.LockParams{Service: service, Selector: req.Selector, Environment: env,
		Reason: req.Reason, Expires: expires})
	if err != nil {
		return err
	}
	v := lockView(l)
	s.noteMatching(&v, env)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// serviceOrSelector is the service a brake names in its path: "*" on
// /api/v1/environments/{env}/… without a selector, "" with one; a
// selector with a service in the path is refused.
func serviceOrSelector(r *http.Request, selector string) (string, error) {
	service := r.PathValue("service")
	switch {
	case service != "" && selector != "":
		return "", &Error{Status: http.StatusBadRequest, Message: "service and selector both given",
			Detail: fmt.Sprintf("the path names service %q and the body's \"selector\" is %q: give one of them; "+
				"a selector goes to /api/v1/environments/%s/…", service, selector, r.PathValue("env"))}
	case service != "":
		return service, nil
	case selector != "":
		return "", nil
	}
	return pipeline.AllServices, nil
}

// noteMatching says, on a selector lock's answer, how many services it
// matches now.
func (s *Server) noteMatching(v *LockView, env string) {
	if v.Selector == "" {
		return
	}
	names, err := s.e.MatchingServices(v.Selector, env)
	if err != nil {
		return
	}
	n := len(names)
	v.Matching = &n
	v.Note = fmt.Sprintf("%s matches %d service(s) with %s now; the lock holds every service whose labels match when it decides, including services a later reload adds",
		v.Selector, n, env)
}

func (s *Server) unlock(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req UnlockRequest
	if err := decodeOptional(r, &req); err != nil {
		return err
	}
	service, err := serviceOrSelector(r, req.Selector)
	if err != nil {
		return err
	}
	env := r.PathValue("env")
	var l pipeline.Lock
	if req.Selector != "" {
		l, err = s.e.UnlockSelector(r.Context(), tok.Name, req.Selector, env, req.Reason)
	} else {
		l, err = s.e.Unlock(r.Context(), tok.Name, service, env, req.Reason)
	}
	if err != nil {
		return err
	}
	v := lockView(l)
	s.noteMatching(&v, env)
	writeJSON(w, http.StatusOK, map[string]any{"released": v})
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
	var req SkipBakeRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := serviceOrSelector(r, req.Selector); err != nil {
		return err
	}
	if r.PathValue("service") == "" {
		return s.skipBakeSelector(w, r, tok, req)
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

// skipBakeSelector skips the bake into env of every service the selector
// matches, and says which were affected.
func (s *Server) skipBakeSelector(w http.ResponseWriter, r *http.Request, tok *store.Token, req SkipBakeRequest) error {
	if req.Selector == "" {
		return &Error{Status: http.StatusBadRequest, Message: "missing selector",
			Detail: fmt.Sprintf("skipping the bake into every service's %s needs \"selector\" (such as \"team=payments\"); "+
				"for one service use /api/v1/services/SERVICE/environments/%s/skip-bake", r.PathValue("env"), r.PathValue("env"))}
	}
	outcomes, err := s.e.SkipBakeSelector(r.Context(), tok.Name, req.Selector, r.PathValue("env"), req.Reason)
	if err != nil {
		return err
	}
	out := []SkipBakeResult{}
	skipped := 0
	for _, o := range outcomes {
		res := SkipBakeResult{Service: o.Service, Skipped: o.Skipped, Why: o.Why}
		if o.Skipped {
			svc, _ := s.e.Service(o.Service)
			rv := releaseView(svc, o.Release)
			res.Release = &rv
			skipped++
		}
		out = append(out, res)
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": out, "skipped": skipped, "matching": len(outcomes),
		"note": "the bakes count as complete; the locks, windows and checks still apply"})
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
