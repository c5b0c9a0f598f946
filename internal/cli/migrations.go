package cli

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newMigrationsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrations SERVICE",
		Short: "Show each environment's applied schema migrations and the drift between them",
		Long: `Show each environment's migration table (migrations.database in the
configuration) as the server last read it (read-only, in the background every
30 s and after each migration step; the age is printed first), what is applied
and where environments drift:
  skipped_rehearsal  applied in a later environment but never in an earlier one
  missing            applied in an earlier environment and missing in a later one for longer than its bake
  unreachable        the database could not be read (never shown as "no drift")
  dirty              the tool records a failed or incomplete migration
Exits non-zero when there is drift.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out api.MigrationsView
			if err := c.do(cmd.Context(), "GET", "/api/v1/services/"+url.PathEscape(args[0])+"/migrations", nil, &out); err != nil {
				return fmt.Errorf("error reading migrations of %s: %w", args[0], err)
			}
			if asJSON {
				if err := printJSON(g.out, out); err != nil {
					return err
				}
			} else {
				if out.Age != "" {
					fmt.Fprintf(g.out, "(%s)\n", termSafe(out.Age))
				}
				for _, e := range out.Environments {
					if e.Error != "" {
						fmt.Fprintf(g.out, "%-12s %-15s UNREADABLE: %s\n", termSafe(e.Name), termSafe(e.Tool), termSafe(e.Error))
						continue
					}
					applied := strings.Join(e.Applied, ", ")
					if e.Latest {
						applied = "up to " + applied
					}
					if applied == "" {
						applied = "none"
					}
					fmt.Fprintf(g.out, "%-12s %-15s %s\n", termSafe(e.Name), termSafe(e.Tool), termSafe(applied))
				}
				if len(out.Drift) == 0 {
					fmt.Fprintln(g.out, "no drift")
				}
				for _, d := range out.Drift {
					fmt.Fprintf(g.out, "! %s: %s\n", termSafe(d.Kind), termSafe(d.Message))
				}
			}
			if len(out.Drift) > 0 {
				return fmt.Errorf("%s has %d drift problem(s)", args[0], len(out.Drift))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
