package cli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newRollbackCmd(g *globals) *cobra.Command {
	var req api.RollbackRequest
	cmd := &cobra.Command{
		Use:   "rollback SERVICE ENV [--to VERSION] --reason R",
		Short: "Redeploy the previous good release now and reject the current one",
		Long: `Redeploy the previous good release of SERVICE in ENV (or VERSION with --to)
at once. The release it replaces is marked rejected: it is never promoted
automatically again. Newer releases still are.`,
		Example: `  bakery rollback web production --reason "diffs do not load"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Reason == "" {
				return errors.New("--reason is required: say why you roll back (it goes on the record)")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Deployment api.DeploymentView `json:"deployment"`
				Rejected   api.ReleaseView    `json:"rejected"`
			}
			path := "/api/v1/services/" + url.PathEscape(args[0]) + "/environments/" + url.PathEscape(args[1]) + "/rollback"
			if err := c.do(cmd.Context(), "POST", path, req, &out); err != nil {
				return fmt.Errorf("error rolling back %s/%s: %w", args[0], args[1], err)
			}
			fmt.Fprintf(g.out, "rolling %s/%s back to %s (deployment %d); %s is rejected and will not be promoted again\n",
				termSafe(args[0]), termSafe(args[1]), termSafe(out.Deployment.Version), out.Deployment.ID, termSafe(out.Rejected.Version))
			return nil
		},
	}
	cmd.Flags().StringVar(&req.To, "to", "", "the version to go back to (default: the previous good release)")
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (required)")
	return cmd
}
