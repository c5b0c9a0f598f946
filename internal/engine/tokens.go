package engine

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// TokenParams is a new API token.
type TokenParams struct {
	Name string
	Role string
	// Emergency lets a deployer token make emergency deploys.
	Emergency bool
	// Hash is the SHA-256 of the secret; the secret itself is never
	// stored.
	Hash string
	// ExpiresAt is when the token stops working (zero: never).
	ExpiresAt time.Time
}

var tokenName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// UseInterval is how often at most a token's or a session's last use is
// written: often enough to tell a token in use from a forgotten one, rarely
// enough that reading costs no write.
const UseInterval = time.Minute

// CreateToken stores a token's hash under p.Name with p.Role and records
// who created it.
func (e *Engine) CreateToken(ctx context.Context, actor string, p TokenParams) (store.Token, error) {
	if !tokenName.MatchString(p.Name) {
		return store.Token{}, fmt.Errorf("%w: token name %q must be 1-64 characters from a-z A-Z 0-9 . _ - (it is recorded as the actor of events)", ErrInvalid, p.Name)
	}
	if strings.EqualFold(p.Name, pipeline.ActorSystem) {
		return store.Token{}, fmt.Errorf("%w: the token name %q is reserved: events record it as the actor of bakery's own automatic decisions, so a token with that name could pass its commands off as bakery's; choose another name",
			ErrInvalid, p.Name)
	}
	now := e.clock.Now()
	if !p.ExpiresAt.IsZero() && !p.ExpiresAt.After(now) {
		return store.Token{}, fmt.Errorf("%w: the expiry %s is not in the future", ErrInvalid, p.ExpiresAt.Format(time.RFC3339))
	}
	var tok store.Token
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		tok, err = e.createTokenTx(ctx, tx, actor, p, now)
		return err
	})
	if err != nil {
		return store.Token{}, err
	}
	e.log.Info("token created", "token", tok.Name, "role", tok.Role, "actor", actor)
	return tok, nil
}

func (e *Engine) createTokenTx(ctx context.Context, tx store.Tx, actor string, p TokenParams, now time.Time) (store.Token, error) {
	tok, err := tx.TokenInsert(ctx, &store.TokenInsertParams{Name: p.Name, Role: p.Role, Emergency: p.Emergency, Hash: p.Hash,
		CreatedAt: now, ExpiresAt: p.ExpiresAt})
	if errors.Is(err, store.ErrConflict) {
		return store.Token{}, fmt.Errorf("%w: a token named %s exists already (revoked tokens keep their names, so that the event log stays unambiguous); choose another name",
			ErrConflict, p.Name)
	}
	if err != nil {
		return store.Token{}, err
	}
	data := map[string]any{"name": p.Name, "role": p.Role, "emergency": p.Emergency, "token_id": tok.ID}
	if !p.ExpiresAt.IsZero() {
		data["expires_at"] = tok.ExpiresAt.Format(time.RFC3339)
	}
	_, err = tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventTokenCreated, Actor: actor,
		Reason: fmt.Sprintf("token %s with role %s", p.Name, p.Role), Data: data})
	return tok, err
}

// RevokeToken revokes the token named name and, in the same transaction,
// ends its dashboard sessions. It returns the token and how many sessions
// ended.
func (e *Engine) RevokeToken(ctx context.Context, actor, name, reason string) (store.Token, int, error) {
	var tok store.Token
	var ended int
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := e.clock.Now()
		t, err := tx.TokenGetByName(ctx, name)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: no token is named %q ('bakery token list' shows them)", ErrNotFound, name)
		}
		if err != nil {
			return err
		}
		if t.Revoked() {
			return fmt.Errorf("%w: token %s was revoked already, at %s", ErrConflict, name, t.RevokedAt.Format(time.RFC3339))
		}
		if tok, err = tx.TokenRevoke(ctx, &store.TokenRevokeParams{ID: t.ID, At: now}); err != nil {
			return err
		}
		if ended, err = tx.SessionDeleteByToken(ctx, t.ID); err != nil {
			return err
		}
		why := fmt.Sprintf("token %s with role %s revoked", name, t.Role)
		if reason != "" {
			why += ": " + reason
		}
		_, err = tx.EventInsert(ctx, &pipeline.Event{At: now, Type: pipeline.EventTokenRevoked, Actor: actor, Reason: why,
			Data: map[string]any{"name": name, "role": t.Role, "token_id": t.ID, "sessions_ended": ended}})
		return err
	})
	if err != nil {
		return store.Token{}, 0, err
	}
	e.log.Warn("token revoked", "token", name, "role", tok.Role, "actor", actor, "sessions_ended", ended)
	return tok, ended, nil
}

