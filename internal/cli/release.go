package cli

import (
	"fmt"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/api"
)

func newReleaseCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release",
		Short: "Register releases",
	}
	var req api.ReleaseRequest
	var fromGit string
	create := &cobra.Command{
		Use:   "create SERVICE VERSION | create SERVICE --from-git [DIR]",
		Short: "Register a release; it enters the first environment at once",
		Long: `Register a release of SERVICE. VERSION is a commit SHA or tag (1-128 characters
from A-Z a-z 0-9 . _ -, not starting with "-", not "." or "..") and is
immutable: registering it again is refused. No text (message, author,
artifact, reason) may hold a NUL character.
The release deploys to the first environment at once, bakes, and is promoted
onwards by itself.

--from-git [DIR] reads the release from the git checkout in DIR (default:
the current directory) instead: VERSION is HEAD's full SHA, and --message
and --author default to HEAD's message and author (git log -1; git must
be on PATH). That is what a CI job runs after pushing the image.`,
		Example: `  bakery release create web 3f2c1ab --artifact registry.example.com/web:3f2c1ab --message "Fix login" --author ana
  bakery release create web --from-git --artifact registry.example.com/web:$GITHUB_SHA
  bakery release create web --from-git ./checkout`,
		Args: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("from-git") {
				return cobra.RangeArgs(1, 2)(cmd, args)
			}
			if len(args) != 2 {
				return fmt.Errorf("release create needs SERVICE and VERSION (or SERVICE --from-git [DIR] to read them from a git checkout); got %d argument(s)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("from-git") {
				dir := fromGit
				if len(args) == 2 {
					dir = args[1] // --from-git DIR, with a space
				}
				head, err := gitHead(dir)
				if err != nil {
					return err
				}
				args = []string{args[0], head.SHA}
				if !cmd.Flags().Changed("message") {
					req.Message = head.Message
				}
				if !cmd.Flags().Changed("author") {
					req.Author = head.Author
				}
				// head.CommittedAt is the release's commit time; it is
				// sent once the API takes one (--committed-at).
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			req.Version = args[1]
			var rel api.ReleaseView
			if err := c.do(cmd.Context(), "POST", "/api/v1/services/"+url.PathEscape(args[0])+"/releases", req, &rel); err != nil {
				return fmt.Errorf("error creating release %s of %s: %w", args[1], args[0], err)
			}
			fmt.Fprintf(g.out, "release %s of %s created; follow it with: bakery watch %s %s\n", termSafe(rel.Version), termSafe(rel.Service), termSafe(rel.Service), termSafe(rel.Version))
			return nil
		},
	}
	create.Flags().StringVar(&req.Artifact, "artifact", "", "what to deploy (image reference, file path, URL); given to the deploy command as BAKERY_ARTIFACT")
	create.Flags().StringVar(&req.Message, "message", "", "commit message or summary of the change")
	create.Flags().StringVar(&req.Author, "author", "", "who made the change")
	create.Flags().StringArrayVar(&req.Migrations, "migration", nil, "a schema migration the release needs applied before its code deploys (repeatable)")
	create.Flags().StringVar(&fromGit, "from-git", ".", "read VERSION, message and author from HEAD of the git checkout in DIR (default .)")
	create.Flags().Lookup("from-git").NoOptDefVal = "."
	cmd.AddCommand(create)
	return cmd
}
