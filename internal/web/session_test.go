package web

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/store"
)

// fakeSessions is a sessions table and a token table.
type fakeSessions struct {
	sessions map[string]store.Session
	tokens   map[int64]store.Token
	err      error
}

func (f *fakeSessions) SessionGetByHash(_ context.Context, hash string) (store.Session, error) {
	if f.err != nil {
		return store.Session{}, f.err
	}
	s, ok := f.sessions[hash]
	if !ok {
		return store.Session{}, fmt.Errorf("error looking up session: %w", store.ErrNotFound)
	}
	return s, nil
}

func (f *fakeSessions) TokenGetByID(_ context.Context, id int64) (store.Token, error) {
	t, ok := f.tokens[id]
	if !ok {
		return store.Token{}, fmt.Errorf("error looking up token %d: %w", id, store.ErrNotFound)
	}
	return t, nil
}

var now0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newFakeSessions() *fakeSessions {
	return &fakeSessions{sessions: map[string]store.Session{},
		tokens: map[int64]store.Token{7: {ID: 7, Name: "ana", Role: "deployer"}, 8: {ID: 8, Name: "bo", Role: "viewer"},
			9: {ID: 9, Name: "app", Role: "banner"}}}
}

// start stores a session of token id and returns its cookie value.
func (f *fakeSessions) start(id int64, expires time.Time) string {
	v := NewSessionSecret()
	f.sessions[HashSession(v)] = store.Session{Hash: HashSession(v), TokenID: id, CreatedAt: now0, ExpiresAt: expires, LastUsedAt: now0}
	return v
}

func TestSessionSecret(t *testing.T) {
	t.Parallel()
	a, b := NewSessionSecret(), NewSessionSecret()
	require.NotEqual(t, a, b)
	require.Regexp(t, `^[A-Za-z0-9_-]{43}$`, a, "32 random bytes, base64url")
	require.Len(t, HashSession(a), 64)
	require.NotContains(t, HashSession(a), a)
}

func TestVerifySession(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeSessions()
	cookie := f.start(7, now0.Add(SessionTTL))

	t.Run("valid", func(t *testing.T) {
		s, err := VerifySession(ctx, f, cookie, now0)
		require.NoError(t, err)
		require.Equal(t, "ana", s.Token.Name)
		require.Equal(t, cookie, s.Cookie)
		require.Equal(t, now0.Add(SessionTTL), s.Expires)
		_, err = VerifySession(ctx, f, cookie, now0.Add(SessionTTL-time.Second))
		require.NoError(t, err, "still valid a second before it expires")
	})
	t.Run("expired", func(t *testing.T) {
		_, err := VerifySession(ctx, f, cookie, now0.Add(SessionTTL))
		require.ErrorIs(t, err, ErrExpired)
	})
	t.Run("unknown", func(t *testing.T) {
		_, err := VerifySession(ctx, f, NewSessionSecret(), now0)
		require.ErrorIs(t, err, ErrUnknownSession, "a well-formed secret that was never stored, or was deleted")
	})
	t.Run("malformed", func(t *testing.T) {
		for _, bad := range []string{"7", "7.1.abc", cookie[1:], cookie + "A", strings.Repeat("!", 43),
			// The old stateless format, "tokenID.expiry.MAC".
			"7.4102444800.6oN0G2YkYz3c2q3y1eC3K8m0Yk3lPpM2X0sLwq3y1eC"} {
			_, err := VerifySession(ctx, f, bad, now0)
			require.ErrorIs(t, err, ErrMalformed, bad)
		}
		_, err := VerifySession(ctx, f, "", now0)
		require.ErrorIs(t, err, ErrNoSession)
	})
	t.Run("the stored hash is not a cookie", func(t *testing.T) {
		_, err := VerifySession(ctx, f, HashSession(cookie), now0)
		require.Error(t, err)
	})
	t.Run("token gone, revoked or expired", func(t *testing.T) {
		g := newFakeSessions()
		c := g.start(7, now0.Add(time.Hour))
		delete(g.tokens, 7)
		_, err := VerifySession(ctx, g, c, now0)
		require.ErrorIs(t, err, ErrTokenGone)

		g = newFakeSessions()
		c = g.start(7, now0.Add(time.Hour))
		tok := g.tokens[7]
		tok.RevokedAt = now0.Add(-time.Minute)
		g.tokens[7] = tok
		_, err = VerifySession(ctx, g, c, now0)
		require.ErrorIs(t, err, ErrTokenInactive)
		require.ErrorContains(t, err, "revoked")

		g = newFakeSessions()
		c = g.start(7, now0.Add(time.Hour))
		tok = g.tokens[7]
		tok.ExpiresAt = now0
		g.tokens[7] = tok
		_, err = VerifySession(ctx, g, c, now0)
		require.ErrorIs(t, err, ErrTokenInactive)
		require.ErrorContains(t, err, "expired")
	})
	t.Run("banner token", func(t *testing.T) {
		c := f.start(9, now0.Add(time.Hour))
		_, err := VerifySession(ctx, f, c, now0)
		require.ErrorIs(t, err, ErrTokenInactive, "a banner credential never gets a dashboard session")
	})
	t.Run("store down", func(t *testing.T) {
		down := newFakeSessions()
		down.err = errors.New("connection refused")
		_, err := VerifySession(ctx, down, cookie, now0)
		require.ErrorIs(t, err, errStoreUnhealthy)
	})
}

