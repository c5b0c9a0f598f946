package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// ReleaseParams is a new release as a person or CI submits it.
type ReleaseParams struct {
	Service  string
	Version  string
	Artifact string
	Message  string
	Author   string
	// Migrations the release needs applied before its code deploys.
	Migrations []string
	// CommittedAt is when the release's commit was made, if known: lead
	// time starts there (else at the release's creation).
	CommittedAt time.Time
	// Fix marks a fix release (the fix lane); FixReason, required with
	// it, says what it fixes.
	Fix       bool
	FixReason string
}

// CommitSkew is how far in the future (by the server's clock) a
// release's commit time may be: clocks of CI machines drift.
const CommitSkew = 5 * time.Minute

// CreateRelease registers a release and, in the same transaction, decides
// what it means: usually that it enters the first environment at once.
func (e *Engine) CreateRelease(ctx context.Context, actor string, p ReleaseParams) (pipeline.Release, error) {
	svc, ok := e.Config().Service(p.Service)
	if !ok {
		return pipeline.Release{}, fmt.Errorf("%w %q: the configuration has %s", ErrUnknownService, p.Service, e.serviceNames())
	}
	if err := validRelease(p.Version, p.Artifact, p.Message, p.Author); err != nil {
		return pipeline.Release{}, err
	}
	if err := validateMigrationIDs(p.Migrations); err != nil {
		return pipeline.Release{}, err
	}
	if now := e.clock.Now(); p.CommittedAt.After(now.Add(CommitSkew)) {
		return pipeline.Release{}, fmt.Errorf("%w: committed_at %s is in the future (the server's clock says %s, and allows %s of skew): give the commit's time, e.g. git show -s --format=%%cI",
			ErrInvalid, p.CommittedAt.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339), CommitSkew)
	}
	if p.Fix {
		if err := requireReason("a fix release", p.FixReason); err != nil {
			return pipeline.Release{}, err
		}
	} else if p.FixReason != "" {
		return pipeline.Release{}, fmt.Errorf("%w: fix_reason is given but fix is not: mark the release as a fix (--fix), or leave the reason out", ErrInvalid)
	}
	var rel pipeline.Release
	err := e.mutate(ctx, svc.Name, func(u *unit) error {
		tx, now := u.tx, u.now
		var err error
		rel, err = tx.ReleaseInsert(ctx, &store.ReleaseInsertParams{Service: svc.Name, Version: p.Version, Artifact: p.Artifact,
			Message: p.Message, Author: p.Author, Migrations: p.Migrations, CreatedAt: now, CommittedAt: p.CommittedAt,
			Fix: p.Fix, FixReason: p.FixReason, Creator: actor, CreatorTokenID: actorToken(ctx)})
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %s has a release %s; versions are immutable, so give the new build a new version", ErrDuplicate, svc.Name, p.Version)
		}
		if err != nil {
			return err
		}
		data := map[string]any{"artifact": rel.Artifact, "message": rel.Message, "author": rel.Author, "migrations": p.Migrations}
		if !rel.CommittedAt.IsZero() {
			data["committed_at"] = rel.CommittedAt.Format(time.RFC3339Nano)
		}
		ev := &pipeline.Event{Type: pipeline.EventReleaseCreated, Service: svc.Name, Version: rel.Version, Actor: actor, Data: data}
		if p.Fix {
			data["fix"], data["fix_reason"] = true, p.FixReason
			ev.Reason = "fix: " + p.FixReason
		}
		return u.event(ev)
	})
	if err != nil {
		return pipeline.Release{}, err
	}
	e.log.Info("release created", "service", svc.Name, "version", rel.Version, "actor", actor)
	return rel, nil
}

func (e *Engine) serviceNames() string {
	cfg := e.Config()
	if len(cfg.Services) == 0 {
		return "no services"
	}
	s := "services "
	for i, svc := range cfg.Services {
		if i > 0 {
			s += ", "
		}
		s += svc.Name
	}
	return s
}

// Service looks a service up in the configuration.
func (e *Engine) Service(name string) (*config.Service, error) {
	svc, ok := e.Config().Service(name)
	if !ok {
		return nil, fmt.Errorf("%w %q: the configuration has %s", ErrUnknownService, name, e.serviceNames())
	}
	return svc, nil
}

// Status is what one service looks like now: the decision's view of every
// environment, read outside any transaction.
func (e *Engine) Status(ctx context.Context, service string) (*config.Service, pipeline.Decision, error) {
	svc, err := e.Service(service)
	if err != nil {
		return nil, pipeline.Decision{}, err
	}
	st, err := e.stateOf(ctx, e.store, svc)
	if err != nil {
		return nil, pipeline.Decision{}, err
	}
	return svc, pipeline.Decide(st, e.clock.Now()), nil
}

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.clock.Now() }
