package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/store"
)

// Changes is what a release contains beyond what runs in the next
// environment: the commits between the two SHAs (GitHub's compare API)
// and the pull requests they merged.
type Changes struct {
	Base    string  `json:"base"`
	Head    string  `json:"head"`
	Commits int     `json:"commits"`
	PRs     []int64 `json:"prs"`
}

// Message is the sentence the dashboard and bakery status show: "14 PRs
// waiting (23 commits)".
func (c Changes) Message() string {
	prs := "PRs"
	if len(c.PRs) == 1 {
		prs = "PR"
	}
	commits := "commits"
	if c.Commits == 1 {
		commits = "commit"
	}
	return fmt.Sprintf("%d %s waiting (%d %s)", len(c.PRs), prs, c.Commits, commits)
}

// compareBody is the part of GET …/compare/{base}...{head} bakery reads.
type compareBody struct {
	TotalCommits int `json:"total_commits"`
	Commits      []struct {
		SHA    string `json:"sha"`
		Commit struct {
			Message string `json:"message"`
		} `json:"commit"`
	} `json:"commits"`
}

// changesOf reads a cached compare as Changes.
func changesOf(c store.GitHubCompare) (Changes, error) {
	var b compareBody
	if err := json.Unmarshal(c.Body, &b); err != nil {
		return Changes{}, err
	}
	ch := Changes{Base: c.Base, Head: c.Head, Commits: max(b.TotalCommits, len(b.Commits)), PRs: []int64{}}
	seen := map[int64]bool{}
	for _, cm := range b.Commits {
		for _, pr := range prsInMessage(cm.Commit.Message) {
			if !seen[pr] {
				seen[pr] = true
				ch.PRs = append(ch.PRs, pr)
			}
		}
	}
	return ch, nil
}

// Waiting is the API's view of what waits per environment (api.GitHubChanges).
func (g *GitHub) Waiting(ctx context.Context, repository string, view readmodel.Service) map[string]api.ChangesView {
	st := g.store()
	if st == nil {
		return nil
	}
	out := map[string]api.ChangesView{}
	for env, c := range WaitingChanges(ctx, st, repository, view) {
		out[env] = api.ChangesView{Base: c.Base, Head: c.Head, Commits: c.Commits, PRs: c.PRs, Message: c.Message()}
	}
	return out
}

// WaitingChanges returns, per environment of view after the first, what the
// newest release waiting to enter it contains beyond what runs there, from
// the compares cached by the sync jobs; environments with nothing cached
// are left out.
func WaitingChanges(ctx context.Context, r store.GitHubReader, repository string, view readmodel.Service) map[string]Changes {
	repo, ok := OwnerRepo(repository)
	if !ok {
		return nil
	}
	out := map[string]Changes{}
	for i, env := range view.Environments {
		base, head, ok := waitingRange(view, i)
		if !ok {
			continue
		}
		c, err := r.GitHubCompareGet(ctx, repo, base, head)
		if err != nil {
			continue
		}
		if ch, err := changesOf(c); err == nil {
			out[env.Name] = ch
		}
	}
	return out
}

// waitingRange is the compare that says what waits for environment i: from
// what runs there to the newest release in its queue.
func waitingRange(view readmodel.Service, i int) (base, head string, ok bool) {
	env := view.Environments[i]
	if i == 0 || env.Current == nil || len(env.Queue) == 0 {
		return "", "", false
	}
	newest := env.Queue[len(env.Queue)-1]
	if !shaRE.MatchString(env.Current.Version) || !shaRE.MatchString(newest.Version) || newest.Version == env.Current.Version {
		return "", "", false
	}
	return env.Current.Version, newest.Version, true
}

// syncCompares caches the compares that say what waits for each
// environment, when the release being synced is the newest waiting one.
func (g *GitHub) syncCompares(ctx context.Context, api *Client, repo string, view readmodel.Service, rel pipeline.Release) error {
	st := g.store()
	for i := range view.Environments {
		base, head, ok := waitingRange(view, i)
		if !ok || head != rel.Version {
			continue
		}
		if _, err := st.GitHubCompareGet(ctx, repo, base, head); err == nil {
			continue // commits between two SHAs never change
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		var raw json.RawMessage
		if err := api.Do(ctx, http.MethodGet, fmt.Sprintf("/repos/%s/compare/%s...%s", repo, base, head), nil, &raw); err != nil {
			return fmt.Errorf("error comparing %s...%s: %w", short(base), short(head), err)
		}
		// Keep only what is shown: the count and each commit's SHA and
		// first line (a compare's body lists files and patches too).
		var b compareBody
		if err := json.Unmarshal(raw, &b); err != nil {
			return fmt.Errorf("error decoding the compare %s...%s: %w", short(base), short(head), err)
		}
		for k := range b.Commits {
			first, _, _ := strings.Cut(b.Commits[k].Commit.Message, "\n")
			b.Commits[k].Commit.Message = first
		}
		body, _ := json.Marshal(b)
		err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			return tx.GitHubComparePut(ctx, &store.GitHubCompare{Repository: repo, Base: base, Head: head, Body: body, FetchedAt: g.e.Now()})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
