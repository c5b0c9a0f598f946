package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	var req api.TokenRequest
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE",
		Short: "Create an API token (needs an admin token)",
		Long: `Create an API token. Roles: viewer (read), deployer (also create releases),
admin (also create tokens). The token is printed once; only its hash is
stored. The name is recorded as the actor of everything the token does.`,
		Example: "  bakery token create --name ci --role deployer",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Name == "" {
				return fmt.Errorf("--name is required: it is recorded as the actor of everything the token does")
			}
			if _, err := api.ParseRole(req.Role); err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Name  string `json:"name"`
				Role  string `json:"role"`
				Token string `json:"token"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/tokens", req, &out); err != nil {
				return fmt.Errorf("error creating token %s: %w", req.Name, err)
			}
			fmt.Fprintln(g.out, out.Token)
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s) created; it is shown once, store it now\n", out.Name, out.Role)
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "name of the token (recorded as the actor of its commands)")
	create.Flags().StringVar(&req.Role, "role", "viewer", "viewer, deployer or admin")
	create.Flags().BoolVar(&req.Emergency, "emergency", false, "let this deployer token make emergency deploys (admins always may)")
	cmd.AddCommand(create)
	return cmd
}
