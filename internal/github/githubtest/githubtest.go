// Package githubtest is a fake of GitHub's REST API for tests, speaking
// its documented wire format: the paths bakery calls, their JSON fields,
// 201 Created answers, 401/404 and 422 validation errors with GitHub's
// error bodies, primary (X-RateLimit-Remaining: 0) and secondary
// (403 with Retry-After) rate limits, and 5xx outages. It records every
// call for assertions. GitHub itself cannot run here; this is the one fake.
package githubtest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

const docsURL = "https://docs.github.com/rest"

// Call is one request the fake received.
type Call struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
	At           time.Time
	// Status is what the fake answered.
	Status int
}

// CommitStatus is a commit status as GitHub keeps it.
type CommitStatus struct {
	ID          int64     `json:"id"`
	State       string    `json:"state"`
	Description string    `json:"description"`
	TargetURL   string    `json:"target_url"`
	Context     string    `json:"context"`
	CreatedAt   time.Time `json:"created_at"`
}

// Deployment is a GitHub Deployment and its statuses, oldest first.
type Deployment struct {
	ID                    int64            `json:"id"`
	Ref                   string           `json:"ref"`
	SHA                   string           `json:"sha"`
	Environment           string           `json:"environment"`
	Task                  string           `json:"task"`
	Description           string           `json:"description"`
	ProductionEnvironment bool             `json:"production_environment"`
	TransientEnvironment  bool             `json:"transient_environment"`
	AutoMerge             bool             `json:"-"`
	RequiredContexts      []string         `json:"-"`
	Statuses              []DeploymentStat `json:"-"`
	CreatedAt             time.Time        `json:"created_at"`
}

// DeploymentStat is one deployment status.
type DeploymentStat struct {
	ID          int64  `json:"id"`
	State       string `json:"state"`
	LogURL      string `json:"log_url"`
	Environment string `json:"environment"`
	Description string `json:"description"`
}

// Server is the fake.
type Server struct {
	*httptest.Server
	// Tokens are the bearer tokens accepted (an installation token the
	// fake issued is added to them).
	mu          sync.Mutex
	tokens      map[string]bool
	repos       map[string]bool
	calls       []Call
	statuses    map[string][]CommitStatus // sha → every status, oldest first
	deployments map[int64]*Deployment
	files       map[string][]string
	history     []histCommit // the branch's commits, oldest first
	comments    map[int64]*Comment
	nextID      int64
	// failure injection
	outage        int // status answered to every call while not 0
	secondary     int // how many calls get a secondary rate limit
	retryAfter    int
	primary       int // how many calls get a primary rate limit
	appID         int64
	appKey        *rsa.PublicKey
	installations map[int64]bool
	tokenTTL      time.Duration
	issued        int
	now           func() time.Time
	notify        chan struct{}
}

// New starts a fake GitHub that knows the repositories (owner/name) and
// accepts token.
func New(token string, repos ...string) *Server {
	s := &Server{tokens: map[string]bool{token: true}, repos: map[string]bool{}, statuses: map[string][]CommitStatus{},
		deployments: map[int64]*Deployment{}, comments: map[int64]*Comment{}, files: map[string][]string{}, nextID: 1000, installations: map[int64]bool{},
		tokenTTL: time.Hour, now: time.Now, notify: make(chan struct{}, 1)}
	for _, r := range repos {
		s.repos[strings.ToLower(r)] = true
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// App makes the fake accept a GitHub App's JWTs (RS256 under key, iss =
// id) for installation.
func (s *Server) App(id int64, key *rsa.PublicKey, installation int64, tokenTTL time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appID, s.appKey, s.installations[installation], s.tokenTTL = id, key, true, tokenTTL
}

// Clock sets the fake's clock (for tokens' expiry and JWTs' times).
func (s *Server) Clock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// Outage makes every call answer status (503, 500 …) until Outage(0).
func (s *Server) Outage(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outage = status
}

// SecondaryLimit makes the next n calls answer 403 with Retry-After.
func (s *Server) SecondaryLimit(n, retryAfterSeconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secondary, s.retryAfter = n, retryAfterSeconds
}

// PrimaryLimit makes the next n calls answer 403 with
// X-RateLimit-Remaining: 0 and a reset a second away.
func (s *Server) PrimaryLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.primary = n
}

// CommitFiles sets the files GET /repos/{o}/{r}/commits/{sha} lists.
func (s *Server) CommitFiles(sha string, files ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[sha] = files
}

type histCommit struct{ sha, message string }

// Comment is an issue (pull request) comment.
type Comment struct {
	ID      int64
	Issue   int64
	Body    string
	Updates int // PATCHes after its creation
}

// Comments returns the comments on pull request pr.
func (s *Server) Comments(pr int64) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for id := int64(0); id <= s.nextID; id++ {
		if c, ok := s.comments[id]; ok && c.Issue == pr {
			out = append(out, *c)
		}
	}
	return out
}

