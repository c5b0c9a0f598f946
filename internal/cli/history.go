package cli

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newHistoryCmd(g *globals) *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "history SERVICE",
		Short: "Show the event log of a service: every command and automatic decision",
		Long: `Show SERVICE's event log, oldest first: every command and every automatic
decision with its type, time, actor, environment, version and reason.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Events []api.EventView `json:"events"`
			}
			path := fmt.Sprintf("/api/v1/services/%s/events?limit=%d", url.PathEscape(args[0]), limit)
			if err := c.do(cmd.Context(), "GET", path, nil, &out); err != nil {
				return fmt.Errorf("error getting history of %s: %w", args[0], err)
			}
			if asJSON {
				return printJSON(g.out, out)
			}
			tw := tabwriter.NewWriter(g.out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tTYPE\tACTOR\tENVIRONMENT\tVERSION\tREASON")
			for _, e := range out.Events {
				version := e.Version
				if e.FromVersion != "" && e.ToVersion != "" && e.FromVersion != e.ToVersion {
					version = e.FromVersion + " → " + e.ToVersion
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", e.At.Local().Format(time.DateTime), termSafe(e.Type), termSafe(e.Actor),
					termSafe(dash(e.Environment)), termSafe(dash(version)), termSafe(e.Reason))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 1000, "most events to show")
	return cmd
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