// TokenUsed records that tok was used now, unless a use within
// UseInterval is recorded already (then it writes nothing). A failure is
// logged, not returned: the request goes on.
func (e *Engine) TokenUsed(ctx context.Context, tok store.Token) {
	now := e.clock.Now()
	if now.Sub(tok.LastUsedAt) < UseInterval {
		return
	}
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.TokenTouch(ctx, &store.TokenTouchParams{ID: tok.ID, At: now, NotSince: now.Add(-UseInterval)})
		return err
	})
	if err != nil {
		e.log.Warn("error recording a token's use", "token", tok.Name, "error", err)
	}
}

// SessionUsed records that a dashboard session was used now, like
// TokenUsed.
func (e *Engine) SessionUsed(ctx context.Context, ss store.Session) {
	now := e.clock.Now()
	if now.Sub(ss.LastUsedAt) < UseInterval {
		return
	}
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		_, err := tx.SessionTouch(ctx, &store.SessionTouchParams{Hash: ss.Hash, At: now, NotSince: now.Add(-UseInterval)})
		return err
	})
	if err != nil {
		e.log.Warn("error recording a session's use", "token_id", ss.TokenID, "error", err)
	}
}

// BootstrapOutcome says what Bootstrap did.
type BootstrapOutcome int

// What Bootstrap did with the bootstrap token.
const (
	// BootstrapCreated: no admin token existed, so the bootstrap token
	// became one.
	BootstrapCreated BootstrapOutcome = iota + 1
	// BootstrapExists: the bootstrap token is an admin token already.
	BootstrapExists
	// BootstrapIgnored: other admin tokens exist, so the bootstrap token
	// was not made one.
	BootstrapIgnored
)

// Bootstrap makes hash an admin token named "bootstrap" (or
// "bootstrap-N" if that name is taken) — but only while no active admin
// token exists: the bootstrap token is how the first admin comes to be,
// not a back door that every restart with a new value reopens.
func (e *Engine) Bootstrap(ctx context.Context, hash string) (BootstrapOutcome, error) {
	out, err := e.bootstrap(ctx, hash)
	if errors.Is(err, ErrConflict) {
		// Another replica starting with the same value won the race; it
		// made the token, so this one finds it.
		out, err = e.bootstrap(ctx, hash)
	}
	return out, err
}

func (e *Engine) bootstrap(ctx context.Context, hash string) (BootstrapOutcome, error) {
	var out BootstrapOutcome
	var name string
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		now := e.clock.Now()
		tokens, err := tx.TokenList(ctx)
		if err != nil {
			return err
		}
		names := map[string]bool{}
		var admins []string
		for _, t := range tokens {
			names[t.Name] = true
			if t.Role == "admin" && t.Active(now) {
				admins = append(admins, t.Name)
			}
		}
		mine, err := tx.TokenGetByHash(ctx, hash)
		switch {
		case err == nil && mine.Active(now) && mine.Role == "admin":
			out, name = BootstrapExists, mine.Name
			return nil
		case err == nil && len(admins) == 0:
			return fmt.Errorf("%w: BAKERY_BOOTSTRAP_TOKEN is the secret of token %s, which is revoked, expired or not an admin; set a new value",
				ErrInvalid, mine.Name)
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return err
		}
		if len(admins) > 0 {
			out, name = BootstrapIgnored, strings.Join(admins, ", ")
			return nil
		}
		name = "bootstrap"
		for i := 2; names[name]; i++ {
			name = fmt.Sprintf("bootstrap-%d", i)
		}
		if _, err := e.createTokenTx(ctx, tx, pipeline.ActorSystem, TokenParams{Name: name, Role: "admin", Hash: hash}, now); err != nil {
			return err
		}
		out = BootstrapCreated
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("error applying the bootstrap token: %w", err)
	}
	switch out {
	case BootstrapCreated:
		e.log.Info("bootstrap token applied: it is an admin token now; create named tokens with it, then unset BAKERY_BOOTSTRAP_TOKEN", "token", name)
	case BootstrapExists:
		e.log.Info("bootstrap token is an admin token already; unset BAKERY_BOOTSTRAP_TOKEN once you have named admin tokens", "token", name)
	case BootstrapIgnored:
		e.log.Warn("BAKERY_BOOTSTRAP_TOKEN is set but ignored: an admin token exists already (revoke it with 'bakery token revoke' to bootstrap again); unset the variable",
			"admins", name)
	}
	return out, nil
}

// SessionStart stores a new dashboard session of tok and, in the same
// transaction, removes the sessions that have expired, so the table holds
// live sessions only.
func (e *Engine) SessionStart(ctx context.Context, p store.SessionInsertParams) (store.Session, error) {
	var ss store.Session
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		if _, err := tx.SessionDeleteExpired(ctx, p.CreatedAt); err != nil {
			return err
		}
		var err error
		ss, err = tx.SessionInsert(ctx, &p)
		return err
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("error starting a session: %w", err)
	}
	return ss, nil
}

// SessionEnd ends a dashboard session (sign-out). Ending one that does
// not exist is not an error.
func (e *Engine) SessionEnd(ctx context.Context, hash string) error {
	err := e.store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.SessionDelete(ctx, hash) })
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("error ending a session: %w", err)
	}
	return nil
}
