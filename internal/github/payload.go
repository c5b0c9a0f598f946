package github

import (
	"encoding/json"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The parts of GitHub's webhook payloads bakery reads; everything else in
// a payload is ignored. Field names are GitHub's (docs: "Webhook events
// and payloads").

type repository struct {
	FullName string `json:"full_name"`
	HTMLURL  string `json:"html_url"`
	CloneURL string `json:"clone_url"`
}

type commitAuthor struct {
	Name     string `json:"name"`
	Email    string `json:"email"`
	Username string `json:"username"`
}

// headCommit is GitHub's "simple commit": a push's head_commit and the
// head_commit of a workflow run or check suite.
type headCommit struct {
	ID        string       `json:"id"`
	Message   string       `json:"message"`
	Timestamp string       `json:"timestamp"`
	Author    commitAuthor `json:"author"`
}

type pushCommit struct {
	ID       string   `json:"id"`
	Added    []string `json:"added"`
	Modified []string `json:"modified"`
	Removed  []string `json:"removed"`
}

type pushPayload struct {
	Ref        string       `json:"ref"`
	Before     string       `json:"before"`
	After      string       `json:"after"`
	Deleted    bool         `json:"deleted"`
	Repository repository   `json:"repository"`
	HeadCommit *headCommit  `json:"head_commit"`
	Commits    []pushCommit `json:"commits"`
}

type pullRequestRef struct {
	Number int64 `json:"number"`
}

type workflowRunPayload struct {
	Action      string `json:"action"`
	WorkflowRun struct {
		Name         string           `json:"name"`
		Path         string           `json:"path"`
		HeadBranch   string           `json:"head_branch"`
		HeadSHA      string           `json:"head_sha"`
		Status       string           `json:"status"`
		Conclusion   string           `json:"conclusion"`
		PullRequests []pullRequestRef `json:"pull_requests"`
		HeadCommit   *headCommit      `json:"head_commit"`
	} `json:"workflow_run"`
	Workflow struct {
		Name string `json:"name"`
		Path string `json:"path"`
	} `json:"workflow"`
	Repository repository `json:"repository"`
}

type checkSuitePayload struct {
	Action     string `json:"action"`
	CheckSuite struct {
		HeadBranch   string           `json:"head_branch"`
		HeadSHA      string           `json:"head_sha"`
		Status       string           `json:"status"`
		Conclusion   string           `json:"conclusion"`
		PullRequests []pullRequestRef `json:"pull_requests"`
		HeadCommit   *headCommit      `json:"head_commit"`
	} `json:"check_suite"`
	Repository repository `json:"repository"`
}

// zeroSHA is a push's "after" when the branch was deleted.
const zeroSHA = "0000000000000000000000000000000000000000"

// A Commit is what a webhook says about the commit that may become a
// release, once the event has been checked for the trigger.
type Commit struct {
	Event  string // push, workflow_run, check_suite
	Action string
	// Repository is the repository's html_url.
	Repository string
	FullName   string
	Branch     string
	SHA        string
	Message    string
	Author     string
	Committed  time.Time
	PRs        []int64
	// Files are the paths the event says changed (push only); HasFiles
	// says whether the event lists them at all.
	Files    []string
	HasFiles bool
	// Workflow (workflow_run only) is the workflow's name and path.
	WorkflowName, WorkflowPath string
	// Ignored, when not "", is why the event makes no release.
	Ignored string
}

// ErrMalformed is a payload that is not the JSON its event has.
type ErrMalformed struct{ Err error }

func (e *ErrMalformed) Error() string { return "malformed payload: " + e.Err.Error() }
func (e *ErrMalformed) Unwrap() error { return e.Err }

// Parse reads the payload of one delivery of event (X-GitHub-Event). It is
// called only after the signature was checked. A ping, and events bakery
// does not act on, come back with Ignored set; a body that is not the
// event's JSON is an *ErrMalformed.
func Parse(event string, body []byte) (Commit, error) {
	c := Commit{Event: event}
	switch event {
	case "ping":
		var v struct {
			Zen string `json:"zen"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			return c, &ErrMalformed{err}
		}
		c.Ignored = "ping"
		return c, nil
	case "push":
		var p pushPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return c, &ErrMalformed{err}
		}
		c.Repository, c.FullName = p.Repository.HTMLURL, p.Repository.FullName
		switch {
		case strings.HasPrefix(p.Ref, "refs/tags/"):
			c.Ignored = "a tag push (" + p.Ref + ") makes no release"
			return c, nil
		case p.Deleted || p.After == zeroSHA:
			c.Ignored = "a branch deletion makes no release"
			return c, nil
		case !strings.HasPrefix(p.Ref, "refs/heads/"):
			c.Ignored = fmt.Sprintf("a push to %q, not to a branch", p.Ref)
			return c, nil
		}
		c.Branch = strings.TrimPrefix(p.Ref, "refs/heads/")
		c.SHA = p.After
		c.fill(p.HeadCommit)
		c.HasFiles = true
		for _, pc := range p.Commits {
			c.Files = append(c.Files, pc.Added...)
			c.Files = append(c.Files, pc.Modified...)
			c.Files = append(c.Files, pc.Removed...)
		}
		c.PRs = prsInMessage(c.Message)
	case "workflow_run":
		var p workflowRunPayload
		if err := json.Unmarshal(body, &p); err != nil {
			return c, &ErrMalformed{err}
		}
		r := p.WorkflowRun
		c.Action, c.Repository, c.FullName = p.Action, p.Repository.HTMLURL, p.Repository.FullName
		c.Branch, c.SHA = r.HeadBranch, r.HeadSHA
		c.WorkflowName, c.WorkflowPath = r.Name, r.Path
		if c.WorkflowPath == "" {
			c.WorkflowPath = p.Workflow.Path
		}
		if c.WorkflowName == "" {
			c.WorkflowName = p.Workflow.Name
		}
		c.fill(r.HeadCommit)
		for _, pr := range r.PullRequests {
			c.PRs = append(c.PRs, pr.Number)
		}
		if len(c.PRs) == 0 {
			c.PRs = prsInMessage(c.Message)
		}
		if p.Action != "completed" {
			c.Ignored = fmt.Sprintf("workflow run %s, not completed", orNothing(p.Action))
		} else if r.Conclusion != "success" {
			c.Ignored = fmt.Sprintf("workflow run completed with conclusion %s, not success", orNothing(r.Conclusion))
		}
	case "check_suite":
		var p checkSuitePayload
		if err := json.Unmarshal(body, &p); err != nil {
			return c, &ErrMalformed{err}
		}
		s := p.CheckSuite
		c.Action, c.Repository, c.FullName = p.Action, p.Repository.HTMLURL, p.Repository.FullName
		c.Branch, c.SHA = s.HeadBranch, s.HeadSHA
		c.fill(s.HeadCommit)
		for _, pr := range s.PullRequests {
			c.PRs = append(c.PRs, pr.Number)
		}
		if len(c.PRs) == 0 {
			c.PRs = prsInMessage(c.Message)
		}
		if p.Action != "completed" {
			c.Ignored = fmt.Sprintf("check suite %s, not completed", orNothing(p.Action))
		} else if s.Conclusion != "success" {
			c.Ignored = fmt.Sprintf("check suite completed with conclusion %s, not success", orNothing(s.Conclusion))
		}
	default:
		// Still JSON, or GitHub did not send it.
		if !json.Valid(body) {
			return c, &ErrMalformed{fmt.Errorf("the body is not JSON")}
		}
		c.Ignored = fmt.Sprintf("bakery does not act on %q events (it uses push, workflow_run and check_suite)", event)
		return c, nil
	}
	if c.Ignored == "" && !shaRE.MatchString(c.SHA) {
		return c, &ErrMalformed{fmt.Errorf("the head commit %q is not a 40-character SHA", c.SHA)}
	}
	return c, nil
}

var shaRE = regexp.MustCompile(`^[0-9a-f]{40}$`)

func orNothing(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (c *Commit) fill(h *headCommit) {
	if h == nil {
		return
	}
	c.Message = h.Message
	c.Author = h.Author.Name
	if c.Author == "" {
		c.Author = h.Author.Username
	}
	if c.Author == "" {
		c.Author = h.Author.Email
	}
	if t, err := time.Parse(time.RFC3339, h.Timestamp); err == nil {
		c.Committed = t.UTC()
	}
}

// prRE finds the pull request of a merge commit ("Merge pull request #12
// from …") or a squash merge ("Fix checkout (#12)") in a message's first
// line.
var prRE = regexp.MustCompile(`(?:^Merge pull request #(\d+) |\(#(\d+)\)\s*$)`)

func prsInMessage(msg string) []int64 {
	first, _, _ := strings.Cut(msg, "\n")
	m := prRE.FindStringSubmatch(first)
	if m == nil {
		return nil
	}
	s := m[1] + m[2]
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil
	}
	return []int64{n}
}

// WorkflowMatches reports whether a workflow run's workflow is one of
// listed: by name (CI), file name (ci.yml) or path (.github/workflows/ci.yml).
func WorkflowMatches(listed []string, name, wfPath string) bool {
	wfPath, _, _ = strings.Cut(wfPath, "@") // a path may carry @ref
	for _, l := range listed {
		if l == name || l == wfPath || (wfPath != "" && l == path.Base(wfPath)) {
			return true
		}
	}
	return false
}

// SameRepository reports whether a service's repository URL names the
// repository a webhook came from (html_url): case-insensitive, with or
// without .git and a trailing slash.
func SameRepository(configured, htmlURL string) bool {
	norm := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = strings.TrimSuffix(s, "/")
		s = strings.TrimSuffix(s, ".git")
		s = strings.TrimPrefix(s, "http://")
		s = strings.TrimPrefix(s, "https://")
		return s
	}
	return htmlURL != "" && norm(configured) == norm(htmlURL)
}
