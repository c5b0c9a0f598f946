package check

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any of them leaves a goroutine
// running (an idle HTTP connection, a command's waiter).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
