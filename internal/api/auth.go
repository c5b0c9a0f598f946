package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Role is what a token may do. Each role may do everything the ones before
// it may.
type Role string

// The roles, weakest first.
const (
	// RoleBanner reads the banner route and sends its beacon, nothing
	// else: it is the credential apps embed in public pages for banner.js.
	RoleBanner   Role = "banner"
	RoleViewer   Role = "viewer"
	RoleDeployer Role = "deployer"
	RoleAdmin    Role = "admin"
)

func (r Role) rank() int {
	switch r {
	case RoleBanner:
		return 1
	case RoleViewer:
		return 2
	case RoleDeployer:
		return 3
	case RoleAdmin:
		return 4
	}
	return 0
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if r.rank() == 0 {
		return "", fmt.Errorf("unknown role %q: use banner, viewer, deployer or admin", s)
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

// Bootstrap tokens must be at least this long and carry at least this
// many bits by a character-frequency estimate.
const (
	minBootstrapLen      = 32
	minBootstrapDistinct = 10
	minBootstrapBits     = 128
)

// CheckBootstrapToken refuses a BAKERY_BOOTSTRAP_TOKEN that is short or
// guessable: it becomes an admin token, and anyone who guesses it owns the
// server. The estimate is the string's character-frequency (Shannon)
// entropy times its length, which a random string passes and a word,
// a repeated pattern or a short hex string does not.
func CheckBootstrapToken(secret string) error {
	const how = "make one with 'openssl rand -base64 32' or 'head -c 32 /dev/urandom | base64'"
	if len(secret) < minBootstrapLen {
		return fmt.Errorf("BAKERY_BOOTSTRAP_TOKEN is %d characters; it must be at least %d random characters: %s", len(secret), minBootstrapLen, how)
	}
	counts := map[rune]int{}
	n := 0
	for _, c := range secret {
		counts[c]++
		n++
	}
	if len(counts) < minBootstrapDistinct {
		return fmt.Errorf("BAKERY_BOOTSTRAP_TOKEN uses only %d different characters, so it is easy to guess: %s", len(counts), how)
	}
	if patterned(secret) {
		return fmt.Errorf("BAKERY_BOOTSTRAP_TOKEN is a pattern (a repeated part, or a run such as abcd or 1234), so it is easy to guess: %s", how)
	}
	var h float64
	for _, k := range counts {
		p := float64(k) / float64(n)
		h -= p * math.Log2(p)
	}
	if bits := h * float64(n); bits < minBootstrapBits {
		return fmt.Errorf("BAKERY_BOOTSTRAP_TOKEN looks like about %.0f bits of randomness; it needs at least %d: %s", bits, minBootstrapBits, how)
	}
	return nil
}

// patterned reports a string that repeats a shorter part, or in which
// most neighbours are consecutive characters ("abcdef…", "0123…"):
// frequency counts miss both.
func patterned(s string) bool {
	for p := 1; p <= len(s)/2; p++ {
		if strings.Repeat(s[:p], len(s)/p+1)[:len(s)] == s {
			return true
		}
	}
	runs := 0
	for i := 1; i < len(s); i++ {
		if d := int(s[i]) - int(s[i-1]); d == 1 || d == -1 {
			runs++
		}
	}
	return runs*2 > len(s)
}

func (s *Server) authed(min Role, h func(http.ResponseWriter, *http.Request, *store.Token) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, apiErr := s.authenticate(w, r)
		if apiErr != nil {
			if apiErr.Status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="bakery"`)
			}
			writeError(w, apiErr)
			return
		}
		if Role(tok.Role).rank() < min.rank() {
			detail := fmt.Sprintf("token %q has role %s; %s %s needs %s or higher", tok.Name, tok.Role, r.Method, r.URL.Path, min)
			if Role(tok.Role) == RoleBanner {
				detail = fmt.Sprintf("token %q has role banner, which reads the banner route (GET %s), sends its beacon (POST %s) and nothing else", tok.Name, bannerPattern, beaconPattern)
			}
			writeError(w, &Error{Status: http.StatusForbidden, Message: "forbidden", Detail: detail})
			return
		}
		// Events the command writes name the token by id as well as by
		// name.
		r = r.WithContext(engine.WithActorToken(r.Context(), tok.ID))
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
	// TokenRevoked is called once a token is revoked (its sessions are
	// deleted already): whatever the dashboard remembers of them must go
	// too, so that no cached session outlives the token in this process.
	TokenRevoked(tokenID int64)
}

// CSRFHeader carries the CSRF token of a request authenticated by a
// session cookie.
const CSRFHeader = "X-CSRF-Token"

// safeMethod reports whether a request changes nothing, so that it needs
// no CSRF token.
func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// AuthLimiter is the limiter of failed sign-ins and bad tokens; the
// dashboard's sign-in form shares it, so that guessing through both
// doors counts once.
func (s *Server) AuthLimiter() *httpx.Limiter { return s.limiter }

// tooMany is the answer to an address that failed too often: refused
// whatever it sends, so that guessing cannot go on.
func tooMany(w http.ResponseWriter, after time.Duration) *Error {
	secs := httpx.RetryAfterSeconds(after)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	return &Error{Status: http.StatusTooManyRequests, Message: "too many failed attempts",
		Detail: fmt.Sprintf("this address sent too many invalid tokens; try again in %d seconds", secs)}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*store.Token, *Error) {
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
	ip := httpx.ClientIP(r)
	if after, blocked := s.limiter.Blocked(ip); blocked {
		return nil, tooMany(w, after)
	}
	fail := func(e *Error) *Error {
		s.log.Warn("invalid API token", "client", ip, "method", r.Method, "path", r.URL.Path, "reason", e.Message)
		if after, blocked := s.limiter.Fail(ip); blocked {
			s.log.Warn("client blocked after too many invalid tokens", "client", ip, "retry_after", after.Round(time.Second).String())
		}
		return e
	}
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(secret) == "" {
		return nil, fail(&Error{Status: http.StatusUnauthorized, Message: "malformed Authorization header",
			Detail: "use 'Authorization: Bearer TOKEN'"})
	}
	tok, err := s.e.Records().TokenGetByHash(r.Context(), HashToken(strings.TrimSpace(secret)))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fail(&Error{Status: http.StatusUnauthorized, Message: "invalid token",
			Detail: "no token matches; create one with 'bakery token create --name NAME --role ROLE'"})
	}
	if err != nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Message: "cannot check token", Detail: err.Error()}
	}
	if apiErr := CheckToken(tok, s.e.Now()); apiErr != nil {
		// A revoked or expired token was real once: it is not a guess, so
		// it does not count towards the limit; it is logged.
		s.log.Warn("refused a "+apiErr.Message, "token", tok.Name, "client", ip)
		return nil, apiErr
	}
	s.e.TokenUsed(r.Context(), tok)
	return &tok, nil
}

// CheckToken is the answer to a token that is revoked or expired at now
// (401, saying which), nil for an active one. The dashboard refuses
// sign-ins and sessions with it too.
func CheckToken(tok store.Token, now time.Time) *Error {
	switch {
	case tok.Revoked():
		return &Error{Status: http.StatusUnauthorized, Message: "token revoked",
			Detail: fmt.Sprintf("token %s was revoked at %s; ask an admin for a new one", tok.Name, tok.RevokedAt.Format(time.RFC3339))}
	case tok.Expired(now):
		return &Error{Status: http.StatusUnauthorized, Message: "token expired",
			Detail: fmt.Sprintf("token %s expired at %s; ask an admin for a new one", tok.Name, tok.ExpiresAt.Format(time.RFC3339))}
	}
	return nil
}
