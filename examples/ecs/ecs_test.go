// Package ecs holds the tests of the ECS example's scripts, run the way
// bakery runs them (deploy.Exec) against the aws stand-in (test/fakecli),
// which checks every argument against the AWS CLI's syntax.
package ecs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/test/fakecli"
)

const (
	ruleARN   = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee"
	stableTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-stable/73e2d6bc24d8a067"
	canaryTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-canary/09ff2b54f4a2a3e1"
	listenARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"
)

type cloud struct {
	bin, state string
}

// newCloud builds the stand-in and seeds an account with the production
// cluster's two services and the ALB rule.
func newCloud(t *testing.T, scenario string) *cloud {
	t.Helper()
	c := &cloud{bin: fakecli.Build(t), state: filepath.Join(t.TempDir(), "cloud.json")}
	fakecli.Write(t, c.state, &fakecli.State{
		WaitDelay: "1ms",
		Services: map[string]*fakecli.ECSService{
			"production/web":        {TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:0", DesiredCount: 3, RunningCount: 3, Scenario: scenario, StableAfter: 2},
			"production/web-canary": {TaskDefinition: "arn:aws:ecs:us-east-1:123456789012:task-definition/web:0", DesiredCount: 1, RunningCount: 1},
		},
		Rules:     map[string][]any{ruleARN: nil},
		Listeners: map[string][]any{listenARN: nil},
	})
	return c
}

// run runs script as bakery would, with env on top of the release's
// BAKERY_* variables.
func (c *cloud) run(t *testing.T, script, artifact string, env map[string]string) (string, error) {
	t.Helper()
	abs, err := filepath.Abs(script)
	require.NoError(t, err)
	full := map[string]string{"PATH": c.bin + ":" + os.Getenv("PATH"), "FAKECLI_STATE": c.state}
	for k, v := range env {
		full[k] = v
	}
	out := deploy.NewTail(64 << 10)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = deploy.Exec{}.Deploy(ctx, deploy.Request{Service: "web", Environment: "production", Version: "abc123", Artifact: artifact,
		DeploymentID: 1, Attempt: 1, Command: []string{abs}, Env: full, Timeout: 30 * time.Second}, out)
	t.Logf("%s:\n%s", script, out.String())
	return out.String(), err
}

var prodEnv = map[string]string{"ECS_CLUSTER": "production", "ECS_SERVICE": "web"}

func TestDeploySucceeds(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "")
	out, err := c.run(t, "deploy.sh", "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123", prodEnv)
	require.NoError(t, err)
	require.Contains(t, out, "web runs 123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123 (arn:aws:ecs:us-east-1:123456789012:task-definition/web:1)")
	s := fakecli.Read(t, c.state)
	require.Equal(t, "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1", s.Services["production/web"].TaskDefinition)
	td := s.TaskDefinitions["web"][0]
	image := td["containerDefinitions"].([]any)[0].(map[string]any)["image"]
	require.Equal(t, "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:abc123", image, "the release's image is in the task definition")
	var ops []string
	for _, call := range s.Calls {
		ops = append(ops, strings.Join(call[1:3], " "))
	}
	require.Equal(t, []string{"ecs register-task-definition", "ecs update-service", "ecs wait", "ecs describe-services"}, ops)
}

// TestDeployRolledBack: the service becomes stable, but the deployment
// circuit breaker rolled it back to the old revision; the script must not
// report success.
func TestDeployRolledBack(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "rollback")
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:bad", prodEnv)
	require.Error(t, err)
	require.Contains(t, out, "is stable but runs arn:aws:ecs:us-east-1:123456789012:task-definition/web:0, not arn:aws:ecs:us-east-1:123456789012:task-definition/web:1: ECS rolled the deployment back")
}

// TestDeployNeverStable: tasks crash-loop, the waiter gives up after 40
// checks with exit 255, and so does the deploy.
func TestDeployNeverStable(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "crashloop")
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:crash", prodEnv)
	require.Error(t, err)
	require.Contains(t, out, "Waiter ServicesStable failed: Max attempts exceeded")
	require.Contains(t, out, "web did not become stable")
	waits := 0
	for _, call := range fakecli.Read(t, c.state).Calls {
		if len(call) > 2 && call[2] == "wait" {
			waits++
		}
	}
	require.Equal(t, 1, waits)
	require.Equal(t, 40, fakecli.Read(t, c.state).Services["production/web"].Polls, "the waiter's 40 checks")
}

func TestDeployBadInput(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "")
	// An unknown service: the service's error (254) fails the deploy.
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:v1", map[string]string{"ECS_CLUSTER": "production", "ECS_SERVICE": "wbe"})
	require.Error(t, err)
	require.Contains(t, out, "An error occurred (ServiceNotFoundException) when calling the UpdateService operation: Service not found.")
	// No artifact, and an image that would break the JSON.
	out, err = c.run(t, "deploy.sh", "", prodEnv)
	require.Error(t, err)
	require.Contains(t, out, "create it with --artifact IMAGE")
	out, err = c.run(t, "deploy.sh", `web:"v1"`, prodEnv)
	require.Error(t, err)
	require.Contains(t, out, "has characters an image reference cannot have")
	// A task definition template with a field RegisterTaskDefinition does
	// not have: the CLI's parameter validation (252).
	bad := filepath.Join(t.TempDir(), "taskdef.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"family":"web","image":"__IMAGE__","containerDefinitions":[{"name":"web","image":"__IMAGE__"}]}`), 0o600))
	out, err = c.run(t, "deploy.sh", "registry.example.com/web:v1", map[string]string{"ECS_CLUSTER": "production", "ECS_SERVICE": "web", "TASKDEF": bad})
	require.Error(t, err)
	require.Contains(t, out, `Unknown parameter in input: "image"`)
}

