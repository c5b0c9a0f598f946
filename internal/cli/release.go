package cli

import (
	"fmt"
	"net/url"
	"time"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Register releases",
	}
	var req api.ReleaseRequest
	create := &cobra.Command{
		Use:   "create SERVICE VERSION",
		Short: "Register a release; it enters the first environment at once",
		Long: `Register a release of SERVICE. VERSION is a commit SHA or tag (1-128 characters
from A-Z a-z 0-9 . _ -, not starting with "-", not "." or "..") and is
immutable: registering it again is refused. No text (message, author,
artifact, reason) may hold a NUL character.
The release deploys to the first environment at once, bakes, and is promoted
onwards by itself.

--fix --reason R marks the release as a fix. It still goes through every
environment, but in an environment with a fix lane (fix: {bake: 10m,
approvals: 1}) it bakes for the lane's shorter time and passes the
environment's locks once people other than you have approved it with
'bakery approve SERVICE ENV VERSION --reason R'. The lock stays for every
other release.`,
		Example: `  bakery release create web 3f2c1ab --artifact registry.example.com/web:3f2c1ab --message "Fix login" --author ana
  bakery release create web 3f2c1ab --committed-at "$(git show -s --format=%cI 3f2c1ab)"
  bakery release create web 9be01d4 --fix --reason "INC-42: revert the cache change"`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			req.Version = args[1]
			if req.CommittedAt != "" {
				if _, err := time.Parse(time.RFC3339, req.CommittedAt); err != nil {
					return fmt.Errorf("--committed-at %q is not an RFC3339 time: write it like 2026-01-02T15:04:05Z (git show -s --format=%%cI HEAD prints it)", req.CommittedAt)
				}
			}
			if req.Fix && req.FixReason == "" {
				return fmt.Errorf("--fix needs --reason: say what the release fixes (it goes on the record and is shown to approvers)")
			}
			if !req.Fix && req.FixReason != "" {
				return fmt.Errorf("--reason is only for a fix release: add --fix, or leave --reason out")
			}
			var rel api.ReleaseView
			if err := c.do(cmd.Context(), "POST", "/api/v1/services/"+url.PathEscape(args[0])+"/releases", req, &rel); err != nil {
				return fmt.Errorf("error creating release %s of %s: %w", args[1], args[0], err)
			}
			fmt.Fprintf(g.out, "release %s of %s created; follow it with: bakery watch %s %s\n", termSafe(rel.Version), termSafe(rel.Service), termSafe(rel.Service), termSafe(rel.Version))
			if rel.Fix {
				fmt.Fprintf(g.out, "it is a fix: where a fix lane is configured, it passes locks once someone else approves it (bakery approve %s ENV %s --reason R)\n",
					termSafe(rel.Service), termSafe(rel.Version))
			}
			return nil
		},
	}
	create.Flags().StringVar(&req.Artifact, "artifact", "", "what to deploy (image reference, file path, URL); given to the deploy command as BAKERY_ARTIFACT")
	create.Flags().StringVar(&req.Message, "message", "", "commit message or summary of the change")
	create.Flags().StringVar(&req.Author, "author", "", "who made the change")
	create.Flags().StringVar(&req.CommittedAt, "committed-at", "", "when the release's newest change was committed (RFC3339, e.g. $(git show -s --format=%cI HEAD)); lead time starts there, or at the release's creation without it")
	create.Flags().BoolVar(&req.Fix, "fix", false, "mark the release as a fix (the fix lane); needs --reason")
	create.Flags().StringVar(&req.FixReason, "reason", "", "what the fix fixes (with --fix)")
	create.Flags().StringArrayVar(&req.Migrations, "migration", nil, "a schema migration the release needs applied before its code deploys (repeatable)")
	cmd.AddCommand(create)
	return cmd
}
