// Package storetest is the conformance suite every store.Store must pass.
// It runs against real databases: SQLite files and PostgreSQL.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Factory opens a new, empty database for one test. Its reopen function
// closes the store it was given and opens the same database again, as a
// restarted server would.
type Factory func(t *testing.T) (s store.Store, reopen func(t *testing.T, s store.Store) store.Store)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// Run runs the whole suite.
func Run(t *testing.T, open Factory) {
	t.Run("ReleaseInsertAndConflict", func(t *testing.T) { t.Parallel(); testRelease(t, open) })
	t.Run("OneActiveDeploymentPerEnvironment", func(t *testing.T) { t.Parallel(); testOneActive(t, open) })
	t.Run("DeploymentUpdateGuardsAttempt", func(t *testing.T) { t.Parallel(); testUpdateGuard(t, open) })
	t.Run("EventLogIsAppendOnly", func(t *testing.T) { t.Parallel(); testEvents(t, open) })
	t.Run("ServiceStateAndRestart", func(t *testing.T) { t.Parallel(); testServiceStateRestart(t, open) })
	t.Run("RollbackLeavesNothing", func(t *testing.T) { t.Parallel(); testRollback(t, open) })
	t.Run("Tokens", func(t *testing.T) { t.Parallel(); testTokens(t, open) })
	t.Run("TokenLifecycle", func(t *testing.T) { t.Parallel(); testTokenLifecycle(t, open) })
	t.Run("Sessions", func(t *testing.T) { t.Parallel(); testSessions(t, open) })
	t.Run("LeaderElection", func(t *testing.T) { t.Parallel(); testLeader(t, open) })
	t.Run("ConcurrentDecisionsSerialise", func(t *testing.T) { t.Parallel(); testConcurrentInsert(t, open) })
	t.Run("LocksAndRejection", func(t *testing.T) { t.Parallel(); testLocks(t, open) })
	t.Run("SelectorLocks", func(t *testing.T) { t.Parallel(); testSelectorLocks(t, open) })
	t.Run("Migrations", func(t *testing.T) { t.Parallel(); testMigrations(t, open) })
	t.Run("CheckResults", func(t *testing.T) { t.Parallel(); testCheckResults(t, open) })
	t.Run("CanariesAndJudgements", func(t *testing.T) { t.Parallel(); testCanaries(t, open) })
	t.Run("JobsCommitOrVanish", func(t *testing.T) { t.Parallel(); testJobs(t, open) })
	t.Run("ReplicaHeartbeats", func(t *testing.T) { t.Parallel(); testReplicas(t, open) })
	t.Run("EventCursorsAndCommitTime", func(t *testing.T) { t.Parallel(); testCursors(t, open) })
	t.Run("Bisects", func(t *testing.T) { t.Parallel(); testBisects(t, open) })
	t.Run("Approvals", func(t *testing.T) { t.Parallel(); testApprovals(t, open) })
	t.Run("GitHub", func(t *testing.T) { t.Parallel(); testGitHub(t, open) })
	t.Run("Exposure", func(t *testing.T) { t.Parallel(); testExposure(t, open) })
	t.Run("NotificationDeliveries", func(t *testing.T) { t.Parallel(); testDeliveries(t, open) })
}

func mustRelease(t *testing.T, s store.Store, service, version string) pipeline.Release {
	t.Helper()
	var rel pipeline.Release
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, service, t0); err != nil {
			return err
		}
		var err error
		rel, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: service, Version: version, Artifact: "img:" + version,
			Message: "change " + version, Author: "ana", CreatedAt: t0})
		return err
	}))
	return rel
}

func mustDeployment(t *testing.T, s store.Store, rel pipeline.Release, env string) pipeline.Deployment {
	t.Helper()
	var d pipeline.Deployment
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		var err error
		d, err = tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: rel.Service, Environment: env, ReleaseID: rel.ID,
			Kind: pipeline.KindAuto, Actor: pipeline.ActorSystem, Reason: "test", CreatedAt: t0})
		return err
	}))
	return d
}

func update(t *testing.T, s store.Store, p *store.DeploymentUpdateParams) (pipeline.Deployment, error) {
	t.Helper()
	var d pipeline.Deployment
	err := s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		var err error
		d, err = tx.DeploymentUpdate(ctx, p)
		return err
	})
	return d, err
}

func testRelease(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	rel := mustRelease(t, s, "web", "abc123")
	require.NotZero(t, rel.ID)
	require.Equal(t, "img:abc123", rel.Artifact)
	require.True(t, rel.CreatedAt.Equal(t0))

	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "abc123", CreatedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict)

	// The same version in another service is another release.
	mustRelease(t, s, "api", "abc123")

	got, err := s.ReleaseGet(ctx, "web", "abc123")
	require.NoError(t, err)
	require.Equal(t, rel, got)
	_, err = s.ReleaseGet(ctx, "web", "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	mustRelease(t, s, "web", "def456")
	list, err := s.ReleaseList(ctx, &store.ReleaseListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "def456", list[0].Version, "newest first")
}

