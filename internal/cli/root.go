// Package cli is bakery's command line: one file per verb. Every verb but
// serve, validate and demo talks to a server's API.
package cli

import (
	"io"
	"os"

	"github.com/spf13/cobra"
)

// globals are the flags every API verb shares.
type globals struct {
	server string
	out    io.Writer
}

// NewRoot builds the bakery command tree.
func NewRoot() *cobra.Command { return newRoot(os.Stdout) }

// newRoot builds the command tree printing to out (tests read it).
func newRoot(out io.Writer) *cobra.Command {
	g := &globals{out: out}
	root := &cobra.Command{
		Use:   "bakery",
		Short: "A deployment pipeline: staging first, bake, then production by itself",
		Long: `bakery ships every release to staging, lets it bake there while people and
checks use it, and promotes it to production by itself unless someone pulls
the brake.

Commands that talk to a server read its address from --server or
BAKERY_SERVER (default http://127.0.0.1:8080) and an API token from
BAKERY_TOKEN. For an https:// server whose certificate the system does not
trust (self-signed, or from a private CA), BAKERY_CA_CERT names a PEM file
with that certificate or its CA's.

Text that comes from the server (reasons, messages, authors, lock holders,
check results, errors) is printed with control characters, escape sequences
and bidi overrides shown as escapes such as \x1b or \u202e, so it cannot
rewrite your terminal; --json prints it unchanged (JSON-escaped).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.server, "server", "", "bakery server URL (default $BAKERY_SERVER or http://127.0.0.1:8080)")
	root.AddCommand(
		newServeCmd(),
		newValidateCmd(),
		newConfigCmd(),
		newReleaseCmd(g),
		newStatusCmd(g),
		newHistoryCmd(g),
		newWatchCmd(g),
		newTokenCmd(g),
		newLockCmd(g),
		newUnlockCmd(g),
		newSkipBakeCmd(g),
		newEmergencyCmd(g),
		newRollbackCmd(g),
		newMigrationsCmd(g),
		newCanaryCmd(g),
		newInsightsCmd(g),
		newBackupCmd(g),
		newRestoreCmd(g),
		newHealthcheckCmd(g),
		newSchemaCmd(g),
		newBisectCmd(g),
		newApproveCmd(g),
		newNotificationsCmd(g),
	)
	return root
}