func TestSessionExpiry(t *testing.T) {
	t.Parallel()
	require.Equal(t, now0.Add(SessionTTL), SessionExpiry(store.Token{}, now0), "capped at the TTL")
	require.Equal(t, now0.Add(SessionTTL), SessionExpiry(store.Token{ExpiresAt: now0.Add(90 * 24 * time.Hour)}, now0))
	require.Equal(t, now0.Add(time.Hour), SessionExpiry(store.Token{ExpiresAt: now0.Add(time.Hour)}, now0),
		"never beyond the token's own expiry")
}

func TestSessionCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeSessions()
	cookie := f.start(7, now0.Add(time.Minute))
	var c sessionCache
	_, fresh, err := c.verify(ctx, f, cookie, now0)
	require.NoError(t, err)
	require.True(t, fresh)
	delete(f.sessions, HashSession(cookie))
	_, fresh, err = c.verify(ctx, f, cookie, now0.Add(time.Second))
	require.NoError(t, err, "trusted for a moment (another replica's sign-out)")
	require.False(t, fresh)
	_, _, err = c.verify(ctx, f, cookie, now0.Add(sessionCacheTTL))
	require.ErrorIs(t, err, ErrUnknownSession, "then the deleted session is refused")
	_, _, err = c.verify(ctx, f, "x.1.y", now0)
	require.ErrorIs(t, err, ErrMalformed)

	short := f.start(8, now0.Add(time.Second))
	_, _, err = c.verify(ctx, f, short, now0)
	require.NoError(t, err)
	_, _, err = c.verify(ctx, f, short, now0.Add(time.Second))
	require.ErrorIs(t, err, ErrExpired, "the expiry holds even when cached")

	// Sign-out and revocation in this process take effect at once.
	a, b := f.start(7, now0.Add(time.Hour)), f.start(8, now0.Add(time.Hour))
	for _, v := range []string{a, b} {
		_, _, err = c.verify(ctx, f, v, now0)
		require.NoError(t, err)
	}
	delete(f.sessions, HashSession(a))
	c.forget(a)
	_, _, err = c.verify(ctx, f, a, now0)
	require.ErrorIs(t, err, ErrUnknownSession)
	delete(f.sessions, HashSession(b))
	c.forgetToken(8)
	_, _, err = c.verify(ctx, f, b, now0)
	require.ErrorIs(t, err, ErrUnknownSession)
}

func flip(s string) string {
	b := []byte(s)
	if b[0] == 'A' {
		b[0] = 'B'
	} else {
		b[0] = 'A'
	}
	return string(b)
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFakeSessions()
	cookie := f.start(7, now0.Add(time.Hour))
	s, err := VerifySession(ctx, f, cookie, now0)
	require.NoError(t, err)
	require.Equal(t, CSRFToken(cookie), s.CSRF)
	require.True(t, s.ValidCSRF(s.CSRF))
	require.False(t, s.ValidCSRF(""), "missing")
	require.False(t, s.ValidCSRF(flip(s.CSRF)), "wrong")
	require.False(t, s.ValidCSRF(s.CSRF[:len(s.CSRF)-1]), "truncated")
	// Another session of the same token has another CSRF token.
	other := f.start(7, now0.Add(time.Hour))
	require.False(t, s.ValidCSRF(CSRFToken(other)))
	// Nothing stored gives the CSRF token: not the session's hash, not
	// the token's.
	require.False(t, s.ValidCSRF(CSRFToken(HashSession(cookie))))
	require.NotContains(t, cookie, s.CSRF)
}
