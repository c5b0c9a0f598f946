package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func githubFile(lines ...string) string {
	return y(append([]string{
		"github:",
		"  webhook_secret_env: GITHUB_WEBHOOK_SECRET",
		"  token_env: GITHUB_TOKEN",
		"services:",
		"  - name: web",
		"    repository: https://github.com/octo-org/octo-repo",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		`          command: ["./deploy.sh"]`,
	}, lines...)...)
}

func TestGitHubConfig(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(githubFile(
		`    artifact: "registry.example.com/web:{sha}"`,
		"    trigger:",
		"      github:",
		"        on: workflow_run",
		"        branch: main",
		"        workflows: [ci.yml]",
		`        paths: ["services/web/**"]`,
	)))
	require.NoError(t, err)
	require.Equal(t, &GitHub{APIURL: DefaultGitHubAPIURL, WebhookSecretEnv: "GITHUB_WEBHOOK_SECRET", TokenEnv: "GITHUB_TOKEN"}, cfg.GitHub)
	svc := cfg.Services[0]
	require.Equal(t, "registry.example.com/web:{sha}", svc.Artifact)
	require.Equal(t, &Trigger{GitHub: &GitHubTrigger{On: "workflow_run", Branch: "main", Workflows: []string{"ci.yml"}, Paths: []string{"services/web/**"}}}, svc.Trigger)

	cfg, err = Parse(filepath.FromSlash("/srv/bakery/bakery.yaml"), []byte(y(
		"github:",
		"  api_url: https://github.example.com/api/v3/",
		"  webhook_secret_env: S",
		"  app: {id: 12345, private_key_file: app.pem, installation_id: 678}",
		"  pr_comments: true",
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		`          command: ["./deploy.sh"]`,
	)))
	require.NoError(t, err)
	require.Equal(t, &GitHub{APIURL: "https://github.example.com/api/v3", WebhookSecretEnv: "S", PRComments: true,
		App: &GitHubApp{ID: 12345, InstallationID: 678, PrivateKeyFile: filepath.FromSlash("/srv/bakery/app.pem")}}, cfg.GitHub)
}

func TestGitHubConfigProblems(t *testing.T) {
	t.Parallel()
	requireProblems(t, githubFile(
		`    artifact: "web:{commit}"`,
		"    trigger:",
		"      github:",
		"        on: pull_request",
		"        workflows: [ci.yml]",
		"        paths: [/abs/**]",
		"        tags: true",
	),
		want{11, 15, "services[0].artifact", "unknown placeholder {commit}"},
		want{14, 9, "services[0].trigger.github.branch", "trigger.github needs branch"},
		want{14, 13, "services[0].trigger.github.on", `on must be push, workflow_run or check_suite; got "pull_request"`},
		want{15, 20, "services[0].trigger.github.workflows", "workflows applies to on: workflow_run only"},
		want{16, 17, "services[0].trigger.github.paths", "paths are globs relative to the repository's root"},
		want{17, 9, "services[0].trigger.github.tags", `unknown field "tags"; known fields are: on, branch, workflows, paths`},
	)
	requireProblems(t, githubFile("    trigger: {github: {on: workflow_run, branch: main}}"),
		want{11, 24, "services[0].trigger.github.workflows", "on: workflow_run needs workflows"})
	requireProblems(t, y(
		"github:",
		"  token_env: bad-name",
		"  app: {id: x}",
		"  secret: s",
		"services:",
		"  - name: web",
		"    trigger: {github: {on: push, branch: main}}",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		`          command: ["./deploy.sh"]`,
	),
		want{1, 1, "github.webhook_secret_env", "services[0] (web) has a GitHub trigger, so deliveries must be signed"},
		want{2, 14, "github.token_env", "token_env names an environment variable"},
		want{3, 3, "github.app", "github has both token_env and app"},
		want{3, 8, "github.app.installation_id", "github.app needs installation_id"},
		want{3, 8, "github.app.private_key_file", "github.app needs private_key_file"},
		want{3, 13, "github.app.id", `id must be a positive whole number`},
		want{4, 3, "github.secret", `unknown field "secret"; known fields are: api_url, webhook_secret_env, token_env, app, pr_comments`},
		want{7, 15, "services[0].trigger.github", "a GitHub trigger needs the service's repository"},
	)
}
