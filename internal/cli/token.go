package cli

import (
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Manage API tokens: create, list, revoke (needs an admin token)",
		Long: `Manage API tokens. Roles, weakest first:

  banner    reads the banner route (for banner.js in apps' pages) and nothing else
  viewer    reads everything: services, releases, deployments and their output, events
  deployer  also creates releases, locks and unlocks, skips bakes, rolls back
            (and makes emergency deploys if created with --emergency)
  admin     also creates, lists and revokes tokens

Only a token's SHA-256 is stored; the secret is printed once, at creation.`,
	}
	cmd.AddCommand(newTokenCreateCmd(g), newTokenListCmd(g), newTokenRevokeCmd(g))
	return cmd
}

func newTokenCreateCmd(g *globals) *cobra.Command {
	var req api.TokenRequest
	create := &cobra.Command{
		Use:   "create --name NAME --role ROLE [--expires 90d]",
		Short: "Create an API token (needs an admin token)",
		Long: `Create an API token. Roles: banner (the banner route only: the credential to
embed in apps' pages for banner.js), viewer (read), deployer (also create
releases and pull brakes), admin (also manage tokens). The token is printed
once; only its hash is stored. The name is recorded as the actor of
everything the token does; "bakery" is reserved (it is the actor of
bakery's own decisions), and a revoked token's name stays taken.

--expires makes the token stop working after a while: a Go duration (36h,
90m) or days (90d, 1d12h), or an RFC 3339 time (2027-03-01T00:00:00Z).
Without it the token never expires; revoke it with 'bakery token revoke'.`,
		Example: `  bakery token create --name ci --role deployer --expires 90d
  bakery token create --name shop-banner --role banner`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Name == "" {
				return fmt.Errorf("--name is required: it is recorded as the actor of everything the token does")
			}
			if _, err := api.ParseRole(req.Role); err != nil {
				return fmt.Errorf("--role: %w", err)
			}
			if req.ExpiresIn != "" {
				if _, err := time.Parse(time.RFC3339, req.ExpiresIn); err == nil {
					req.Expires, req.ExpiresIn = req.ExpiresIn, ""
				} else if _, err := api.ParseExpiry(req.ExpiresIn); err != nil {
					return fmt.Errorf("--expires: %w, or an RFC 3339 time such as 2027-03-01T00:00:00Z", err)
				}
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Name      string     `json:"name"`
				Role      string     `json:"role"`
				Token     string     `json:"token"`
				ExpiresAt *time.Time `json:"expires_at"`
			}
			if err := c.do(cmd.Context(), "POST", "/api/v1/tokens", req, &out); err != nil {
				return fmt.Errorf("error creating token %s: %w", req.Name, err)
			}
			fmt.Fprintln(g.out, out.Token)
			expiry := "never expires"
			if out.ExpiresAt != nil {
				expiry = "expires " + out.ExpiresAt.Local().Format(time.RFC3339)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "token %s (%s, %s) created; it is shown once, store it now\n", out.Name, out.Role, expiry)
			return nil
		},
	}
	create.Flags().StringVar(&req.Name, "name", "", "name of the token (recorded as the actor of its commands)")
	create.Flags().StringVar(&req.Role, "role", "viewer", "banner, viewer, deployer or admin")
	create.Flags().BoolVar(&req.Emergency, "emergency", false, "let this deployer token make emergency deploys (admins always may)")
	create.Flags().StringVar(&req.ExpiresIn, "expires", "", "lifetime (90d, 36h, 1d12h) or RFC 3339 time; default never")
	return create
}

func newTokenListCmd(g *globals) *cobra.Command {
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--json]",
		Short: "List API tokens: name, role, created, last used, expires (needs an admin token)",
		Long: `List every API token, revoked and expired ones included, with its role, when
it was created, when it was last used (recorded at most once a minute) and
when it expires. Secrets are never shown: they are not stored.

--json prints {"tokens": [{"id", "name", "role", "emergency", "created_at",
"last_used_at", "expires_at", "revoked_at", "state"}]}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			var out struct {
				Tokens []api.TokenView `json:"tokens"`
			}
			if err := c.do(cmd.Context(), "GET", "/api/v1/tokens", nil, &out); err != nil {
				return fmt.Errorf("error listing tokens: %w", err)
			}
			if asJSON {
				return printJSON(g.out, out)
			}
			printTokens(g.out, out.Tokens, time.Now())
			return nil
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return list
}

func printTokens(w io.Writer, tokens []api.TokenView, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST USED\tEXPIRES\tSTATE")
	when := func(t *time.Time, none string) string {
		if t == nil {
			return none
		}
		return t.Local().Format("2006-01-02 15:04")
	}
	for _, t := range tokens {
		role := t.Role
		if t.Emergency {
			role += "+emergency"
		}
		state := t.State
		if t.RevokedAt != nil {
			state += " " + when(t.RevokedAt, "")
		}
		// Names are [A-Za-z0-9._-] (the API refuses others), so they
		// print as they are.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, role, when(&t.CreatedAt, "-"),
			when(t.LastUsedAt, "never"), when(t.ExpiresAt, "never"), state)
	}
	_ = tw.Flush()
}

func newTokenRevokeCmd(g *globals) *cobra.Command {
	var reason string
	revoke := &cobra.Command{
		Use:   "revoke NAME [--reason TEXT]",
		Short: "Revoke an API token at once, ending its dashboard sessions (needs an admin token)",
		Long: `Revoke an API token. From now on it is refused with 401 "token revoked", the
dashboard sessions signed in with it end at once, and a token.revoked event
is recorded. Revocation cannot be undone: create a new token instead. The
name stays taken, so that the event log stays unambiguous.`,
		Example: "  bakery token revoke ci --reason 'leaked in a build log'",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			path := "/api/v1/tokens/" + url.PathEscape(args[0])
			if reason != "" {
				path += "?reason=" + url.QueryEscape(reason)
			}
			var out struct {
				SessionsEnded int `json:"sessions_ended"`
			}
			if err := c.do(cmd.Context(), "DELETE", path, nil, &out); err != nil {
				return fmt.Errorf("error revoking token %s: %w", args[0], err)
			}
			fmt.Fprintf(g.out, "token %s revoked; %d dashboard session(s) ended\n", args[0], out.SessionsEnded)
			return nil
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (recorded in the event log)")
	return revoke
}
