package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultGitHubAPIURL is GitHub.com's REST API; GitHub Enterprise Server's
// is https://HOST/api/v3.
const DefaultGitHubAPIURL = "https://api.github.com"

// The events a service's releases can be created by (trigger.github.on).
const (
	TriggerPush        = "push"
	TriggerWorkflowRun = "workflow_run"
	TriggerCheckSuite  = "check_suite"
)

var (
	githubFields        = []string{"api_url", "webhook_secret_env", "token_env", "app", "pr_comments"}
	githubAppFields     = []string{"id", "private_key_file", "installation_id"}
	triggerFields       = []string{"github"}
	githubTriggerFields = []string{"on", "branch", "workflows", "paths"}
)

// GitHub is the github block: how bakery hears from GitHub (webhook
// deliveries signed with the secret in WebhookSecretEnv) and talks back
// (deployments, commit statuses, compare, PR comments) with a token or as a
// GitHub App. The secrets stay in bakery's environment; the file only names
// the variables.
type GitHub struct {
	// APIURL is the REST API's base URL, without a trailing slash.
	APIURL string
	// WebhookSecretEnv names the variable holding the webhooks' secret.
	WebhookSecretEnv string
	// TokenEnv names the variable holding an API token ("" with App).
	TokenEnv string
	// App authenticates as a GitHub App installation instead of a token.
	App *GitHubApp
	// PRComments keeps one comment per pull request, updated in place,
	// with where its release stands.
	PRComments bool
}

// GitHubApp is a GitHub App's installation bakery acts as.
type GitHubApp struct {
	ID             int64
	PrivateKeyFile string // absolute
	InstallationID int64
}

// Trigger is a service's trigger block.
type Trigger struct {
	GitHub *GitHubTrigger
}

// GitHubTrigger says which GitHub event creates a release of the service.
type GitHubTrigger struct {
	// On is push, workflow_run or check_suite.
	On string
	// Branch is the branch whose commits become releases.
	Branch string
	// Workflows (workflow_run only) are the workflows whose success
	// counts: a name, a file name (ci.yml) or a path (.github/workflows/ci.yml).
	Workflows []string
	// Paths, when given, limit releases to commits that change a file
	// matching one of them (globs; ** matches any number of directories).
	Paths []string
}

// github walks the top-level github block.
func (p *parser) github(n, at *yaml.Node) *GitHub {
	if n == nil {
		return nil
	}
	f, ok := p.mapping(n, at, "github", "github", githubFields)
	if !ok {
		return nil
	}
	g := &GitHub{APIURL: DefaultGitHubAPIURL}
	if f.get("api_url") != nil {
		if s, v := p.httpURL(f, "api_url", "https://github.example.com/api/v3", ""); v != nil {
			u, _ := url.Parse(s)
			switch {
			case u.User != nil, u.RawQuery != "", u.Fragment != "":
				p.add(v, f.field("api_url"), "api_url must be the API's base URL without credentials, query or fragment, such as https://api.github.com or https://github.example.com/api/v3; got %q", u.Redacted())
			default:
				g.APIURL = strings.TrimSuffix(s, "/")
			}
		}
	}
	envName := func(key string) string {
		v := f.get(key)
		if v == nil {
			return ""
		}
		s, ok := p.scalar(v, f.field(key), "GITHUB_TOKEN")
		if !ok {
			return ""
		}
		if !envKeyRE.MatchString(s) {
			p.add(v, f.field(key), "%s names an environment variable (bakery reads the secret from its environment, never from this file): use letters, digits and underscores, such as GITHUB_TOKEN; got %q", key, s)
			return ""
		}
		return s
	}
	g.WebhookSecretEnv = envName("webhook_secret_env")
	g.TokenEnv = envName("token_env")
	if v := f.get("app"); v != nil {
		g.App = p.githubApp(v, f.field("app"))
	}
	if f.get("token_env") != nil && f.get("app") != nil {
		p.add(f.at("app"), f.field("app"), "github has both token_env and app; bakery authenticates one way: keep token_env (a token) or app (a GitHub App installation), not both")
	}
	if v := f.get("pr_comments"); v != nil {
		g.PRComments = p.boolean(v, f.field("pr_comments"))
	}
	return g
}

func (p *parser) githubApp(n *yaml.Node, path string) *GitHubApp {
	f, ok := p.mapping(n, n, path, "github.app", githubAppFields)
	if !ok {
		return nil
	}
	app := &GitHubApp{}
	id := func(key, example string) int64 {
		v := f.get(key)
		if v == nil {
			p.add(f.at(key), f.field(key), "github.app needs %s: add %s: %s (shown on the App's settings page)", key, key, example)
			return 0
		}
		s, ok := p.scalar(v, f.field(key), example)
		if !ok {
			return 0
		}
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || i <= 0 {
			p.add(v, f.field(key), "%s must be a positive whole number, such as %s; got %q", key, example, s)
			return 0
		}
		return i
	}
	app.ID = id("id", "12345")
	app.InstallationID = id("installation_id", "678")
	v := f.get("private_key_file")
	if v == nil {
		p.add(f.at("private_key_file"), f.field("private_key_file"), "github.app needs private_key_file: the PEM file GitHub generated for the App, e.g. private_key_file: app.pem")
		return app
	}
	if s, ok := p.scalar(v, f.field("private_key_file"), "app.pem"); ok {
		if !filepath.IsAbs(s) {
			s = filepath.Join(p.dir, s)
		}
		app.PrivateKeyFile = s
	}
	return app
}

