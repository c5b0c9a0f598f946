package store

import (
	"context"
	"time"
)

// Pruner deletes what retention (server.retention) no longer keeps. Each
// call is one short transaction of at most Limit rows, so a large backlog
// is worked off in small steps that never hold the database for long.
type Pruner interface {
	// EventPrune deletes the oldest events, in log order, as long as each
	// is older than p.Before, at most p.Limit of them, and returns how
	// many it deleted. It stops at the first event that is not older
	// (even if later ones are), so what remains is always an unchanged
	// tail of the log: nothing in it is changed, renumbered or missing.
	EventPrune(ctx context.Context, p *EventPruneParams) (int, error)
	// DeploymentOutputPrune clears the output tail of at most p.Limit
	// finished deployments that finished before p.FinishedBefore, oldest
	// first, and returns how many. The deployment an environment runs now
	// (its newest succeeded one) keeps its output, and the deployments
	// themselves (state, times, error) are kept.
	DeploymentOutputPrune(ctx context.Context, p *DeploymentOutputPruneParams) (int, error)
}

// EventPruneParams selects events to delete.
type EventPruneParams struct {
	Before time.Time
	Limit  int // 0 = 500
}

// DeploymentOutputPruneParams selects deployments whose output to clear.
type DeploymentOutputPruneParams struct {
	FinishedBefore time.Time
	Limit          int // 0 = 500
}
