package engine

import (
	"errors"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// The engine's error sentinels, all in one place: the API maps each to a
// status code (api/server.go), and the CLI and dashboard show the message
// wrapped around it. Errors from the store (store.ErrNotFound,
// store.ErrConflict) are turned into these where a person's command meets
// them.
var (
	ErrUnknownService     = errors.New("unknown service")
	ErrUnknownEnvironment = errors.New("unknown environment")
	ErrDuplicate          = errors.New("release exists already")
	ErrInvalid            = errors.New("invalid input")
	ErrConflict           = errors.New("conflict")
	ErrNotFound           = errors.New("not found")
	// ErrNoCanary is returned by canary commands when no canary is
	// running in the environment.
	ErrNoCanary = errors.New("no canary is running")
	// ErrLocked is returned when a command would start a promotion into a
	// locked environment.
	ErrLocked = errors.New("environment is locked")
)

// errTakenOver says a deployment's attempt was taken over by another
// worker (this one was presumed dead): the work stops without a record.
var errTakenOver = errors.New("deployment attempt was taken over by another worker")

// Event types the dashboard names through the engine. The event types
// live in package pipeline (pipeline/events.go), in one place; these
// aliases keep the dashboard's references working until it reads them
// from there.
const (
	EventCanaryAborted  = pipeline.EventCanaryAborted
	EventCanaryWeight   = pipeline.EventCanaryWeight
	EventCanaryPromoted = pipeline.EventCanaryPromoted
	EventCanaryJudged   = pipeline.EventCanaryJudged
)
