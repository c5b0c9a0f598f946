package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStatusFilters: bakery status --selector and --state list only the
// services that match, and refuse to be combined with one named service.
func TestStatusFilters(t *testing.T) {
	server := newTestServer(t)
	t.Setenv("BAKERY_TOKEN", "admin-secret")
	require.Contains(t, run(t, server, "status", "--selector", "team=payments"), "web")
	require.NotContains(t, run(t, server, "status", "--selector", "team=search"), "web")
	require.NotContains(t, run(t, server, "status", "--state", "locked"), "web", "nothing is locked yet")
	run(t, server, "lock", "web", "production", "--reason", "incident")
	require.Contains(t, run(t, server, "status", "--state", "locked", "--selector", "team=payments"), "web")
	require.Contains(t, run(t, server, "status", "--selector", "team"), `"team" is not key=value`)
	require.Contains(t, run(t, server, "status", "web", "--state", "locked"), "give a service or --selector/--state, not both")
}
