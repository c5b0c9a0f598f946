package cli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newSkipBakeCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "skip-bake SERVICE ENV --reason R",
		Short: "End the bake of the newest release waiting for ENV now",
		Long: `The newest release waiting to enter ENV counts as baked now. The rest of the
gate still applies: a lock or a closed window still holds it.`,
		Example: `  bakery skip-bake web production --reason "hotfix verified on staging"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason is required: say why the bake may end early (it goes on the record)")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Release api.ReleaseView `json:"release"`
			}
			path := "/api/v1/services/" + url.PathEscape(args[0]) + "/environments/" + url.PathEscape(args[1]) + "/skip-bake"
			if err := c.do(cmd.Context(), "POST", path, api.ReasonRequest{Reason: reason}, &out); err != nil {
				return fmt.Errorf("error skipping the bake into %s/%s: %w", args[0], args[1], err)
			}
			fmt.Fprintf(g.out, "%s counts as baked for %s; a lock or a closed window still holds it\n", termSafe(out.Release.Version), termSafe(args[1]))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}
