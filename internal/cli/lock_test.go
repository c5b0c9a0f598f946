package cli

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLockBySelector: bakery lock, status, unlock and skip-bake with
// --selector, against the real API: one lock shown as the selector's, the
// hint that names it, the canonical unlock, and the errors that say what
// to do.
func TestLockBySelector(t *testing.T) {
	server := newTestServer(t)
	t.Setenv("BAKERY_TOKEN", "admin-secret")

	out := run(t, server, "lock", "--selector", "team=payments", "production", "--reason", "card network freeze", "--expires", "2h")
	require.Contains(t, out, "locked team=payments/production: card network freeze (until ")
	require.Contains(t, out, "team=payments matches 1 service(s) with production now")
	require.Contains(t, run(t, server, "status", "web"), "locked: team=payments/production by admin: card network freeze")
	require.Contains(t, run(t, server, "status", "--selector", "team=payments", "--state", "locked"), "web")
	require.Contains(t, run(t, server, "lock", "--selector", "team=search", "production", "--reason", "soon"),
		"team=search matches 0 service(s) with production now", "a selector matching nothing may lock, and says so")

	require.Contains(t, run(t, server, "lock", "--selector", "team", "production", "--reason", "x"),
		`bakery: --selector: selector "team": "team" is not key=value, such as team=payments`)
	require.Contains(t, run(t, server, "lock", "--all", "--selector", "team=payments", "production", "--reason", "x"),
		"give --all or --selector, not both")
	require.Contains(t, run(t, server, "lock", "--selector", "team=payments", "web", "production", "--reason", "x"),
		"with --selector give only the environment")

	require.Contains(t, run(t, server, "unlock", "web", "production"),
		"the selector lock team=payments/production by admin holds it (bakery unlock --selector team=payments production)")
	require.Contains(t, run(t, server, "unlock", "--selector", " team = payments", "production", "--reason", "freeze over"),
		"unlocked team=payments/production (locked by admin since ")
	require.Contains(t, run(t, server, "unlock", "--selector", "team=payments", "production"), "team=payments/production is not locked")

	require.Contains(t, run(t, server, "skip-bake", "--selector", "team=search", "production", "--reason", "x"),
		"selector team=search matches no service with production")
	require.Contains(t, run(t, server, "skip-bake", "--selector", "team=payments", "production", "--reason", "x"),
		"none has a release waiting to enter it")
	require.Contains(t, run(t, server, "skip-bake", "--selector", "team=payments", "production"), "--reason is required")
}
