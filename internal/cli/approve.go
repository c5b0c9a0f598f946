package cli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newApproveCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "approve SERVICE ENV VERSION --reason R",
		Short: "Approve a release into an environment (the fix lane, the approval gate)",
		Long: `Approve VERSION of SERVICE into ENV; the approval is recorded with your token
and reason.

In an environment with a fix lane (fix: {bake: 10m, approvals: 1}), a fix
release (bakery release create --fix) passes the environment's locks once it
has baked for the lane's time and enough people other than its creator have
approved it; the creator's own approval is refused. In an environment with an
approval gate (approval: {required: true, count: 1, not_author: true}), a baked
release waits until it has count approvals (with not_author, not its author's).
The status of the environment says what a release waits for and who may
approve it.`,
		Example: `  bakery approve web production 9be01d4 --reason "reviewed the revert; INC-42"`,
		Args:    cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			if reason == "" {
				return errors.New("--reason is required: say why you approve (it goes on the record with your name)")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Approval api.ApprovalView `json:"approval"`
			}
			path := "/api/v1/services/" + url.PathEscape(args[0]) + "/environments/" + url.PathEscape(args[1]) + "/releases/" +
				url.PathEscape(args[2]) + "/approve"
			if err := c.do(cmd.Context(), "POST", path, api.ReasonRequest{Reason: reason}, &out); err != nil {
				return fmt.Errorf("error approving %s of %s into %s: %w", args[2], args[0], args[1], err)
			}
			fmt.Fprintf(g.out, "%s approved %s into %s; 'bakery status %s' says what it waits for now\n", termSafe(out.Approval.Actor),
				termSafe(args[2]), termSafe(args[1]), termSafe(args[0]))
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}