func testOneActive(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	a := mustRelease(t, s, "web", "a")
	b := mustRelease(t, s, "web", "b")
	d := mustDeployment(t, s, a, "staging")
	require.Equal(t, pipeline.DeploymentPending, d.State)
	require.Equal(t, "a", d.Version)

	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: "web", Environment: "staging", ReleaseID: b.ID,
			Kind: pipeline.KindAuto, Actor: "bakery", CreatedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict, "a second active deployment in one environment must be refused")

	// Another environment is free.
	mustDeployment(t, s, a, "production")

	// Once the first ends, the next may start.
	_, err = update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending},
		State: pipeline.DeploymentSucceeded, FinishedAt: t0})
	require.NoError(t, err)
	mustDeployment(t, s, b, "staging")
}

func testUpdateGuard(t *testing.T, open Factory) {
	s, _ := open(t)
	a := mustRelease(t, s, "web", "a")
	d := mustDeployment(t, s, a, "staging")
	running := []pipeline.DeploymentState{pipeline.DeploymentRunning}
	pending := []pipeline.DeploymentState{pipeline.DeploymentPending}

	got, err := update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, FromStates: pending, State: pipeline.DeploymentRunning,
		StartedAt: t0, Heartbeat: t0})
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentRunning, got.State)
	require.True(t, got.StartedAt.Equal(t0))

	// A second worker for the same attempt cannot start it again.
	_, err = update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, FromStates: pending, State: pipeline.DeploymentRunning})
	require.ErrorIs(t, err, store.ErrNotFound)

	// The attempt is taken over (interrupted → attempt 2, pending again).
	_, err = update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, FromStates: running, State: pipeline.DeploymentPending, NewAttempt: 2})
	require.NoError(t, err)

	// The old worker's late finish is refused; nothing is overwritten.
	out := "late"
	_, err = update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, FromStates: running, State: pipeline.DeploymentSucceeded,
		FinishedAt: t0, Output: &out})
	require.ErrorIs(t, err, store.ErrNotFound)

	msg := "exit status 3"
	got, err = update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 2, FromStates: pending, State: pipeline.DeploymentFailed,
		FinishedAt: t0.Add(time.Minute), Error: &msg})
	require.NoError(t, err)
	require.Equal(t, pipeline.DeploymentFailed, got.State)
	require.Equal(t, 2, got.Attempt)
	require.Equal(t, msg, got.Error)
	require.Empty(t, got.Output)
}

func testEvents(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	var first pipeline.Event
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		first, err = tx.EventInsert(ctx, &pipeline.Event{At: t0, Type: pipeline.EventReleaseCreated, Service: "web", Version: "a",
			Actor: "ci", ActorTokenID: 42, Reason: "merge", Data: map[string]any{"artifact": "img:a"}})
		if err != nil {
			return err
		}
		_, err = tx.EventInsert(ctx, &pipeline.Event{At: t0.Add(time.Second), Type: pipeline.EventDeploymentStarted, Service: "api",
			Environment: "staging", Version: "x", FromVersion: "w", ToVersion: "x", Actor: "bakery", DeploymentID: 7})
		return err
	}))
	all, err := s.EventList(ctx, &store.EventListParams{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, first.ID, all[0].ID)
	require.Equal(t, "img:a", all[0].Data["artifact"])
	require.Equal(t, int64(42), all[0].ActorTokenID, "a command's event names its token by id")
	require.Zero(t, all[1].ActorTokenID, "an automatic decision has no token")
	require.Equal(t, int64(7), all[1].DeploymentID)
	require.Equal(t, "w", all[1].FromVersion)

	web, err := s.EventList(ctx, &store.EventListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, web, 1)
	after, err := s.EventList(ctx, &store.EventListParams{AfterID: first.ID})
	require.NoError(t, err)
	require.Len(t, after, 1)
	require.Equal(t, "api", after[0].Service)
	since, err := s.EventList(ctx, &store.EventListParams{Since: t0.Add(time.Second)})
	require.NoError(t, err)
	require.Len(t, since, 1, "Since leaves out the events before it")
	require.Equal(t, "api", since[0].Service)
	webSince, err := s.EventList(ctx, &store.EventListParams{Service: "web", Since: t0.Add(time.Second)})
	require.NoError(t, err)
	require.Empty(t, webSince)

	// Rule 11: the log cannot be rewritten, even by a direct statement.
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return execRaw(ctx, tx, `UPDATE events SET reason = 'rewritten'`)
	})
	require.Error(t, err)
	require.Contains(t, err.Error(), "append-only")
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return execRaw(ctx, tx, `DELETE FROM events`)
	})
	require.Error(t, err)
	all, err = s.EventList(ctx, &store.EventListParams{})
	require.NoError(t, err)
	require.Len(t, all, 2)
	require.Equal(t, "merge", all[0].Reason)
}

// RawExecer lets the suite try writes the store's API does not offer, to
// prove the database itself refuses them.
type RawExecer interface {
	RawExec(ctx context.Context, q string) error
}

func execRaw(ctx context.Context, tx store.Tx, q string) error {
	r, ok := tx.(RawExecer)
	if !ok {
		return errors.New("store does not support raw statements")
	}
	return r.RawExec(ctx, q)
}