func TestSetWeight(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "")
	env := map[string]string{"RULE_ARN": ruleARN, "STABLE_TG": stableTG, "CANARY_TG": canaryTG, "BAKERY_CANARY_WEIGHT": "25"}
	out, err := c.run(t, "set_weight.sh", "", env)
	require.NoError(t, err)
	require.Contains(t, out, "canary 25%, stable 75%")
	fwd := fakecli.Read(t, c.state).Rules[ruleARN][0].(map[string]any)["ForwardConfig"].(map[string]any)["TargetGroups"].([]any)
	require.Equal(t, []any{
		map[string]any{"TargetGroupArn": stableTG, "Weight": 75.0},
		map[string]any{"TargetGroupArn": canaryTG, "Weight": 25.0},
	}, fwd)

	// Weight 0 ends a canary: all traffic to stable. Through the listener.
	delete(env, "RULE_ARN")
	env["LISTENER_ARN"], env["BAKERY_CANARY_WEIGHT"] = listenARN, "0"
	_, err = c.run(t, "set_weight.sh", "", env)
	require.NoError(t, err)
	fwd = fakecli.Read(t, c.state).Listeners[listenARN][0].(map[string]any)["ForwardConfig"].(map[string]any)["TargetGroups"].([]any)
	require.Equal(t, 100.0, fwd[0].(map[string]any)["Weight"])

	for _, w := range []string{"150", "ten", ""} {
		env["BAKERY_CANARY_WEIGHT"] = w
		_, err := c.run(t, "set_weight.sh", "", env)
		require.Error(t, err, "weight %q", w)
	}
	// A target group ARN of the wrong shape is the service's validation error.
	env["BAKERY_CANARY_WEIGHT"], env["CANARY_TG"] = "10", "web-canary"
	out, err = c.run(t, "set_weight.sh", "", env)
	require.Error(t, err)
	require.Contains(t, out, "An error occurred (ValidationError) when calling the ModifyListener operation: 'web-canary' is not a valid target group ARN")
}

func TestCleanup(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "")
	out, err := c.run(t, "cleanup.sh", "", map[string]string{"ECS_CLUSTER": "production", "ECS_CANARY_SERVICE": "web-canary", "BAKERY_CANARY_OUTCOME": "promoted"})
	require.NoError(t, err)
	require.Contains(t, out, "canary service web-canary scaled to 0 (promoted)")
	require.Equal(t, 0, fakecli.Read(t, c.state).Services["production/web-canary"].DesiredCount)
}

// TestStandInRefusesWhatTheCLIRefuses keeps the stand-in honest: the
// mistakes a script could make are refused with the CLI's exit codes.
func TestStandInRefusesWhatTheCLIRefuses(t *testing.T) {
	t.Parallel()
	c := newCloud(t, "")
	aws := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(c.bin, "aws"), args...)
		cmd.Env = append(os.Environ(), "FAKECLI_STATE="+c.state)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"ecs", "update-service", "--cluster", "production", "--services", "web"}, 252, "Unknown options: --services"},
		{[]string{"ecs", "update-service", "--cluster", "production"}, 252, "the following arguments are required: --service"},
		{[]string{"ecs", "wait", "services-stable", "--cluster", "production", "--service", "web"}, 252, "Unknown options: --service"},
		{[]string{"ecs", "wait", "services-stable", "--cluster", "production", "--services", "nope"}, 255, `matched expected path: "MISSING"`},
		{[]string{"ecs", "update-service", "--cluster", "production", "--service", "web", "--task-definition", "other:3"}, 254, "TaskDefinition not found."},
		{[]string{"ecs", "update-service", "--cluster", "production", "--service", "web", "--desired-count", "two"}, 252, "invalid literal for int()"},
		{[]string{"elbv2", "modify-rule", "--rule-arn", ruleARN, "--actions", `Type=forward,TargetGroupArn=` + stableTG}, 252, "Error parsing parameter '--actions'"},
		{[]string{"elbv2", "modify-rule", "--rule-arn", ruleARN, "--actions", `[{"Type":"forward","ForwardConfig":{"TargetGroups":[{"TargetGroupArn":"` + stableTG + `","Weight":1000}]}}]`}, 254, "must be an integer between 0 and 999"},
		{[]string{"elbv2", "modify-rule", "--rule-arn", ruleARN + "0", "--actions", "[]"}, 254, "RuleNotFound"},
		{[]string{"ecs", "describe-services", "--cluster", "production", "--services", "web", "--output", "xml"}, 252, "argument --output: Invalid choice"},
	} {
		out, code := aws(tc.args...)
		require.Equal(t, tc.code, code, "aws %v: %s", tc.args, out)
		require.Contains(t, out, tc.msg, "aws %v", tc.args)
	}
}

// TestConfigIsValid: the example's bakery.yaml passes bakery's own checks.
func TestConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("bakery.yaml")
	require.NoError(t, err)
	prod, _, ok := cfg.Services[0].Environment("production")
	require.True(t, ok)
	require.NotNil(t, prod.Canary)
	for _, script := range []string{"deploy.sh", "set_weight.sh", "cleanup.sh"} {
		st, err := os.Stat(script)
		require.NoError(t, err)
		require.NotZero(t, st.Mode()&0o111, "%s is executable", script)
	}
}
