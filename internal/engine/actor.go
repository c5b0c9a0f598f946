package engine

import (
	"context"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

type actorTokenKey struct{}

// WithActorToken returns ctx carrying the ID of the token whose command is
// being run. Every event the command writes in the actor's name (not
// bakery's own decisions taken along the way) records it as
// pipeline.Event.ActorTokenID: a name can be reused once a token is gone,
// an ID cannot.
func WithActorToken(ctx context.Context, tokenID int64) context.Context {
	return context.WithValue(ctx, actorTokenKey{}, tokenID)
}

func actorToken(ctx context.Context) int64 {
	id, _ := ctx.Value(actorTokenKey{}).(int64)
	return id
}

// actorStore stamps events with the actor's token ID in one place, so that
// no command can forget to.
type actorStore struct{ store.Store }

func (s actorStore) InTx(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	id := actorToken(ctx)
	if id == 0 {
		return s.Store.InTx(ctx, fn)
	}
	return s.Store.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return fn(ctx, actorTx{Tx: tx, tokenID: id}) })
}

type actorTx struct {
	store.Tx
	tokenID int64
}

func (t actorTx) EventInsert(ctx context.Context, e *pipeline.Event) (pipeline.Event, error) {
	if e.ActorTokenID == 0 && e.Actor != pipeline.ActorSystem {
		stamped := *e
		stamped.ActorTokenID = t.tokenID
		e = &stamped
	}
	return t.Tx.EventInsert(ctx, e)
}
