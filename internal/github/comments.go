package github

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bakery-deploy/bakery/internal/store"
)

// commentMarker starts every comment bakery keeps, so people (and bakery)
// can tell it apart.
const commentMarker = "<!-- bakery -->"

// commentBody is a pull request's comment: where its release stands in
// each environment, the same lines as the commit statuses.
func commentBody(service, version, target string, lines []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n**bakery**: [%s](%s) of `%s`\n\n", commentMarker, short(version), target, service)
	for _, l := range lines {
		b.WriteString("- " + l + "\n")
	}
	return b.String()
}

// syncComments keeps one comment per pull request of the release up to
// date (github.pr_comments): created once, then edited in place, and only
// when what it says changed.
func (g *GitHub) syncComments(ctx context.Context, api *Client, repo, service, version, target string, lines []string) error {
	st := g.store()
	rel, err := st.GitHubReleaseGet(ctx, service, version)
	if errors.Is(err, store.ErrNotFound) {
		return nil // no PRs known
	}
	if err != nil {
		return err
	}
	body := commentBody(service, version, target, lines)
	sum := sha256.Sum256([]byte(body))
	hash := hex.EncodeToString(sum[:])
	for _, pr := range rel.PRs {
		c, err := st.GitHubPRCommentGet(ctx, repo, pr)
		switch {
		case err == nil && c.BodyHash == hash:
			continue
		case err == nil:
			if err := api.Do(ctx, http.MethodPatch, fmt.Sprintf("/repos/%s/issues/comments/%d", repo, c.CommentID), map[string]any{"body": body}, nil); err != nil {
				return fmt.Errorf("error updating the comment on pull request #%d: %w", pr, err)
			}
		case errors.Is(err, store.ErrNotFound):
			var out struct {
				ID int64 `json:"id"`
			}
			if err := api.Do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/issues/%d/comments", repo, pr), map[string]any{"body": body}, &out); err != nil {
				return fmt.Errorf("error commenting on pull request #%d: %w", pr, err)
			}
			c = store.GitHubPRComment{Repository: repo, PR: pr, CommentID: out.ID}
		default:
			return err
		}
		c.BodyHash, c.UpdatedAt = hash, g.e.Now()
		if err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.GitHubPRCommentPut(ctx, &c) }); err != nil {
			return err
		}
	}
	return nil
}
