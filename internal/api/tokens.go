package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store"
)

// TokenRequest is the body of POST /api/v1/tokens.
type TokenRequest struct {
	Name string `json:"name"`
	Role string `json:"role"`
	// Emergency lets a deployer token make emergency deploys (admins
	// always may).
	Emergency bool `json:"emergency,omitempty"`
	// Expires is when the token stops working (RFC 3339); ExpiresIn the
	// same from now ("90d", "36h", "1d12h"). At most one; neither: never.
	Expires   string `json:"expires,omitempty"`
	ExpiresIn string `json:"expires_in,omitempty"`
}

// TokenView is a token as GET /api/v1/tokens lists it; never its secret
// or hash.
type TokenView struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Emergency  bool       `json:"emergency"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
	// State is active, expired or revoked.
	State string `json:"state"`
}

func tokenView(t store.Token, now time.Time) TokenView {
	state := "active"
	switch {
	case t.Revoked():
		state = "revoked"
	case t.Expired(now):
		state = "expired"
	}
	return TokenView{ID: t.ID, Name: t.Name, Role: t.Role, Emergency: t.Emergency, CreatedAt: t.CreatedAt.UTC(),
		LastUsedAt: timePtr(t.LastUsedAt), ExpiresAt: timePtr(t.ExpiresAt), RevokedAt: timePtr(t.RevokedAt), State: state}
}

// ParseExpiry reads a token lifetime: a Go duration ("36h", "90m") or a
// number of days with d, optionally followed by a Go duration ("90d",
// "1d12h").
func ParseExpiry(s string) (time.Duration, error) {
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || n > 100*366 {
			return 0, fmt.Errorf("invalid lifetime %q: write days as 90d, or a duration such as 36h", orig)
		}
		days, s = time.Duration(n)*24*time.Hour, s[i+1:]
	}
	var rest time.Duration
	if s != "" {
		var err error
		if rest, err = time.ParseDuration(s); err != nil || rest < 0 {
			return 0, fmt.Errorf("invalid lifetime %q: write days as 90d, or a duration such as 36h", orig)
		}
	}
	d := days + rest
	if d <= 0 {
		return 0, fmt.Errorf("invalid lifetime %q: it must be more than zero", orig)
	}
	return d, nil
}

func (req TokenRequest) expiresAt(now time.Time) (time.Time, error) {
	bad := func(format string, args ...any) (time.Time, error) {
		return time.Time{}, &Error{Status: http.StatusBadRequest, Message: "invalid expiry", Detail: fmt.Sprintf(format, args...)}
	}
	switch {
	case req.Expires != "" && req.ExpiresIn != "":
		return bad("give expires (a time) or expires_in (a lifetime), not both")
	case req.Expires != "":
		t, err := time.Parse(time.RFC3339, req.Expires)
		if err != nil {
			return bad("expires %q is not an RFC 3339 time such as 2027-03-01T00:00:00Z", req.Expires)
		}
		if !t.After(now) {
			return bad("expires %s is not in the future", req.Expires)
		}
		return t, nil
	case req.ExpiresIn != "":
		d, err := ParseExpiry(req.ExpiresIn)
		if err != nil {
			return bad("%v", err)
		}
		return now.Add(d), nil
	}
	return time.Time{}, nil
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "invalid role", Detail: err.Error()}
	}
	if req.Emergency && role != RoleDeployer && role != RoleAdmin {
		return &Error{Status: http.StatusBadRequest, Message: "invalid input",
			Detail: fmt.Sprintf("emergency applies to deployer tokens; a %s token can never deploy", role)}
	}
	expires, err := req.expiresAt(s.e.Now())
	if err != nil {
		return err
	}
	secret := NewTokenSecret()
	created, err := s.e.CreateToken(r.Context(), tok.Name, engine.TokenParams{Name: req.Name, Role: string(role),
		Emergency: req.Emergency, Hash: HashToken(secret), ExpiresAt: expires})
	if err != nil {
		return err
	}
	out := map[string]any{"name": created.Name, "role": created.Role, "emergency": created.Emergency, "token": secret,
		"expires_at": timePtr(created.ExpiresAt), "note": "the token is shown once; store it now"}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	tokens, err := s.e.Records().TokenList(r.Context())
	if err != nil {
		return err
	}
	now := s.e.Now()
	out := make([]TokenView, 0, len(tokens))
	for _, t := range tokens {
		out = append(out, tokenView(t, now))
	}
	writeJSON(w, http.StatusOK, map[string]any{"tokens": out})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	name := r.PathValue("name")
	revoked, ended, err := s.e.RevokeToken(r.Context(), tok.Name, name, r.URL.Query().Get("reason"))
	if err != nil {
		return err
	}
	if s.sessions != nil {
		s.sessions.TokenRevoked(revoked.ID)
	}
	writeJSON(w, http.StatusOK, map[string]any{"token": tokenView(revoked, s.e.Now()), "sessions_ended": ended})
	return nil
}
