package notify

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPerDestinationShare: one destination's drain jobs take at most
// PerDestination workers; another destination is not counted against it.
func TestPerDestinationShare(t *testing.T) {
	t.Parallel()
	n := New(Options{})
	for i := 0; i < PerDestination; i++ {
		require.True(t, n.acquire("slow"))
	}
	require.False(t, n.acquire("slow"), "a slow destination cannot take every worker")
	require.True(t, n.acquire("slack"), "other destinations have their own share")
	n.release("slow")
	require.True(t, n.acquire("slow"))
}
