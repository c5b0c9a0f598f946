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

--fix --reason R marks the release as a fix. It still goes through every
environment, but in an environment with a fix lane (fix: {bake: 10m,
approvals: 1}) it bakes for the lane's shorter time and passes the
environment's locks once people other than you have approved it with
'bakery approve SERVICE ENV VERSION --reason R'. The lock stays for every
other release.

--from-git [DIR] reads the release from the git checkout in DIR (default:
the current directory) instead: VERSION is HEAD's full SHA, and --message
and --author default to HEAD's message and author and --committed-at to its
commit time (git log -1; git must be on PATH). That is what a CI job runs after pushing the image.`,
		Example: `  bakery release create web 3f2c1ab --artifact registry.example.com/web:3f2c1ab --message "Fix login" --author ana
  bakery release create web 3f2c1ab --committed-at "$(git show -s --format=%cI 3f2c1ab)"
  bakery release create web 9be01d4 --fix --reason "INC-42: revert the cache change"
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
				if !cmd.Flags().Changed("committed-at") && !head.CommittedAt.IsZero() {
					req.CommittedAt = head.CommittedAt.UTC().Format(time.RFC3339)
				}
			}
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
	create.Flags().StringVar(&fromGit, "from-git", ".", "read VERSION, message and author from HEAD of the git checkout in DIR (default .)")
	create.Flags().Lookup("from-git").NoOptDefVal = "."
	cmd.AddCommand(create)
	return cmd
}
