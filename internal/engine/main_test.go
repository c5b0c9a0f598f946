package engine

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them.
//
// The recovery tests kill a replica the way a crash does (recovery_test.go:
// its store closed at once, without resigning): River's own goroutines of
// that client (and the one stopping them) then wind down on River's retry sleeps (resigning
// leadership, completing jobs against a closed database) for longer than
// goleak waits. Those are River's, started by a client the test
// abandoned on purpose; every other goroutine still fails the run.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("github.com/riverqueue/river/internal/leadership.(*Elector).attemptResignLoop"),
		goleak.IgnoreAnyFunction("github.com/riverqueue/river/internal/jobcompleter.withRetries[...]"),
		goleak.IgnoreAnyFunction("github.com/riverqueue/river.(*subscriptionManager).Start.func1"),
		goleak.IgnoreAnyFunction("github.com/riverqueue/river/rivershared/startstop.StopAllParallel.func1"),
		goleak.IgnoreAnyFunction("github.com/riverqueue/river/rivershared/startstop.StopAllParallel"),
	)
}
