package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// CookieName is the dashboard's session cookie.
const CookieName = "bakery_session"

// SessionTTL is how long a sign-in lasts.
const SessionTTL = 12 * time.Hour

// CSRFHeader is the header every state-changing request authenticated by
// the session cookie must carry.
const CSRFHeader = "X-CSRF-Token"

// A session cookie is stateless: "tokenID.expiryUnix.MAC", where MAC is
// HMAC-SHA256 keyed with the token's stored hash over
// "session:tokenID.expiryUnix". Nothing about sessions is stored: deleting
// the token (or changing its hash) ends every session made with it, and the
// expiry cannot be moved without the key.

// Errors of session verification. They say why a cookie is refused; the
// pages ask the person to sign in again whatever the reason.
var (
	ErrNoSession      = errors.New("no session cookie")
	ErrMalformed      = errors.New("malformed session cookie")
	ErrExpired        = errors.New("session expired")
	ErrBadSignature   = errors.New("session cookie signature does not match")
	ErrTokenGone      = errors.New("the token of this session no longer exists")
	errStoreUnhealthy = errors.New("cannot check the session")
)

// TokenByID is the part of the store sessions need.
type TokenByID interface {
	TokenGetByID(ctx context.Context, id int64) (store.Token, string, error)
}

// Session is a verified sign-in.
type Session struct {
	Token store.Token
	// Cookie is the cookie's value; CSRF the token the pages embed and
	// state-changing requests must send back.
	Cookie  string
	CSRF    string
	Expires time.Time
}

func mac(key, msg string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// SignSession makes the cookie value for token id, whose stored hash is
// hash, valid until expires.
func SignSession(id int64, hash string, expires time.Time) string {
	payload := strconv.FormatInt(id, 10) + "." + strconv.FormatInt(expires.Unix(), 10)
	return payload + "." + mac(hash, "session:"+payload)
}

// CSRFToken is the CSRF token of a session cookie: HMAC-SHA256 keyed with
// the token's stored hash over "csrf:" + the cookie's value.
func CSRFToken(hash, cookie string) string {
	return mac(hash, "csrf:"+cookie)
}

// ValidCSRF reports whether got is the CSRF token of the session, in
// constant time.
func (s *Session) ValidCSRF(got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(s.CSRF))
}

// parseSession splits a cookie value into its parts.
func parseSession(v string) (id int64, expires time.Time, sig string, err error) {
	parts := strings.Split(v, ".")
	if len(parts) != 3 || parts[2] == "" {
		return 0, time.Time{}, "", ErrMalformed
	}
	id, err = strconv.ParseInt(parts[0], 10, 64)
	if err != nil || id <= 0 || parts[0] != strconv.FormatInt(id, 10) {
		return 0, time.Time{}, "", ErrMalformed
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || parts[1] != strconv.FormatInt(exp, 10) {
		return 0, time.Time{}, "", ErrMalformed
	}
	return id, time.Unix(exp, 0), parts[2], nil
}

// VerifySession checks a cookie value at now: well formed, not expired,
// its token still exists, and the signature matches the token's stored
// hash.
func VerifySession(ctx context.Context, tokens TokenByID, value string, now time.Time) (*Session, error) {
	if value == "" {
		return nil, ErrNoSession
	}
	id, expires, sig, err := parseSession(value)
	if err != nil {
		return nil, err
	}
	if !now.Before(expires) {
		return nil, ErrExpired
	}
	tok, hash, err := tokens.TokenGetByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrTokenGone
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errStoreUnhealthy, err)
	}
	want := mac(hash, "session:"+value[:strings.LastIndexByte(value, '.')])
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return nil, ErrBadSignature
	}
	return &Session{Token: tok, Cookie: value, CSRF: CSRFToken(hash, value), Expires: expires}, nil
}

// sessionCacheTTL is how long a verified session is trusted without
// asking the database again: a deleted token's sessions end within it.
const sessionCacheTTL = 5 * time.Second

// maxCachedSessions bounds the cache; past it, it starts over.
const maxCachedSessions = 10000

// sessionCache remembers verified sessions briefly, so that a hundred
// pages refetching a fragment after a change do not each look their token
// up. Only successes are cached; the expiry is checked on every use.
type sessionCache struct {
	mu      sync.Mutex
	entries map[string]cachedSession
}

type cachedSession struct {
	s  *Session
	at time.Time
}

func (c *sessionCache) verify(ctx context.Context, tokens TokenByID, value string, now time.Time) (*Session, error) {
	c.mu.Lock()
	e, ok := c.entries[value]
	c.mu.Unlock()
	if ok && now.Sub(e.at) < sessionCacheTTL && now.Before(e.s.Expires) {
		return e.s, nil
	}
	s, err := VerifySession(ctx, tokens, value, now)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		delete(c.entries, value)
		return nil, err
	}
	if c.entries == nil || len(c.entries) >= maxCachedSessions {
		c.entries = map[string]cachedSession{}
	}
	c.entries[value] = cachedSession{s: s, at: now}
	return s, nil
}