func testServiceStateRestart(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	envs := []pipeline.EnvSpec{{Name: "staging"}, {Name: "production", Bake: time.Hour}}
	a := mustRelease(t, s, "web", "a")
	b := mustRelease(t, s, "web", "b")
	c := mustRelease(t, s, "web", "c")
	mustRelease(t, s, "api", "z")
	for _, step := range []struct {
		rel pipeline.Release
		env string
	}{{a, "staging"}, {a, "production"}, {b, "staging"}} {
		d := mustDeployment(t, s, step.rel, step.env)
		_, err := update(t, s, &store.DeploymentUpdateParams{ID: d.ID, Attempt: 1, State: pipeline.DeploymentSucceeded, FinishedAt: t0})
		require.NoError(t, err)
	}
	mustDeployment(t, s, c, "staging") // pending
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.MarkInsert(ctx, &store.MarkInsertParams{ReleaseID: b.ID, Environment: "production", Kind: pipeline.MarkSuperseded,
			Actor: "bakery", CreatedAt: t0})
	}))

	check := func(s store.Store) {
		st, err := s.ServiceState(ctx, "web", envs)
		require.NoError(t, err)
		var versions []string
		for _, r := range st.Releases {
			versions = append(versions, r.Version)
		}
		require.Equal(t, []string{"a", "b", "c"}, versions)
		require.Len(t, st.Deployments, 4)
		require.Len(t, st.Marks, 1)
		d := pipeline.Decide(st, t0.Add(2*time.Hour))
		require.Equal(t, "a", d.Environments[1].Current.Version)
		require.Equal(t, pipeline.WaitDeployment, d.Environments[0].Wait.Kind)
		require.Empty(t, d.Promotions, "b is superseded in production, c is not in staging yet")
	}
	check(s)
	s = reopen(t, s)
	check(s)
}

func testRollback(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, "web", t0); err != nil {
			return err
		}
		if _, err := tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "a", CreatedAt: t0}); err != nil {
			return err
		}
		if _, err := tx.EventInsert(ctx, &pipeline.Event{At: t0, Type: pipeline.EventReleaseCreated, Service: "web", Actor: "x"}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	_, err = s.ReleaseGet(ctx, "web", "a")
	require.ErrorIs(t, err, store.ErrNotFound, "nothing is half-applied after an error")
	events, err := s.EventList(ctx, &store.EventListParams{})
	require.NoError(t, err)
	require.Empty(t, events)
}

func testTokens(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	n, err := s.TokenCount(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TokenInsert(ctx, &store.TokenInsertParams{Name: "ci", Role: "deployer", Hash: "h1", CreatedAt: t0})
		return err
	}))
	tok, err := s.TokenGetByHash(ctx, "h1")
	require.NoError(t, err)
	require.Equal(t, "ci", tok.Name)
	require.Equal(t, "deployer", tok.Role)
	_, err = s.TokenGetByHash(ctx, "h2")
	require.ErrorIs(t, err, store.ErrNotFound)
	byID, err := s.TokenGetByID(ctx, tok.ID)
	require.NoError(t, err)
	require.Equal(t, tok, byID)
	_, err = s.TokenGetByID(ctx, tok.ID+100)
	require.ErrorIs(t, err, store.ErrNotFound)
	byName, err := s.TokenGetByName(ctx, "ci")
	require.NoError(t, err)
	require.Equal(t, tok, byName)
	_, err = s.TokenGetByName(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TokenInsert(ctx, &store.TokenInsertParams{Name: "ci", Role: "admin", Hash: "h3", CreatedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict)
}

func mustToken(t *testing.T, s store.Store, p *store.TokenInsertParams) store.Token {
	t.Helper()
	var tok store.Token
	require.NoError(t, s.InTx(context.Background(), func(ctx context.Context, tx store.Tx) error {
		var err error
		tok, err = tx.TokenInsert(ctx, p)
		return err
	}))
	return tok
}

func testTokenLifecycle(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	ci := mustToken(t, s, &store.TokenInsertParams{Name: "ci", Role: "deployer", Hash: "h1", CreatedAt: t0})
	temp := mustToken(t, s, &store.TokenInsertParams{Name: "temp", Role: "viewer", Hash: "h2", CreatedAt: t0,
		ExpiresAt: t0.Add(90 * 24 * time.Hour)})
	require.True(t, ci.ExpiresAt.IsZero(), "no expiry")
	require.True(t, ci.LastUsedAt.IsZero(), "never used")
	require.True(t, temp.ExpiresAt.Equal(t0.Add(90*24*time.Hour)))
	require.True(t, temp.Active(t0.Add(89*24*time.Hour)))
	require.False(t, temp.Active(t0.Add(90*24*time.Hour)), "expired at its expiry")

	touch := func(p *store.TokenTouchParams) bool {
		var wrote bool
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			wrote, err = tx.TokenTouch(ctx, p)
			return err
		}))
		return wrote
	}
	require.True(t, touch(&store.TokenTouchParams{ID: ci.ID, At: t0.Add(time.Minute), NotSince: t0}), "first use")
	require.False(t, touch(&store.TokenTouchParams{ID: ci.ID, At: t0.Add(90 * time.Second), NotSince: t0.Add(30 * time.Second)}),
		"used within the interval: not written again")
	require.True(t, touch(&store.TokenTouchParams{ID: ci.ID, At: t0.Add(3 * time.Minute), NotSince: t0.Add(2 * time.Minute)}))
	got, err := s.TokenGetByHash(ctx, "h1")
	require.NoError(t, err)
	require.True(t, got.LastUsedAt.Equal(t0.Add(3*time.Minute)), got.LastUsedAt)

	revoke := func(id int64) (store.Token, error) {
		var tok store.Token
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			tok, err = tx.TokenRevoke(ctx, &store.TokenRevokeParams{ID: id, At: t0.Add(time.Hour)})
			return err
		})
		return tok, err
	}
	revoked, err := revoke(ci.ID)
	require.NoError(t, err)
	require.True(t, revoked.Revoked())
	require.False(t, revoked.Active(t0))
	_, err = revoke(ci.ID)
	require.ErrorIs(t, err, store.ErrNotFound, "revoked once")
	_, err = revoke(ci.ID + 100)
	require.ErrorIs(t, err, store.ErrNotFound)

	// A revoked token survives a restart as revoked, still found by its
	// hash so that the API can say why it is refused; its name stays taken.
	s = reopen(t, s)
	got, err = s.TokenGetByHash(ctx, "h1")
	require.NoError(t, err)
	require.True(t, got.RevokedAt.Equal(t0.Add(time.Hour)))
	list, err := s.TokenList(ctx)
	require.NoError(t, err)
	require.Len(t, list, 2)
	require.Equal(t, "ci", list[0].Name, "oldest first")
	require.True(t, list[0].Revoked())
	require.Equal(t, temp, list[1])
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TokenInsert(ctx, &store.TokenInsertParams{Name: "ci", Role: "deployer", Hash: "h9", CreatedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict)
}

