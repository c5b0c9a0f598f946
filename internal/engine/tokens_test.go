package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

func TestBootstrapOnlyWhileNoAdminExists(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		ctx := context.Background()
		b := setup(t, db, testConfig())
		out, err := b.e.Bootstrap(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, BootstrapCreated, out)
		out, err = b.e.Bootstrap(ctx, "hash-1")
		require.NoError(t, err)
		require.Equal(t, BootstrapExists, out, "a restart with the same value changes nothing")

		// A restart with a new value while an admin exists adds nothing:
		// the old value does not stay valid beside a new one.
		out, err = b.e.Bootstrap(ctx, "hash-2")
		require.NoError(t, err)
		require.Equal(t, BootstrapIgnored, out)
		_, err = b.st.TokenGetByHash(ctx, "hash-2")
		require.ErrorIs(t, err, store.ErrNotFound)

		// With every admin revoked, a new value bootstraps again, under a
		// free name; the revoked value is refused, not revived.
		_, _, err = b.e.RevokeToken(ctx, "test", "bootstrap", "lost")
		require.NoError(t, err)
		_, err = b.e.Bootstrap(ctx, "hash-1")
		require.ErrorIs(t, err, ErrInvalid)
		out, err = b.e.Bootstrap(ctx, "hash-2")
		require.NoError(t, err)
		require.Equal(t, BootstrapCreated, out)
		tok, err := b.st.TokenGetByHash(ctx, "hash-2")
		require.NoError(t, err)
		require.Equal(t, "bootstrap-2", tok.Name)
		require.Equal(t, "admin", tok.Role)

		// An expired admin does not count either.
		b.clock.Set(start)
		_, _, err = b.e.RevokeToken(ctx, "test", "bootstrap-2", "")
		require.NoError(t, err)
		_, err = b.e.CreateToken(ctx, "test", TokenParams{Name: "short", Role: "admin", Hash: "hash-3", ExpiresAt: start.Add(time.Hour)})
		require.NoError(t, err)
		out, err = b.e.Bootstrap(ctx, "hash-4")
		require.NoError(t, err)
		require.Equal(t, BootstrapIgnored, out)
		b.clock.Set(start.Add(time.Hour))
		out, err = b.e.Bootstrap(ctx, "hash-4")
		require.NoError(t, err)
		require.Equal(t, BootstrapCreated, out)
	})
}

func TestTokenNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "sqlite", testConfig())
	for _, name := range []string{"bakery", "Bakery", "BAKERY", "", "a b", "x/y"} {
		_, err := b.e.CreateToken(ctx, "test", TokenParams{Name: name, Role: "viewer", Hash: "h-" + name})
		require.ErrorIs(t, err, ErrInvalid, name)
	}
	_, err := b.e.CreateToken(ctx, "test", TokenParams{Name: "bakery", Role: "viewer", Hash: "h"})
	require.ErrorContains(t, err, "reserved")
	_, err = b.e.CreateToken(ctx, "test", TokenParams{Name: "bakery-ci", Role: "viewer", Hash: "h1"})
	require.NoError(t, err, "only the exact name is reserved")
	_, err = b.e.CreateToken(ctx, "test", TokenParams{Name: "bakery-ci", Role: "viewer", Hash: "h2"})
	require.ErrorIs(t, err, ErrConflict)
	_, err = b.e.CreateToken(ctx, "test", TokenParams{Name: "old", Role: "viewer", Hash: "h3", ExpiresAt: start.Add(-time.Second)})
	require.ErrorIs(t, err, ErrInvalid, "an expiry in the past")
}

func TestRevokeTokenEndsSessionsAndIsRecorded(t *testing.T) {
	t.Parallel()
	forBoth(t, func(t *testing.T, db string) {
		ctx := context.Background()
		b := setup(t, db, testConfig())
		admin, err := b.e.CreateToken(ctx, "test", TokenParams{Name: "root", Role: "admin", Hash: "hr"})
		require.NoError(t, err)
		ana, err := b.e.CreateToken(WithActorToken(ctx, admin.ID), "root", TokenParams{Name: "ana", Role: "deployer", Hash: "ha"})
		require.NoError(t, err)
		for _, h := range []string{"s1", "s2"} {
			_, err := b.e.SessionStart(ctx, store.SessionInsertParams{Hash: h, TokenID: ana.ID, CreatedAt: start, ExpiresAt: start.Add(time.Hour)})
			require.NoError(t, err)
		}
		tok, ended, err := b.e.RevokeToken(WithActorToken(ctx, admin.ID), "root", "ana", "left the team")
		require.NoError(t, err)
		require.Equal(t, 2, ended)
		require.True(t, tok.Revoked())
		_, err = b.st.SessionGetByHash(ctx, "s1")
		require.ErrorIs(t, err, store.ErrNotFound, "revocation ends the token's sessions at once")
		_, _, err = b.e.RevokeToken(ctx, "root", "ana", "")
		require.ErrorIs(t, err, ErrConflict)
		_, _, err = b.e.RevokeToken(ctx, "root", "nobody", "")
		require.ErrorIs(t, err, ErrNotFound)

		events, err := b.st.EventList(ctx, &store.EventListParams{})
		require.NoError(t, err)
		var revoked *pipeline.Event
		for i, e := range events {
			if e.Type == pipeline.EventTokenRevoked {
				revoked = &events[i]
			}
			if e.Type == pipeline.EventTokenCreated && e.Data["name"] == "ana" {
				require.Equal(t, admin.ID, e.ActorTokenID, "the creating token by id")
			}
		}
		require.NotNil(t, revoked)
		require.Equal(t, "root", revoked.Actor)
		require.Equal(t, admin.ID, revoked.ActorTokenID)
		require.Contains(t, revoked.Reason, "left the team")
	})
}

func TestEventsRecordTheActorsTokenID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setup(t, "sqlite", testConfig())
	ctx7 := WithActorToken(ctx, 7)
	_, err := b.e.Lock(ctx7, "ana", LockParams{Service: "web", Environment: "production", Reason: "incident"})
	require.NoError(t, err)
	_, err = b.e.CreateRelease(ctx7, "ana", ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	b.settle(t, "web")
	events, err := b.st.EventList(ctx, &store.EventListParams{})
	require.NoError(t, err)
	var mine, automatic int
	for _, e := range events {
		if e.Actor == "ana" {
			require.Equal(t, int64(7), e.ActorTokenID, e.Type)
			mine++
		} else if e.Actor == pipeline.ActorSystem {
			require.Zero(t, e.ActorTokenID, "bakery's own decisions carry no token: %s", e.Type)
			automatic++
		}
	}
	require.GreaterOrEqual(t, mine, 2)
	require.Positive(t, automatic)
}
