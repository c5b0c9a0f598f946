package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// EventReleaseApproved is pipeline.EventReleaseApproved.
const EventReleaseApproved = pipeline.EventReleaseApproved

// ErrForbidden is returned when the one asking may not do what they ask
// (approving their own fix, or their own change where the gate says
// not_author).
var ErrForbidden = errors.New("not allowed")

// Approve records actor's approval of service's release version into env
// and decides again in the same unit of work: an approved fix may pass a
// lock there (the fix lane), an approved release may pass the approval
// gate. An approval that could count for nothing is refused, saying why.
func (e *Engine) Approve(ctx context.Context, actor, service, env, version, reason string) (pipeline.Approval, error) {
	svc, i, err := e.environment(service, env)
	if err != nil {
		return pipeline.Approval{}, err
	}
	if err := requireReason("an approval", reason); err != nil {
		return pipeline.Approval{}, err
	}
	cenv := svc.Environments[i]
	if cenv.Fix == nil && cenv.Approval == nil {
		return pipeline.Approval{}, fmt.Errorf("%w: %s of %s has neither a fix lane (fix:) nor an approval gate (approval:): nothing waits for approvals there",
			ErrInvalid, env, service)
	}
	tokenID := actorToken(ctx)
	var a pipeline.Approval
	err = e.mutate(ctx, svc.Name, func(u *unit) error {
		rel, err := u.tx.ReleaseGet(ctx, svc.Name, version)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s has no release %s", ErrNotFound, svc.Name, version)
		}
		if err != nil {
			return err
		}
		if rel.Rejected {
			return fmt.Errorf("%w: %s is rejected and is never promoted again; an approval would change nothing", ErrConflict, version)
		}
		creator := (rel.CreatorTokenID != 0 && rel.CreatorTokenID == tokenID) || (rel.Creator != "" && rel.Creator == actor)
		countsForFix := cenv.Fix != nil && rel.Fix && !creator
		countsForGate := cenv.Approval != nil && !(cenv.Approval.NotAuthor && rel.Author != "" && rel.Author == actor)
		if !countsForFix && !countsForGate {
			switch {
			case cenv.Fix != nil && rel.Fix && creator:
				return fmt.Errorf("%w: you created the fix %s; its approval into %s must come from someone else (another person's token)", ErrForbidden, version, env)
			case cenv.Approval != nil:
				return fmt.Errorf("%w: %s is the author of %s, and %s's approval gate says not_author: someone else must approve it", ErrForbidden, actor, version, env)
			default:
				return fmt.Errorf("%w: %s is not a fix release, and %s has no approval gate: only fix releases (bakery release create --fix) are approved there",
					ErrInvalid, version, env)
			}
		}
		a, err = u.tx.ApprovalInsert(ctx, &pipeline.Approval{Service: svc.Name, Environment: env, ReleaseID: rel.ID, Actor: actor,
			TokenID: tokenID, Reason: reason, CreatedAt: u.now})
		if errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("%w: %s approved %s into %s already", ErrConflict, actor, version, env)
		}
		if err != nil {
			return err
		}
		data := map[string]any{"fix": rel.Fix, "counts_for_fix_lane": countsForFix, "counts_for_gate": countsForGate}
		return u.event(&pipeline.Event{Type: EventReleaseApproved, Service: svc.Name, Environment: env, Version: version,
			Actor: actor, Reason: reason, Data: data})
	})
	if err != nil {
		return pipeline.Approval{}, err
	}
	e.log.Info("release approved", "service", svc.Name, "environment", env, "version", version, "actor", actor)
	return a, nil
}

// Approvals lists the approvals of service's release version (every
// environment).
func (e *Engine) Approvals(ctx context.Context, service, version string) ([]pipeline.Approval, error) {
	svc, err := e.Service(service)
	if err != nil {
		return nil, err
	}
	rel, err := e.store.ReleaseGet(ctx, svc.Name, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s has no release %s", ErrNotFound, svc.Name, version)
	}
	if err != nil {
		return nil, err
	}
	return e.store.ApprovalList(ctx, &store.ApprovalListParams{Service: svc.Name, ReleaseID: rel.ID})
}