func testSessions(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	ana := mustToken(t, s, &store.TokenInsertParams{Name: "ana", Role: "admin", Hash: "ha", CreatedAt: t0})
	bo := mustToken(t, s, &store.TokenInsertParams{Name: "bo", Role: "viewer", Hash: "hb", CreatedAt: t0})
	inTx := func(fn func(ctx context.Context, tx store.Tx) error) error { return s.InTx(ctx, fn) }
	insert := func(hash string, tok store.Token, expires time.Time) store.Session {
		var ss store.Session
		require.NoError(t, inTx(func(ctx context.Context, tx store.Tx) error {
			var err error
			ss, err = tx.SessionInsert(ctx, &store.SessionInsertParams{Hash: hash, TokenID: tok.ID, CreatedAt: t0,
				ExpiresAt: expires, UserAgent: "Firefox/140"})
			return err
		}))
		return ss
	}
	s1 := insert("s1", ana, t0.Add(12*time.Hour))
	require.Equal(t, store.Session{Hash: "s1", TokenID: ana.ID, CreatedAt: t0, ExpiresAt: t0.Add(12 * time.Hour),
		LastUsedAt: t0, UserAgent: "Firefox/140"}, s1)
	insert("s2", ana, t0.Add(time.Hour))
	insert("s3", bo, t0.Add(12*time.Hour))
	err := inTx(func(ctx context.Context, tx store.Tx) error {
		_, err := tx.SessionInsert(ctx, &store.SessionInsertParams{Hash: "s1", TokenID: bo.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict)

	got, err := s.SessionGetByHash(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, s1, got)
	_, err = s.SessionGetByHash(ctx, "nope")
	require.ErrorIs(t, err, store.ErrNotFound)

	touch := func(at, notSince time.Time) bool {
		var wrote bool
		require.NoError(t, inTx(func(ctx context.Context, tx store.Tx) error {
			var err error
			wrote, err = tx.SessionTouch(ctx, &store.SessionTouchParams{Hash: "s1", At: at, NotSince: notSince})
			return err
		}))
		return wrote
	}
	require.False(t, touch(t0.Add(30*time.Second), t0.Add(-30*time.Second)), "used at creation, within the interval")
	require.True(t, touch(t0.Add(2*time.Minute), t0.Add(time.Minute)))
	got, err = s.SessionGetByHash(ctx, "s1")
	require.NoError(t, err)
	require.True(t, got.LastUsedAt.Equal(t0.Add(2*time.Minute)))

	// Sessions survive a restart: signing in is not undone by a deploy of
	// bakery itself.
	s = reopen(t, s)
	_, err = s.SessionGetByHash(ctx, "s2")
	require.NoError(t, err)

	// Sign-out ends one session.
	require.NoError(t, inTx(func(ctx context.Context, tx store.Tx) error { return tx.SessionDelete(ctx, "s2") }))
	_, err = s.SessionGetByHash(ctx, "s2")
	require.ErrorIs(t, err, store.ErrNotFound)
	err = inTx(func(ctx context.Context, tx store.Tx) error { return tx.SessionDelete(ctx, "s2") })
	require.ErrorIs(t, err, store.ErrNotFound)

	// Revocation ends every session of the token, and only its.
	insert("s4", ana, t0.Add(time.Hour))
	var n int
	require.NoError(t, inTx(func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.SessionDeleteByToken(ctx, ana.ID)
		return err
	}))
	require.Equal(t, 2, n)
	for _, h := range []string{"s1", "s4"} {
		_, err = s.SessionGetByHash(ctx, h)
		require.ErrorIs(t, err, store.ErrNotFound, h)
	}
	_, err = s.SessionGetByHash(ctx, "s3")
	require.NoError(t, err)

	// Expired sessions are cleaned up; live ones stay.
	insert("s5", bo, t0.Add(time.Hour))
	require.NoError(t, inTx(func(ctx context.Context, tx store.Tx) error {
		var err error
		n, err = tx.SessionDeleteExpired(ctx, t0.Add(time.Hour))
		return err
	}))
	require.Equal(t, 1, n, "s5 expired at exactly now")
	_, err = s.SessionGetByHash(ctx, "s5")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.SessionGetByHash(ctx, "s3")
	require.NoError(t, err)
}

func testLeader(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	ok, err := s.LeaderAcquire(ctx, "engine", "r1", t0, 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = s.LeaderAcquire(ctx, "engine", "r2", t0.Add(5*time.Second), 10*time.Second)
	require.NoError(t, err)
	require.False(t, ok, "only one leader while the lease holds")
	ok, err = s.LeaderAcquire(ctx, "engine", "r1", t0.Add(9*time.Second), 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok, "the leader renews")
	ok, err = s.LeaderAcquire(ctx, "engine", "r2", t0.Add(18*time.Second), 10*time.Second)
	require.NoError(t, err)
	require.False(t, ok, "the renewed lease still holds")
	ok, err = s.LeaderAcquire(ctx, "engine", "r2", t0.Add(20*time.Second), 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok, "an expired lease passes on")
	require.NoError(t, s.LeaderResign(ctx, "engine", "r2"))
	ok, err = s.LeaderAcquire(ctx, "engine", "r1", t0.Add(21*time.Second), 10*time.Second)
	require.NoError(t, err)
	require.True(t, ok, "a resigned lease is free at once")
}

// testConcurrentInsert races many transactions that each read the service
// state and start a deployment if none is active, as the engine does. Only
// one may succeed per environment.
func testConcurrentInsert(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	rel := mustRelease(t, s, "web", "a")
	envs := []pipeline.EnvSpec{{Name: "staging"}}
	var wg sync.WaitGroup
	var mu sync.Mutex
	started := 0
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				if err := tx.ServiceLock(ctx, "web", t0); err != nil {
					return err
				}
				st, err := tx.ServiceState(ctx, "web", envs)
				if err != nil {
					return err
				}
				if len(st.Deployments) > 0 {
					return nil
				}
				_, err = tx.DeploymentInsert(ctx, &store.DeploymentInsertParams{Service: "web", Environment: "staging",
					ReleaseID: rel.ID, Kind: pipeline.KindAuto, Actor: "bakery", CreatedAt: t0})
				if err == nil {
					mu.Lock()
					started++
					mu.Unlock()
				}
				return err
			})
			if err != nil {
				panic(fmt.Sprintf("serialised decisions must not conflict: %v", err))
			}
		}()
	}
	wg.Wait()
	require.Equal(t, 1, started)
	ds, err := s.DeploymentList(ctx, &store.DeploymentListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, ds, 1)
}

