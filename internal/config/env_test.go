package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestParseInheritEnv: server.inherit_env is added to every command's own
// inherit_env — deploys, canary commands and command checks — and
// server.mask_env is kept for the engine's masker.
func TestParseInheritEnv(t *testing.T) {
	t.Parallel()
	src := y(
		"server:",
		"  inherit_env: [KUBECONFIG]",
		"  mask_env: [GITHUB_TOKEN, SLACK_BOT_TOKEN]",
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [./deploy.sh]",
		"          inherit_env: [AWS_PROFILE, KUBECONFIG]",
		"      - name: production",
		"        checks:",
		"          - name: smoke",
		"            command: [./smoke.sh]",
		"        deploy:",
		"          command: [./deploy.sh]",
		"        canary:",
		"          deploy: {command: [./canary.sh]}",
		"          set_weight: {command: [./weight.sh], inherit_env: [LB_PROFILE]}",
		"          steps: [{weight: 50, for: 1m}]",
		"          analysis:",
		"            checks:",
		"              - name: canary-smoke",
		"                command: [./smoke.sh]",
	)
	cfg, err := Parse("bakery.yaml", []byte(src))
	require.NoError(t, err)
	require.Equal(t, []string{"KUBECONFIG"}, cfg.Server.InheritEnv)
	require.Equal(t, []string{"GITHUB_TOKEN", "SLACK_BOT_TOKEN"}, cfg.Server.MaskEnv)
	staging, production := cfg.Services[0].Environments[0], cfg.Services[0].Environments[1]
	require.Equal(t, []string{"AWS_PROFILE", "KUBECONFIG"}, staging.Deploy.InheritEnv, "no name twice")
	require.Equal(t, []string{"KUBECONFIG"}, production.Deploy.InheritEnv)
	require.Equal(t, []string{"KUBECONFIG"}, production.Checks[0].Command.InheritEnv)
	require.Equal(t, []string{"KUBECONFIG"}, production.Canary.Deploy.InheritEnv)
	require.Equal(t, []string{"LB_PROFILE", "KUBECONFIG"}, production.Canary.SetWeight.InheritEnv)
	require.Equal(t, []string{"KUBECONFIG"}, production.Canary.Analysis.Checks[0].Command.InheritEnv)
}

func TestInheritEnvProblems(t *testing.T) {
	t.Parallel()
	requireProblems(t, y(
		"server:",
		"  inherit_env: [BAKERY_BOOTSTRAP_TOKEN, 9LIVES, KUBECONFIG, KUBECONFIG]",
		"  mask_env: PASSWORD",
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [./deploy.sh]",
		"          inherit_env: [BAKERY_TOKEN]",
	),
		want{2, 17, "server.inherit_env", "BAKERY_BOOTSTRAP_TOKEN cannot be passed to commands: it is the server's first admin token"},
		want{2, 41, "server.inherit_env", "use letters, digits and underscores"},
		want{2, 61, "server.inherit_env", "KUBECONFIG is listed twice (first at line 2)"},
		want{3, 13, "server.mask_env", "must be a list of environment variable names"},
		want{10, 25, "services[0].environments[0].deploy.inherit_env", "BAKERY_TOKEN cannot be passed to commands"},
	)
}