// Commit appends a commit to the fake repository's (linear) history, which
// the compare API answers from.
func (s *Server) Commit(sha, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.history = append(s.history, histCommit{sha, message})
}

// Calls returns the calls received so far.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Call(nil), s.calls...)
}

// Changed is signalled (without blocking) after every call that changed
// something, for tests to wait on instead of sleeping.
func (s *Server) Changed() <-chan struct{} { return s.notify }

// Statuses returns the latest commit status per context of sha.
func (s *Server) Statuses(sha string) map[string]CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]CommitStatus{}
	for _, st := range s.statuses[sha] {
		out[st.Context] = st
	}
	return out
}

// StatusHistory returns every commit status sent for sha, oldest first.
func (s *Server) StatusHistory(sha string) []CommitStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CommitStatus(nil), s.statuses[sha]...)
}

// Deployments returns the deployments of sha, oldest first.
func (s *Server) Deployments(sha string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Deployment
	for id := int64(0); id <= s.nextID; id++ {
		if d, ok := s.deployments[id]; ok && d.SHA == sha {
			c := *d
			c.Statuses = append([]DeploymentStat(nil), d.Statuses...)
			out = append(out, c)
		}
	}
	return out
}

// TokensIssued is how many installation tokens the fake issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.issued
}

var (
	deploymentsRE  = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/deployments$`)
	depStatusRE    = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/deployments/(\d+)/statuses$`)
	statusRE       = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/statuses/([0-9a-f]{40})$`)
	commitRE       = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/commits/([0-9a-f]{40})$`)
	compareRE      = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/compare/([0-9a-f]{40})\.\.\.([0-9a-f]{40})$`)
	issueCommentRE = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/(\d+)/comments$`)
	commentRE      = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues/comments/(\d+)$`)
	tokenRE        = regexp.MustCompile(`^/app/installations/(\d+)/access_tokens$`)
	shaRE          = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if r.Body != nil && (r.Method == http.MethodPost || r.Method == http.MethodPatch) {
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
			s.answer(w, r, nil, http.StatusBadRequest, map[string]any{"message": "Problems parsing JSON", "documentation_url": docsURL})
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := w.Header()
	h.Set("X-GitHub-Request-Id", fmt.Sprintf("FAKE:%d", len(s.calls)))
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(time.Hour).Unix(), 10))
	switch {
	case s.outage != 0:
		s.answer(w, r, body, s.outage, map[string]any{"message": http.StatusText(s.outage)})
		return
	case s.secondary > 0:
		s.secondary--
		h.Set("Retry-After", strconv.Itoa(s.retryAfter))
		s.answer(w, r, body, http.StatusForbidden, map[string]any{"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": docsURL})
		return
	case s.primary > 0:
		s.primary--
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Reset", strconv.FormatInt(s.now().Add(time.Second).Unix(), 10))
		s.answer(w, r, body, http.StatusForbidden, map[string]any{"message": "API rate limit exceeded for installation ID 678.", "documentation_url": docsURL})
		return
	}
	if m := tokenRE.FindStringSubmatch(r.URL.Path); m != nil && r.Method == http.MethodPost {
		s.accessToken(w, r, body, m[1])
		return
	}
	if !s.authorized(r) {
		s.answer(w, r, body, http.StatusUnauthorized, map[string]any{"message": "Bad credentials", "documentation_url": docsURL})
		return
	}
	if r.Header.Get("X-GitHub-Api-Version") != "" && r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		s.answer(w, r, body, http.StatusBadRequest, map[string]any{"message": "Unsupported 'X-GitHub-Api-Version'", "documentation_url": docsURL})
		return
	}
	repoOf := func(m []string) bool {
		if !s.repos[strings.ToLower(m[1])] {
			s.answer(w, r, body, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
			return false
		}
		return true
	}
	switch {
	case r.Method == http.MethodPost && deploymentsRE.MatchString(r.URL.Path):
		if !repoOf(deploymentsRE.FindStringSubmatch(r.URL.Path)) {
			return
		}
		s.createDeployment(w, r, body)
	case r.Method == http.MethodPost && depStatusRE.MatchString(r.URL.Path):
		m := depStatusRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		id, _ := strconv.ParseInt(m[2], 10, 64)
		s.createDeploymentStatus(w, r, body, id)
	case r.Method == http.MethodPost && statusRE.MatchString(r.URL.Path):
		m := statusRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		s.createStatus(w, r, body, m[2])
	case r.Method == http.MethodPost && issueCommentRE.MatchString(r.URL.Path):
		m := issueCommentRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		body, _ := body["body"].(string)
		if body == "" {
			s.answer(w, r, nil, http.StatusUnprocessableEntity, validation("IssueComment", "body", "missing_field", "body is missing"))
			return
		}
		n, _ := strconv.ParseInt(m[2], 10, 64)
		s.nextID++
		c := &Comment{ID: s.nextID, Issue: n, Body: body}
		s.comments[c.ID] = c
		s.answer(w, r, nil, http.StatusCreated, map[string]any{"id": c.ID, "body": c.Body, "html_url": fmt.Sprintf("%s/pull/%d#issuecomment-%d", s.URL, n, c.ID)})
	case r.Method == http.MethodPatch && commentRE.MatchString(r.URL.Path):
		m := commentRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		id, _ := strconv.ParseInt(m[2], 10, 64)
		c, ok := s.comments[id]
		if !ok {
			s.answer(w, r, nil, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
			return
		}
		c.Body, _ = body["body"].(string)
		c.Updates++
		s.answer(w, r, nil, http.StatusOK, map[string]any{"id": c.ID, "body": c.Body})
	case r.Method == http.MethodGet && compareRE.MatchString(r.URL.Path):
		m := compareRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		s.compare(w, r, m[2], m[3])
	case r.Method == http.MethodGet && commitRE.MatchString(r.URL.Path):
		m := commitRE.FindStringSubmatch(r.URL.Path)
		if !repoOf(m) {
			return
		}
		files, ok := s.files[m[2]]
		if !ok {
			s.answer(w, r, body, http.StatusUnprocessableEntity, map[string]any{"message": "No commit found for SHA: " + m[2], "documentation_url": docsURL})
			return
		}
		var fs []map[string]any
		for _, f := range files {
			fs = append(fs, map[string]any{"filename": f, "status": "modified", "additions": 1, "deletions": 0, "changes": 1})
		}
		s.answer(w, r, body, http.StatusOK, map[string]any{"sha": m[2], "files": fs, "commit": map[string]any{"message": ""}})
	default:
		s.answer(w, r, body, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
	}
}

// compare answers GET …/compare/BASE...HEAD from the linear history: the
// commits after base up to head, oldest first, as GitHub lists them.
func (s *Server) compare(w http.ResponseWriter, r *http.Request, base, head string) {
	bi, hi := -1, -1
	for i, c := range s.history {
		if c.sha == base {
			bi = i
		}
		if c.sha == head {
			hi = i
		}
	}
	if bi < 0 || hi < 0 {
		s.answer(w, r, nil, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
		return
	}
	status, commits := "identical", []map[string]any{}
	switch {
	case hi > bi:
		status = "ahead"
		for _, c := range s.history[bi+1 : hi+1] {
			commits = append(commits, map[string]any{"sha": c.sha, "html_url": s.URL + "/commit/" + c.sha,
				"commit": map[string]any{"message": c.message, "author": map[string]any{"name": "Ana Lima", "email": "ana@example.com", "date": "2026-11-25T17:01:30Z"}},
				"author": map[string]any{"login": "ana"}, "parents": []map[string]any{}})
		}
	case hi < bi:
		status = "behind"
	}
	s.answer(w, r, nil, http.StatusOK, map[string]any{"status": status, "ahead_by": len(commits), "behind_by": max(bi-hi, 0),
		"total_commits": len(commits), "commits": commits, "files": []map[string]any{},
		"html_url": fmt.Sprintf("%s/compare/%s...%s", s.URL, base, head)})
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, body map[string]any, status int, v any) {
	s.calls = append(s.calls, Call{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body, At: time.Now(), Status: status})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
	if status/100 == 2 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok, ok = strings.CutPrefix(r.Header.Get("Authorization"), "token ")
	}
	return ok && s.tokens[tok]
}

func validation(resource, field, code, msg string) map[string]any {
	return map[string]any{"message": "Validation Failed", "documentation_url": docsURL,
		"errors": []map[string]any{{"resource": resource, "field": field, "code": code, "message": msg}}}
}

func (s *Server) createDeployment(w http.ResponseWriter, r *http.Request, body map[string]any) {
	ref, _ := body["ref"].(string)
	if ref == "" {
		s.answer(w, r, body, http.StatusUnprocessableEntity, map[string]any{"message": "Invalid request.\n\n\"ref\" wasn't supplied.", "documentation_url": docsURL})
		return
	}
	if !shaRE.MatchString(ref) {
		s.answer(w, r, body, http.StatusUnprocessableEntity, validation("Deployment", "ref", "invalid", "No ref found for: "+ref))
		return
	}
	env, _ := body["environment"].(string)
	if env == "" {
		env = "production"
	}
	s.nextID++
	d := &Deployment{ID: s.nextID, Ref: ref, SHA: ref, Environment: env, Task: "deploy", CreatedAt: time.Now().UTC()}
	if t, ok := body["task"].(string); ok {
		d.Task = t
	}
	d.Description, _ = body["description"].(string)
	d.ProductionEnvironment, _ = body["production_environment"].(bool)
	d.TransientEnvironment, _ = body["transient_environment"].(bool)
	d.AutoMerge = true
	if v, ok := body["auto_merge"].(bool); ok {
		d.AutoMerge = v
	}
	if rc, ok := body["required_contexts"].([]any); ok {
		d.RequiredContexts = []string{}
		for _, c := range rc {
			if s, ok := c.(string); ok {
				d.RequiredContexts = append(d.RequiredContexts, s)
			}
		}
	}
	s.deployments[d.ID] = d
	s.answer(w, r, body, http.StatusCreated, map[string]any{"id": d.ID, "node_id": fmt.Sprintf("DE_%d", d.ID), "sha": d.SHA, "ref": d.Ref,
		"task": d.Task, "payload": map[string]any{}, "environment": d.Environment, "description": d.Description,
		"production_environment": d.ProductionEnvironment, "transient_environment": d.TransientEnvironment,
		"created_at": d.CreatedAt, "updated_at": d.CreatedAt,
		"statuses_url": fmt.Sprintf("%s%s/%d/statuses", s.URL, r.URL.Path, d.ID)})
}

var deploymentStates = map[string]bool{"error": true, "failure": true, "inactive": true, "in_progress": true, "queued": true, "pending": true, "success": true}

func (s *Server) createDeploymentStatus(w http.ResponseWriter, r *http.Request, body map[string]any, id int64) {
	d, ok := s.deployments[id]
	if !ok {
		s.answer(w, r, body, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
		return
	}
	state, _ := body["state"].(string)
	if !deploymentStates[state] {
		s.answer(w, r, body, http.StatusUnprocessableEntity, validation("DeploymentStatus", "state", "custom", "state is not included in the list"))
		return
	}
	s.nextID++
	st := DeploymentStat{ID: s.nextID, State: state}
	st.LogURL, _ = body["log_url"].(string)
	st.Environment, _ = body["environment"].(string)
	st.Description, _ = body["description"].(string)
	if len(st.Description) > 140 {
		s.answer(w, r, body, http.StatusUnprocessableEntity, validation("DeploymentStatus", "description", "custom", "description is too long (maximum is 140 characters)"))
		return
	}
	d.Statuses = append(d.Statuses, st)
	s.answer(w, r, body, http.StatusCreated, map[string]any{"id": st.ID, "state": st.State, "log_url": st.LogURL, "environment": st.Environment,
		"description": st.Description, "deployment_url": fmt.Sprintf("%s/repos/x/y/deployments/%d", s.URL, id), "created_at": time.Now().UTC()})
}

var commitStates = map[string]bool{"error": true, "failure": true, "pending": true, "success": true}

func (s *Server) createStatus(w http.ResponseWriter, r *http.Request, body map[string]any, sha string) {
	state, _ := body["state"].(string)
	if !commitStates[state] {
		s.answer(w, r, body, http.StatusUnprocessableEntity, validation("Status", "state", "custom", "state is not included in the list"))
		return
	}
	st := CommitStatus{State: state, Context: "default", CreatedAt: time.Now().UTC()}
	if c, ok := body["context"].(string); ok && c != "" {
		st.Context = c
	}
	st.Description, _ = body["description"].(string)
	st.TargetURL, _ = body["target_url"].(string)
	if len([]rune(st.Description)) > 140 {
		s.answer(w, r, body, http.StatusUnprocessableEntity, validation("Status", "description", "custom", "description is too long (maximum is 140 characters)"))
		return
	}
	s.nextID++
	st.ID = s.nextID
	s.statuses[sha] = append(s.statuses[sha], st)
	s.answer(w, r, body, http.StatusCreated, st)
}

// accessToken checks a GitHub App's JWT and issues an installation token.
func (s *Server) accessToken(w http.ResponseWriter, r *http.Request, body map[string]any, inst string) {
	id, _ := strconv.ParseInt(inst, 10, 64)
	jwt, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || s.appKey == nil || !s.validJWT(jwt) {
		s.answer(w, r, body, http.StatusUnauthorized, map[string]any{"message": "A JSON web token could not be decoded", "documentation_url": docsURL})
		return
	}
	if !s.installations[id] {
		s.answer(w, r, body, http.StatusNotFound, map[string]any{"message": "Not Found", "documentation_url": docsURL})
		return
	}
	s.issued++
	tok := fmt.Sprintf("ghs_fake%d", s.issued)
	s.tokens[tok] = true
	s.answer(w, r, body, http.StatusCreated, map[string]any{"token": tok, "expires_at": s.now().Add(s.tokenTTL).UTC().Format(time.RFC3339),
		"permissions": map[string]string{"deployments": "write", "statuses": "write"}, "repository_selection": "all"})
}

func (s *Server) validJWT(tok string) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return false
	}
	var hdr struct{ Alg string }
	var claims struct {
		Iat, Exp int64
		Iss      string
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" || json.Unmarshal(cb, &claims) != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(s.appKey, crypto.SHA256, sum[:], sig) != nil {
		return false
	}
	now := s.now().Unix()
	// GitHub: exp no more than 10 minutes into the future; iat in the past.
	return claims.Iss == strconv.FormatInt(s.appID, 10) && claims.Iat <= now && claims.Exp > now && claims.Exp-now <= 600
}
