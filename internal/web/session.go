package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/store"
)

// CookieName is the dashboard's session cookie.
const CookieName = "bakery_session"

// SessionTTL is how long a sign-in lasts at most; never longer than the
// token it was made with.
const SessionTTL = 12 * time.Hour

// CSRFHeader is the header every state-changing request authenticated by
// the session cookie must carry.
const CSRFHeader = "X-CSRF-Token"

// Sessions are kept on the server. The cookie carries a random secret of
// sessionSecretBytes bytes from crypto/rand; the sessions table holds only
// its SHA-256, with the token, the expiry, the user agent and the last use.
// So reading the database gives no way to make a cookie, signing out or
// revoking the token deletes the row and the cookie is worthless at once,
// and the CSRF token, an HMAC keyed with the secret, cannot be computed
// from anything stored.
const sessionSecretBytes = 32

// sessionSecretLen is the length of the cookie's value: the secret in
// unpadded base64url.
var sessionSecretLen = base64.RawURLEncoding.EncodedLen(sessionSecretBytes)

// Errors of session verification. They say why a cookie is refused; the
// pages ask the person to sign in again whatever the reason.
var (
	ErrNoSession      = errors.New("no session cookie")
	ErrMalformed      = errors.New("malformed session cookie")
	ErrUnknownSession = errors.New("no such session: it was signed out, or ended when its token was revoked")
	ErrExpired        = errors.New("session expired")
	ErrTokenGone      = errors.New("the token of this session no longer exists")
	ErrTokenInactive  = errors.New("the token of this session may not be used")
	errStoreUnhealthy = errors.New("cannot check the session")
)

// SessionReader is the part of the store sessions need.
type SessionReader interface {
	SessionGetByHash(ctx context.Context, hash string) (store.Session, error)
	TokenGetByID(ctx context.Context, id int64) (store.Token, error)
}

// Session is a verified sign-in.
type Session struct {
	Token store.Token
	// Stored is the session's row.
	Stored store.Session
	// Cookie is the cookie's value (the secret); CSRF the token the pages
	// embed and state-changing requests must send back.
	Cookie  string
	CSRF    string
	Expires time.Time
}

// NewSessionSecret makes the secret a new session's cookie carries.
func NewSessionSecret() string {
	b := make([]byte, sessionSecretBytes)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err)) // never on a supported system
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashSession is how a session's secret is stored: its SHA-256.
func HashSession(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CSRFToken is the CSRF token of a session: HMAC-SHA256 keyed with the
// session's secret over "csrf". Nothing stored lets anyone compute it.
func CSRFToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("csrf"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SessionExpiry is when a session made at now with tok ends: SessionTTL
// later, or when the token expires if that is sooner.
func SessionExpiry(tok store.Token, now time.Time) time.Time {
	exp := now.Add(SessionTTL)
	if !tok.ExpiresAt.IsZero() && tok.ExpiresAt.Before(exp) {
		exp = tok.ExpiresAt
	}
	return exp
}

// ValidCSRF reports whether got is the CSRF token of the session, in
// constant time.
func (s *Session) ValidCSRF(got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.CSRF))
}

// wellFormed reports whether v can be a session secret at all, so that
// junk never reaches the database.
func wellFormed(v string) bool {
	if len(v) != sessionSecretLen {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil
}

// VerifySession checks a cookie value at now: well formed, a stored
// session that has not expired, and a token that still exists and is
// neither revoked nor expired.
func VerifySession(ctx context.Context, st SessionReader, value string, now time.Time) (*Session, error) {
	if value == "" {
		return nil, ErrNoSession
	}
	if !wellFormed(value) {
		return nil, ErrMalformed
	}
	ss, err := st.SessionGetByHash(ctx, HashSession(value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnknownSession
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStoreUnhealthy, err)
	}
	if !now.Before(ss.ExpiresAt) {
		return nil, ErrExpired
	}
	tok, err := st.TokenGetByID(ctx, ss.TokenID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrTokenGone
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStoreUnhealthy, err)
	}
	if apiErr := api.CheckToken(tok, now); apiErr != nil {
		return nil, fmt.Errorf("%w: %s", ErrTokenInactive, apiErr.Detail)
	}
	if tok.Role == string(api.RoleBanner) {
		return nil, fmt.Errorf("%w: a banner token cannot use the dashboard", ErrTokenInactive)
	}
	return &Session{Token: tok, Stored: ss, Cookie: value, CSRF: CSRFToken(value), Expires: ss.ExpiresAt}, nil
}

// sessionCacheTTL is how long a verified session is trusted without
// asking the database again. Sign-out and revocation in this process
// empty the cache at once; on another replica sharing PostgreSQL, a
// signed-out or revoked session lives at most this long.
const sessionCacheTTL = 2 * time.Second

// maxCachedSessions bounds the cache; past it, it starts over.
const maxCachedSessions = 10000

// sessionCache remembers verified sessions briefly, so that a hundred
// pages refetching a fragment after a change do not each look their
// session up. Only successes are cached; the expiry is checked on every
// use.
type sessionCache struct {
	mu      sync.Mutex
	entries map[string]cachedSession
}

type cachedSession struct {
	s  *Session
	at time.Time
}

// verify returns the session of value, from the cache or the store; fresh
// reports whether it came from the store.
func (c *sessionCache) verify(ctx context.Context, st SessionReader, value string, now time.Time) (s *Session, fresh bool, err error) {
	c.mu.Lock()
	e, ok := c.entries[value]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < sessionCacheTTL && now.Before(e.s.Expires) {
		return e.s, false, nil
	}
	s, err = VerifySession(ctx, st, value, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.entries, value)
		return nil, false, err
	}
	if c.entries == nil || len(c.entries) >= maxCachedSessions {
		c.entries = map[string]cachedSession{}
	}
	c.entries[value] = cachedSession{s: s, at: now}
	return s, true, nil
}

// forget drops one session (signed out).
func (c *sessionCache) forget(value string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, value)
}

// forgetToken drops every session of a token (revoked).
func (c *sessionCache) forgetToken(id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.s.Token.ID == id {
			delete(c.entries, k)
		}
	}
}