// serviceGitHub reads a service's artifact template and trigger.
func (p *parser) serviceGitHub(f fields, svc *Service) {
	if v := f.get("artifact"); v != nil {
		if s, ok := p.scalar(v, f.field("artifact"), `"registry.example.com/web:{sha}"`); ok {
			svc.Artifact = s
			if bad := unknownPlaceholder(s); bad != "" {
				p.add(v, f.field("artifact"), "artifact has the unknown placeholder %s; the template knows {sha}, {short_sha}, {branch} and {service}", bad)
			}
		}
	}
	v := f.get("trigger")
	if v == nil {
		return
	}
	tf, ok := p.mapping(v, f.at("trigger"), f.field("trigger"), "trigger", triggerFields)
	if !ok {
		return
	}
	gn := tf.get("github")
	if gn == nil {
		p.add(tf.at("github"), tf.field("github"), "trigger needs github: e.g. github: {on: push, branch: main}")
		return
	}
	gf, ok := p.mapping(gn, tf.at("github"), tf.field("github"), "trigger.github", githubTriggerFields)
	if !ok {
		return
	}
	t := &GitHubTrigger{}
	if on := gf.get("on"); on == nil {
		p.add(gf.at("on"), gf.field("on"), "trigger.github needs on: push, workflow_run or check_suite")
	} else if s, ok := p.scalar(on, gf.field("on"), "push"); ok {
		switch s {
		case TriggerPush, TriggerWorkflowRun, TriggerCheckSuite:
			t.On = s
		default:
			p.add(on, gf.field("on"), "on must be push, workflow_run or check_suite; got %q", s)
		}
	}
	if b := gf.get("branch"); b == nil {
		p.add(gf.at("branch"), gf.field("branch"), "trigger.github needs branch: the branch whose commits become releases, e.g. branch: main")
	} else if s, ok := p.scalar(b, gf.field("branch"), "main"); ok {
		s = strings.TrimPrefix(s, "refs/heads/")
		if s == "" || strings.ContainsAny(s, " ~^:?*[\\") {
			p.add(b, gf.field("branch"), "branch must be a branch name such as main; got %q", s)
		}
		t.Branch = s
	}
	if w := gf.get("workflows"); w != nil {
		t.Workflows = p.wordList(w, gf.field("workflows"), "[ci.yml]")
		if t.On != TriggerWorkflowRun {
			p.add(w, gf.field("workflows"), "workflows applies to on: workflow_run only; remove it or set on: workflow_run")
		}
	} else if t.On == TriggerWorkflowRun {
		p.add(gf.at("on"), gf.field("workflows"), "on: workflow_run needs workflows: the workflows whose success makes a release, by name, file name or path, e.g. workflows: [ci.yml]")
	}
	if ps := gf.get("paths"); ps != nil {
		t.Paths = p.wordList(ps, gf.field("paths"), `["services/web/**"]`)
		for i, pat := range t.Paths {
			if strings.HasPrefix(pat, "/") || strings.Contains(pat, "\\") {
				p.add(ps.Content[i], gf.field("paths"), "paths are globs relative to the repository's root with forward slashes, such as services/web/**; got %q", pat)
			}
		}
	}
	if svc.Repository == "" {
		p.add(tf.at("github"), tf.field("github"), "a GitHub trigger needs the service's repository (the webhook's repository is matched against it): add repository: https://github.com/OWNER/REPO")
	}
	svc.Trigger = &Trigger{GitHub: t}
}

// wordList reads a list of non-empty strings.
func (p *parser) wordList(n *yaml.Node, field, example string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "%s must be a list, such as %s; got %s", field, example, describe(n))
		return nil
	}
	var out []string
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode || item.Value == "" {
			p.add(item, field, "%s lists non-empty values, such as %s; got %s", field, example, describe(item))
			continue
		}
		out = append(out, item.Value)
	}
	return out
}

// checkGitHubTriggers reports services whose trigger has no github block
// to receive it with, or no secret to check deliveries with.
func (p *parser) checkGitHubTriggers(cfg *Config, at *yaml.Node) {
	for i, svc := range cfg.Services {
		if svc.Trigger == nil {
			continue
		}
		if cfg.GitHub == nil || cfg.GitHub.WebhookSecretEnv == "" {
			p.add(at, "github.webhook_secret_env", "services[%d] (%s) has a GitHub trigger, so deliveries must be signed: add github: {webhook_secret_env: GITHUB_WEBHOOK_SECRET} and set that variable to the secret entered in the repository's webhook settings", i, svc.Name)
			return
		}
	}
}

// unknownPlaceholder returns the first {…} of an artifact template that is
// not one of its placeholders.
func unknownPlaceholder(s string) string {
	for {
		i := strings.IndexByte(s, '{')
		if i < 0 {
			return ""
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return s[i:]
		}
		switch ph := s[i : i+j+1]; ph {
		case "{sha}", "{short_sha}", "{branch}", "{service}":
			s = s[i+j+1:]
		default:
			return ph
		}
	}
}

// Secret reads the value of a github block's variable from bakery's
// environment, with an error naming the variable when it is unset.
func (g *GitHub) Secret(name, what string) (string, error) {
	v := os.Getenv(name)
	if v == "" {
		return "", fmt.Errorf("the GitHub %s is read from the environment variable %s, which is empty: set it before starting bakery", what, name)
	}
	return v, nil
}
