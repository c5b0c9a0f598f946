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

// fakeTokens is a token table.
type fakeTokens struct {
	tokens map[int64]store.Token
	hashes map[int64]string
	err    error
}

func (f *fakeTokens) TokenGetByID(_ context.Context, id int64) (store.Token, string, error) {
	if f.err != nil {
		return store.Token{}, "", f.err
	}
	t, ok := f.tokens[id]
	if !ok {
		return store.Token{}, "", fmt.Errorf("error looking up token %d: %w", id, store.ErrNotFound)
	}
	return t, f.hashes[id], nil
}

func newFakeTokens() *fakeTokens {
	return &fakeTokens{
		tokens: map[int64]store.Token{7: {ID: 7, Name: "ana", Role: "deployer"}, 8: {ID: 8, Name: "bo", Role: "viewer"}},
		hashes: map[int64]string{7: strings.Repeat("a", 64), 8: strings.Repeat("b", 64)},
	}
}

func TestSessionCookie(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tokens := newFakeTokens()
	cookie := SignSession(7, tokens.hashes[7], now.Add(SessionTTL))
	require.Regexp(t, `^7\.\d+\.[A-Za-z0-9_-]{43}$`, cookie, "tokenID.expiryUnix.MAC")

	t.Run("valid", func(t *testing.T) {
		s, err := VerifySession(ctx, tokens, cookie, now)
		require.NoError(t, err)
		require.Equal(t, "ana", s.Token.Name)
		require.Equal(t, cookie, s.Cookie)
		require.Equal(t, now.Add(SessionTTL).Unix(), s.Expires.Unix())
		// Still valid a second before it expires.
		_, err = VerifySession(ctx, tokens, cookie, now.Add(SessionTTL-time.Second))
		require.NoError(t, err)
	})
	t.Run("expired", func(t *testing.T) {
		_, err := VerifySession(ctx, tokens, cookie, now.Add(SessionTTL))
		require.ErrorIs(t, err, ErrExpired)
	})
	t.Run("tampered", func(t *testing.T) {
		parts := strings.Split(cookie, ".")
		for name, bad := range map[string]string{
			"longer expiry":   parts[0] + "." + fmt.Sprint(now.Add(1000*time.Hour).Unix()) + "." + parts[2],
			"other token":     "8." + parts[1] + "." + parts[2],
			"flipped mac":     parts[0] + "." + parts[1] + "." + flip(parts[2]),
			"signed by other": SignSession(7, tokens.hashes[8], now.Add(time.Hour)),
		} {
			_, err := VerifySession(ctx, tokens, bad, now)
			require.ErrorIs(t, err, ErrBadSignature, name)
		}
		for _, bad := range []string{"", "7", "7.1", "7.1.", "x.1.abc", "7.x.abc", "07.1.abc", "7.1.abc.d", "-7.1.abc"} {
			_, err := VerifySession(ctx, tokens, bad, now)
			require.Error(t, err, bad)
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrNoSession), "%q: %v", bad, err)
		}
	})
	t.Run("deleted token", func(t *testing.T) {
		gone := newFakeTokens()
		delete(gone.tokens, 7)
		_, err := VerifySession(ctx, gone, cookie, now)
		require.ErrorIs(t, err, ErrTokenGone)
	})
	t.Run("token with a new hash", func(t *testing.T) {
		// A token whose secret changed (same id, new hash) ends its sessions.
		rotated := newFakeTokens()
		rotated.hashes[7] = strings.Repeat("c", 64)
		_, err := VerifySession(ctx, rotated, cookie, now)
		require.ErrorIs(t, err, ErrBadSignature)
	})
	t.Run("store down", func(t *testing.T) {
		down := newFakeTokens()
		down.err = errors.New("connection refused")
		_, err := VerifySession(ctx, down, cookie, now)
		require.ErrorIs(t, err, errStoreUnhealthy)
	})
}

func TestSessionCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tokens := newFakeTokens()
	cookie := SignSession(7, tokens.hashes[7], now.Add(time.Minute))
	var c sessionCache
	_, err := c.verify(ctx, tokens, cookie, now)
	require.NoError(t, err)
	delete(tokens.tokens, 7)
	_, err = c.verify(ctx, tokens, cookie, now.Add(time.Second))
	require.NoError(t, err, "trusted for a few seconds")
	_, err = c.verify(ctx, tokens, cookie, now.Add(sessionCacheTTL))
	require.ErrorIs(t, err, ErrTokenGone, "then the deleted token ends the session")
	_, err = c.verify(ctx, tokens, "x.1.y", now)
	require.ErrorIs(t, err, ErrMalformed)

	short := SignSession(8, tokens.hashes[8], now.Add(2*time.Second))
	_, err = c.verify(ctx, tokens, short, now)
	require.NoError(t, err)
	_, err = c.verify(ctx, tokens, short, now.Add(2*time.Second))
	require.ErrorIs(t, err, ErrExpired, "the expiry holds even when cached")
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
	now := time.Now()
	tokens := newFakeTokens()
	cookie := SignSession(7, tokens.hashes[7], now.Add(time.Hour))
	s, err := VerifySession(ctx, tokens, cookie, now)
	require.NoError(t, err)
	require.Equal(t, CSRFToken(tokens.hashes[7], cookie), s.CSRF)
	require.True(t, s.ValidCSRF(s.CSRF))
	require.False(t, s.ValidCSRF(""), "missing")
	require.False(t, s.ValidCSRF(flip(s.CSRF)), "wrong")
	require.False(t, s.ValidCSRF(s.CSRF[:len(s.CSRF)-1]), "truncated")
	// Another session of the same token has another CSRF token; so does
	// the same session of another token.
	other := SignSession(7, tokens.hashes[7], now.Add(2*time.Hour))
	require.False(t, s.ValidCSRF(CSRFToken(tokens.hashes[7], other)))
	require.False(t, s.ValidCSRF(CSRFToken(tokens.hashes[8], cookie)))
	// The CSRF token is not the cookie's MAC: a page's token tells nothing
	// about the cookie.
	require.NotContains(t, cookie, s.CSRF)
}

func TestSafeNext(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"/services/web":     "/services/web",
		"/?a=b":             "/?a=b",
		"":                  "/",
		"https://evil.test": "/",
		"//evil.test/x":     "/",
		"/\\evil.test":      "/",
		"javascript:alert":  "/",
	} {
		require.Equal(t, want, safeNext(in), in)
	}
}