func testLocks(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	lock := func(service, env string, expires time.Time) (pipeline.Lock, error) {
		var l pipeline.Lock
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			l, err = tx.LockInsert(ctx, &store.LockInsertParams{Service: service, Environment: env, Actor: "ana", Reason: "incident 42",
				CreatedAt: t0, ExpiresAt: expires})
			return err
		})
		return l, err
	}
	web, err := lock("web", "production", time.Time{})
	require.NoError(t, err)
	require.Equal(t, "incident 42", web.Reason)
	require.True(t, web.ExpiresAt.IsZero())
	_, err = lock("web", "production", time.Time{})
	require.ErrorIs(t, err, store.ErrConflict, "one held lock per service and environment")
	all, err := lock(pipeline.AllServices, "production", t0.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, all.ExpiresAt.Equal(t0.Add(time.Hour)))
	_, err = lock("api", "staging", time.Time{})
	require.NoError(t, err)

	held, err := s.LockList(ctx, &store.LockListParams{Service: "web"})
	require.NoError(t, err)
	require.Len(t, held, 2, "web's own lock and the lock on every service")
	held, err = s.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Len(t, held, 3)

	rel := mustRelease(t, s, "web", "a")
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.ReleaseReject(ctx, rel.ID) }))

	s = reopen(t, s)
	st, err := s.ServiceState(ctx, "web", []pipeline.EnvSpec{{Name: "staging"}, {Name: "production"}})
	require.NoError(t, err)
	require.Len(t, st.Locks, 2, "locks survive a restart")
	require.True(t, st.Releases[0].Rejected, "rejection survives a restart")

	release := func(id int64) error {
		return s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.LockRelease(ctx, &store.LockReleaseParams{ID: id, By: "ben", Reason: "fixed", At: t0.Add(time.Minute)})
		})
	}
	require.NoError(t, release(web.ID))
	require.ErrorIs(t, release(web.ID), store.ErrNotFound)
	_, err = lock("web", "production", time.Time{})
	require.NoError(t, err, "a released lock makes room for a new one")
}

