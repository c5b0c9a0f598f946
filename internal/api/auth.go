package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Role is what a token may do. Each role may do everything the ones before
// it may.
type Role string

// The roles, weakest first.
const (
	RoleViewer   Role = "viewer"
	RoleDeployer Role = "deployer"
	RoleAdmin    Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleDeployer:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("unknown role %q: use viewer, deployer or admin", s)
	}
	return r, nil
}

// HashToken is how a token's secret is stored: only its SHA-256. Tokens are
// long random strings, so a fast hash is enough.
func HashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// NewTokenSecret makes a new random token.
func NewTokenSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return "bkr_" + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) authed(min Role, h func(http.ResponseWriter, *http.Request, *store.Token) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, apiErr := s.authenticate(r)
		if apiErr != nil {
			if apiErr.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bakery"`)
			}
			writeError(w, apiErr)
			return
		}
		if Role(tok.Role).rank() < min.rank() {
			writeError(w, &Error{Status: http.StatusForbidden, Message: "forbidden",
				Detail: fmt.Sprintf("token %q has role %s; %s %s needs %s or higher", tok.Name, tok.Role, r.Method, r.URL.Path, min)})
			return
		}
		if err := h(w, r, tok); err != nil {
			apiErr := toAPIError(err)
			if apiErr.Status >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			writeError(w, apiErr)
		}
	})
}

// Sessions authenticates requests by the dashboard's session cookie, so the
// dashboard's controls can call the API (internal/web implements it).
type Sessions interface {
	// Session returns the token behind r's session cookie and the CSRF
	// token r must carry to change anything. It returns a nil token and a
	// nil error when r has no session cookie.
	Session(r *http.Request) (tok *store.Token, csrf string, err *Error)
}

// CSRFHeader carries the CSRF token of a request authenticated by a
// session cookie.
const CSRFHeader = "X-CSRF-Token"

// safeMethod reports whether a request changes nothing, so that it needs
// no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func (s *Server) authenticate(r *http.Request) (*store.Token, *Error) {
	h := r.Header.Get("Authorization")
	if h == "" && s.sessions != nil {
		tok, csrf, apiErr := s.sessions.Session(r)
		if apiErr != nil {
			return nil, apiErr
		}
		if tok != nil {
			// A cookie is sent by the browser whoever asks it to, so a
			// change must prove it comes from a page of this server.
			if got := r.Header.Get(CSRFHeader); !safeMethod(r.Method) &&
				(got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(csrf)) != 1) {
				return nil, &Error{Status: http.StatusForbidden, Message: "missing or invalid CSRF token",
					Detail: "a request authenticated by the dashboard's session cookie that changes something must send the header " +
						CSRFHeader + " with the page's <meta name=\"csrf-token\"> value; scripts should send 'Authorization: Bearer TOKEN' instead"}
			}
			return tok, nil
		}
	}
	if h == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Message: "missing token",
			Detail: "send an API token as 'Authorization: Bearer TOKEN' (the CLI reads it from BAKERY_TOKEN), or sign in to the dashboard"}
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return nil, &Error{Status: http.StatusUnauthorized, Message: "malformed Authorization header",
			Detail: "use 'Authorization: Bearer TOKEN'"}
	}
	tok, err := s.e.Store().TokenGetByHash(r.Context(), HashToken(strings.TrimSpace(secret)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusUnauthorized, Message: "invalid token",
			Detail: "no token matches; create one with 'bakery token create --name NAME --role ROLE'"}
	}
	if err != nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Message: "cannot check token", Detail: err.Error()}
	}
	return &tok, nil
}
