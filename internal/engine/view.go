package engine

import (
	"context"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/readmodel"
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
	st, err := e.store.ServiceState(ctx, svc.Name, e.EnvSpecs(svc))
	if err != nil {
		return nil, readmodel.Service{}, err
	}
	return svc, readmodel.Build(st, e.clock.Now()), nil
}