// testSelectorLocks: a selector lock is one record, listed with every
// service's locks (the store knows no labels: the decision matches), one
// held per selector and environment, surviving a restart.
func testSelectorLocks(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	lock := func(service, selector, env string) (pipeline.Lock, error) {
		var l pipeline.Lock
		err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			var err error
			l, err = tx.LockInsert(ctx, &store.LockInsertParams{Service: service, Selector: selector, Environment: env,
				Actor: "ana", Reason: "payments freeze", CreatedAt: t0, ExpiresAt: t0.Add(2 * time.Hour)})
			return err
		})
		return l, err
	}
	pay, err := lock("", "team=payments", "production")
	require.NoError(t, err)
	require.Equal(t, "team=payments", pay.Selector)
	require.Equal(t, "", pay.Service)
	require.True(t, pay.ExpiresAt.Equal(t0.Add(2*time.Hour)))
	_, err = lock("", "team=payments", "production")
	require.ErrorIs(t, err, store.ErrConflict, "one held lock per selector and environment")
	_, err = lock("", "team=payments,tier=1", "production")
	require.NoError(t, err, "another selector is another lock")
	_, err = lock("", "team=payments", "staging")
	require.NoError(t, err, "another environment is another lock")
	_, err = lock("web", "", "production")
	require.NoError(t, err, "a service's own lock is not the selector's")
	_, err = lock(pipeline.AllServices, "", "production")
	require.NoError(t, err, "nor is the lock on every service")

	held, err := s.LockList(ctx, &store.LockListParams{Service: "api", Environment: "production"})
	require.NoError(t, err)
	var scopes []string
	for _, l := range held {
		scopes = append(scopes, l.Scope())
	}
	require.Equal(t, []string{"team=payments", "team=payments,tier=1", "*"}, scopes,
		"a service's locks include every selector lock (matched by the decision) and not other services' own")

	s = reopen(t, s)
	held, err = s.LockList(ctx, &store.LockListParams{})
	require.NoError(t, err)
	require.Len(t, held, 5)
	require.Equal(t, "team=payments", held[0].Selector, "the selector survives a restart")
	st, err := s.ServiceState(ctx, "billing", []pipeline.EnvSpec{{Name: "staging"}, {Name: "production"}})
	require.NoError(t, err)
	require.Len(t, st.Locks, 4, "the selector locks and the lock on every service")

	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.LockRelease(ctx, &store.LockReleaseParams{ID: pay.ID, By: "ben", Reason: "done", At: t0.Add(time.Minute)})
	}))
	_, err = lock("", "team=payments", "production")
	require.NoError(t, err, "a released selector lock makes room for a new one")
}

func testMigrations(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	var rel pipeline.Release
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, "web", t0); err != nil {
			return err
		}
		var err error
		rel, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "a", CreatedAt: t0,
			Migrations: []string{"20260101_add_users", "20260102_index"}})
		return err
	}))
	record := func(env string, at time.Time, ids ...string) {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.MigrationsSeenRecord(ctx, "web", env, ids, at)
		}))
	}
	record("staging", t0, "1", "2")
	record("staging", t0.Add(time.Hour), "2", "3")
	record("production", t0.Add(time.Minute), "1")
	s = reopen(t, s)
	ids, err := s.ReleaseMigrations(ctx, rel.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"20260101_add_users", "20260102_index"}, ids)
	seen, err := s.MigrationsSeen(ctx, "web")
	require.NoError(t, err)
	require.True(t, seen["staging"]["2"].Equal(t0), "the first sighting is kept")
	require.True(t, seen["staging"]["3"].Equal(t0.Add(time.Hour)))
	require.Len(t, seen["production"], 1)
}

func testCheckResults(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	v := 0.83
	for i, r := range []pipeline.CheckResult{
		{Environment: "production", Name: "errors", Outcome: pipeline.CheckHealthy, At: t0},
		{Environment: "production", Name: "errors", Outcome: pipeline.CheckFailing, Value: &v, Reason: "0.83 > max 0.5", ReleaseID: 7, At: t0.Add(time.Minute)},
		{Environment: "production", Name: "health", Outcome: pipeline.CheckInconclusive, Reason: "no data", At: t0},
		{Environment: "staging", Name: "errors", Outcome: pipeline.CheckHealthy, At: t0},
	} {
		r := r
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			svc := "web"
			if i == 3 {
				svc = "api"
			}
			return tx.CheckResultInsert(ctx, svc, &r)
		}))
	}
	s = reopen(t, s)
	latest, err := s.CheckResultsLatest(ctx, "web")
	require.NoError(t, err)
	require.Len(t, latest, 2, "one per environment and check, of web only")
	byName := map[string]pipeline.CheckResult{}
	for _, r := range latest {
		byName[r.Name] = r
	}
	require.Equal(t, pipeline.CheckFailing, byName["errors"].Outcome)
	require.Equal(t, 0.83, *byName["errors"].Value)
	require.Equal(t, int64(7), byName["errors"].ReleaseID)
	require.True(t, byName["errors"].At.Equal(t0.Add(time.Minute)))
	require.Nil(t, byName["health"].Value)
}

