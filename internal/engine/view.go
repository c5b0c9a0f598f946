package engine

import (
	"context"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/store"
)

// View is what a person sees of one service now (internal/readmodel), built
// from the same stored state and by the same decision the engine acts on,
// read outside any transaction. The API, the dashboard and the CLI format
// it and derive nothing of their own.
func (e *Engine) View(ctx context.Context, service string) (*config.Service, readmodel.Service, error) {
	svc, err := e.Service(service)
	if err != nil {
		return nil, readmodel.Service{}, err
	}
	st, err := e.stateOf(ctx, e.store, svc)
	if err != nil {
		return nil, readmodel.Service{}, err
	}
	return svc, readmodel.Build(st, e.clock.Now()), nil
}

// Records are the stored records the API and the dashboard list as they
// are: releases, deployments, events, locks, tokens, sessions, canaries and
// judgements. It is read-only, and it has no ServiceState: the state of a
// service's pipeline is read through View, built by the decision, never
// worked out again from the rows.
type Records interface {
	ReleaseGet(ctx context.Context, service, version string) (pipeline.Release, error)
	ReleaseGetByID(ctx context.Context, id int64) (pipeline.Release, error)
	ReleaseList(ctx context.Context, p *store.ReleaseListParams) ([]pipeline.Release, error)
	DeploymentGet(ctx context.Context, id int64) (pipeline.Deployment, error)
	DeploymentList(ctx context.Context, p *store.DeploymentListParams) ([]pipeline.Deployment, error)
	EventList(ctx context.Context, p *store.EventListParams) ([]pipeline.Event, error)
	LockList(ctx context.Context, p *store.LockListParams) ([]pipeline.Lock, error)
	TokenGetByHash(ctx context.Context, hash string) (store.Token, error)
	TokenGetByID(ctx context.Context, id int64) (store.Token, error)
	TokenList(ctx context.Context) ([]store.Token, error)
	TokenCount(ctx context.Context) (int, error)
	SessionGetByHash(ctx context.Context, hash string) (store.Session, error)
	CanaryGetByDeployment(ctx context.Context, deploymentID int64) (pipeline.Canary, error)
	CanaryList(ctx context.Context, p *store.CanaryListParams) ([]pipeline.Canary, error)
	JudgementList(ctx context.Context, p *store.JudgementListParams) ([]pipeline.Judgement, error)
}

// Records is the read-only view of the store for the API and the dashboard.
func (e *Engine) Records() Records { return e.store }

// StoreKind is "sqlite" or "postgres".
func (e *Engine) StoreKind() string { return e.store.Kind() }
