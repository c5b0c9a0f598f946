package cli

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newEmergencyCmd(g *globals) *cobra.Command {
	var req api.EmergencyRequest
	cmd := &cobra.Command{
		Use:   "emergency SERVICE VERSION --reason R [--artifact REF]",
		Short: "Break glass: deploy VERSION straight to the last environment",
		Long: `Deploy VERSION of SERVICE straight to its last environment (production),
bypassing lower environments, bake, locks and windows. A deployment in
progress there is cancelled. Afterwards automatic promotion into that
environment is locked ("emergency deploy of VERSION") until someone unlocks,
so the next promotion cannot silently overwrite the fix.

Needs an admin token, or a deployer token created with --emergency. If
VERSION is not a release yet, --artifact creates it.`,
		Example: `  bakery emergency web 9e1f2aa --artifact registry.example.com/web:9e1f2aa --reason "revert the broken diff parser"`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Reason == "" {
				return errors.New("--reason is required: an emergency deploy goes on the record with why")
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			req.Version = args[1]
			var out struct {
				Deployment api.DeploymentView `json:"deployment"`
				Note       string             `json:"note"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/services/"+url.PathEscape(args[0])+"/emergency", req, &out); err != nil {
				return fmt.Errorf("error making the emergency deploy of %s %s: %w", args[0], args[1], err)
			}
			fmt.Fprintf(g.out, "emergency deploy of %s to %s started (deployment %d); %s\nfollow it with: bakery watch %s %s\n",
				termSafe(args[1]), termSafe(out.Deployment.Environment), out.Deployment.ID, termSafe(out.Note), termSafe(args[0]), termSafe(args[1]))
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Reason, "reason", "", "why (required)")
	cmd.Flags().StringVar(&req.Artifact, "artifact", "", "create the release with this artifact if it does not exist")
	cmd.Flags().StringVar(&req.Message, "message", "", "message, when creating the release")
	cmd.Flags().StringVar(&req.Author, "author", "", "author, when creating the release")
	return cmd
}