func testCanaries(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	rel := mustRelease(t, s, "web", "v1")
	dep := mustDeployment(t, s, rel, "production")
	var c pipeline.Canary
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		c, err = tx.CanaryInsert(ctx, &pipeline.Canary{DeploymentID: dep.ID, Service: "web", Environment: "production",
			ReleaseID: rel.ID, Version: "v1", State: pipeline.CanaryRunning, Step: 0, Weight: 10, StartedAt: t0, StepStartedAt: t0})
		return err
	}))
	require.Equal(t, -1, c.AppliedWeight, "no weight applied yet")
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.CanaryInsert(ctx, &pipeline.Canary{DeploymentID: dep.ID, Service: "web", Environment: "production",
			ReleaseID: rel.ID, Version: "v1", State: pipeline.CanaryRunning, StartedAt: t0, StepStartedAt: t0})
		return err
	})
	require.ErrorIs(t, err, store.ErrConflict, "one canary per deployment")

	// A guarded update: only from the states given.
	reason := "step 1 passed"
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		c, err = tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryRunning},
			State: pipeline.CanaryRunning, Step: 1, SetStep: true, Weight: 50, SetWeight: true, StepStartedAt: t0.Add(time.Minute), Reason: &reason})
		if err != nil {
			return err
		}
		return tx.CanaryWeightApplied(ctx, c.ID, 50)
	}))
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.CanaryUpdate(ctx, &store.CanaryUpdateParams{ID: c.ID, FromStates: []pipeline.CanaryState{pipeline.CanaryPromoting},
			State: pipeline.CanaryPromoted, FinishedAt: t0.Add(time.Hour)})
		return err
	})
	require.ErrorIs(t, err, store.ErrNotFound, "a canary not in FromStates is left alone")

	detail := []byte(`{"metrics":[{"name":"errors","p_value":0.001}]}`)
	for i, v := range []pipeline.Verdict{pipeline.VerdictInconclusive, pipeline.VerdictPass, pipeline.VerdictFail} {
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.JudgementInsert(ctx, &pipeline.Judgement{CanaryID: c.ID, Service: "web", Environment: "production", Version: "v1",
				Step: 1, Weight: 50, At: t0.Add(time.Duration(i) * time.Minute), From: t0, To: t0.Add(time.Duration(i) * time.Minute),
				Verdict: v, Score: float64(i * 40), Reason: string(v), Detail: detail})
			return err
		}))
	}
	s = reopen(t, s)
	got, err := s.CanaryGetByDeployment(ctx, dep.ID)
	require.NoError(t, err)
	require.Equal(t, 1, got.Step)
	require.Equal(t, 50, got.Weight)
	require.Equal(t, 50, got.AppliedWeight)
	require.Equal(t, "step 1 passed", got.Reason)
	require.True(t, got.StepStartedAt.Equal(t0.Add(time.Minute)))
	require.True(t, got.FinishedAt.IsZero())
	_, err = s.CanaryGetByDeployment(ctx, dep.ID+1000)
	require.ErrorIs(t, err, store.ErrNotFound)

	// A running deployment whose canary is observed has no worker to
	// heart-beat: it is not "interrupted".
	_, err = update(t, s, &store.DeploymentUpdateParams{ID: dep.ID, Attempt: dep.Attempt,
		FromStates: []pipeline.DeploymentState{pipeline.DeploymentPending}, State: pipeline.DeploymentRunning, StartedAt: t0, Heartbeat: t0})
	require.NoError(t, err)
	stale, err := s.DeploymentList(ctx, &store.DeploymentListParams{HeartbeatBefore: t0.Add(time.Hour)})
	require.NoError(t, err)
	require.Empty(t, stale, "an observed canary's deployment is not stale")

	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.CanaryCleaned(ctx, c.ID, t0.Add(time.Hour)) }))
	err = s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.CanaryCleaned(ctx, c.ID, t0.Add(2*time.Hour)) })
	require.ErrorIs(t, err, store.ErrNotFound, "cleaned up once")
	got, err = s.CanaryGet(ctx, c.ID)
	require.NoError(t, err)
	require.True(t, got.CleanedAt.Equal(t0.Add(time.Hour)))

	list, err := s.CanaryList(ctx, &store.CanaryListParams{Service: "web", States: []pipeline.CanaryState{pipeline.CanaryRunning}})
	require.NoError(t, err)
	require.Len(t, list, 1)
	list, err = s.CanaryList(ctx, &store.CanaryListParams{Service: "web", States: []pipeline.CanaryState{pipeline.CanaryAborted}})
	require.NoError(t, err)
	require.Empty(t, list)

	js, err := s.JudgementList(ctx, &store.JudgementListParams{CanaryID: c.ID})
	require.NoError(t, err)
	require.Len(t, js, 3)
	require.Equal(t, pipeline.VerdictFail, js[0].Verdict, "newest first")
	require.Equal(t, 80.0, js[0].Score)
	require.JSONEq(t, string(detail), string(js[0].Detail))
	require.True(t, js[0].To.Equal(t0.Add(2*time.Minute)))
	js, err = s.JudgementList(ctx, &store.JudgementListParams{Service: "web", Environment: "production", Limit: 1})
	require.NoError(t, err)
	require.Len(t, js, 1)
}

// testJobs proves the jobs port: "nothing runs before the commit" rests on a
// job enqueued in a rolled-back transaction being gone.
func testJobs(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	const kind = "storetest_job"
	list := func(s store.Store, states ...string) []store.JobRow {
		t.Helper()
		jobs, err := s.JobList(ctx, &store.JobListParams{Kinds: []string{kind}, States: states})
		require.NoError(t, err)
		return jobs
	}
	insert := func(s store.Store, jobs ...store.Job) {
		t.Helper()
		require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.JobInsert(ctx, jobs...) }))
	}

	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.JobInsert(ctx, store.Job{Kind: kind, Args: map[string]int{"n": 1}, Queue: "default"}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.Empty(t, list(s), "a job enqueued in a rolled-back transaction is gone")

	insert(s, store.Job{Kind: kind, Args: map[string]int{"n": 2}, Queue: "default", MaxAttempts: 3, UniqueByArgs: true})
	jobs := list(s)
	require.Len(t, jobs, 1, "a job enqueued in a committed transaction is there")
	require.JSONEq(t, `{"n": 2}`, string(jobs[0].Args))
	require.Equal(t, store.JobStateAvailable, jobs[0].State)
	require.Empty(t, jobs[0].Holder, "never handed out")

	insert(s, store.Job{Kind: kind, Args: map[string]int{"n": 2}, Queue: "default", UniqueByArgs: true})
	require.Len(t, list(s), 1, "a unique job is enqueued once")
	insert(s, store.Job{Kind: kind, Args: map[string]int{"n": 3}, Queue: "default", ScheduledAt: time.Now().Add(time.Hour)})
	require.Len(t, list(s, store.JobStateScheduled), 1, "a job for later waits as scheduled")

	s = reopen(t, s)
	require.Len(t, list(s), 2, "jobs survive a restart")

	// A job handed out to a worker that died: rescue makes it available
	// again; a job that is not running is left alone.
	hand := `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = CURRENT_TIMESTAMP, attempted_by = jsonb('["w1"]') WHERE id = `
	if s.Kind() == "postgres" {
		hand = `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = ARRAY['w0', 'w1'] WHERE id = `
	}
	id := jobs[0].ID
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return execRaw(ctx, tx, hand+fmt.Sprint(id)) }))
	running := list(s, store.JobStateRunning)
	require.Len(t, running, 1)
	require.Equal(t, "w1", running[0].Holder, "the last worker it was handed to")
	var rescued int
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		rescued, err = tx.JobRescue(ctx, id, id+1000)
		return err
	}))
	require.Equal(t, 1, rescued)
	require.Len(t, list(s, store.JobStateAvailable), 1)
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		rescued, err = tx.JobRescue(ctx, id)
		return err
	}))
	require.Zero(t, rescued, "an available job is not rescued again")
}

// testReplicas proves the replicas' heartbeats that job rescue relies on.
func testReplicas(t *testing.T, open Factory) {
	ctx := context.Background()
	s, _ := open(t)
	require.NotEmpty(t, s.WorkerID())
	require.NoError(t, s.ReplicaBeat(ctx, "a", t0))
	require.NoError(t, s.ReplicaBeat(ctx, "b", t0))
	require.NoError(t, s.ReplicaBeat(ctx, "a", t0.Add(time.Second)))
	reps, err := s.ReplicaList(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Replica{{ID: "a", Heartbeat: t0.Add(time.Second)}, {ID: "b", Heartbeat: t0}}, reps)
	require.NoError(t, s.ReplicaBeat(ctx, "a", t0.Add(25*time.Hour)))
	reps, err = s.ReplicaList(ctx)
	require.NoError(t, err)
	require.Equal(t, []store.Replica{{ID: "a", Heartbeat: t0.Add(25 * time.Hour)}}, reps, "a replica silent for a day is forgotten")
}

func testCursors(t *testing.T, open Factory) {
	ctx := context.Background()
	s, reopen := open(t)
	last, err := s.EventLastID(ctx)
	require.NoError(t, err)
	require.Zero(t, last, "an empty log")
	_, ok, err := s.CursorGet(ctx, "notify")
	require.NoError(t, err)
	require.False(t, ok, "a follower that never took an event has no cursor")

	var ids []int64
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		for i := 0; i < 3; i++ {
			ev, err := tx.EventInsert(ctx, &pipeline.Event{At: t0, Type: pipeline.EventReleaseCreated, Service: "web"})
			if err != nil {
				return err
			}
			ids = append(ids, ev.ID)
		}
		return tx.CursorCreate(ctx, "notify", ids[1], t0)
	}))
	require.ErrorIs(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.CursorCreate(ctx, "notify", 0, t0) }),
		store.ErrConflict, "a cursor is created once")
	last, err = s.EventLastID(ctx)
	require.NoError(t, err)
	require.Equal(t, ids[2], last)

	// A cursor moved in a transaction that rolls back stays where it was.
	boom := errors.New("boom")
	require.ErrorIs(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.CursorMove(ctx, "notify", ids[1], ids[2], t0); err != nil {
			return err
		}
		return boom
	}), boom)
	s = reopen(t, s)
	id, ok, err := s.CursorGet(ctx, "notify")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, ids[1], id, "the cursor survives a restart and a rolled-back move")
	require.ErrorIs(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.CursorMove(ctx, "notify", ids[0], ids[2], t0) }),
		store.ErrConflict, "a move from where the cursor no longer stands is refused")
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.CursorMove(ctx, "notify", ids[1], ids[2], t0) }))
	id, _, err = s.CursorGet(ctx, "notify")
	require.NoError(t, err)
	require.Equal(t, ids[2], id)
	_, ok, err = s.CursorGet(ctx, "github")
	require.NoError(t, err)
	require.False(t, ok, "cursors are per follower")

	// A release keeps its commit time, and one without has none.
	committed := t0.Add(-time.Hour)
	var rel pipeline.Release
	require.NoError(t, s.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if err := tx.ServiceLock(ctx, "web", t0); err != nil {
			return err
		}
		rel, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: "web", Version: "c1", CreatedAt: t0, CommittedAt: committed})
		return err
	}))
	require.True(t, rel.CommittedAt.Equal(committed))
	got, err := s.ReleaseGet(ctx, "web", "c1")
	require.NoError(t, err)
	require.True(t, got.CommittedAt.Equal(committed))
	require.True(t, mustRelease(t, s, "web", "c2").CommittedAt.IsZero())
}
