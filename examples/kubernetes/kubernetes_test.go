// Package kubernetes holds the tests of the Kubernetes example's scripts,
// run the way bakery runs them (deploy.Exec) against the kubectl stand-in
// (test/fakecli), which checks every argument against kubectl's syntax.
package kubernetes

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/deploy"
	"github.com/bakery-deploy/bakery/test/fakecli"
)

type cluster struct {
	bin, state string
}

func newCluster(t *testing.T, scenario string) *cluster {
	t.Helper()
	c := &cluster{bin: fakecli.Build(t), state: filepath.Join(t.TempDir(), "cluster.json")}
	fakecli.Write(t, c.state, &fakecli.State{
		Deployments: map[string]*fakecli.K8sDeployment{
			"shop/web":        {Containers: map[string]string{"web": "registry.example.com/web:v0", "log-shipper": "fluent/fluent-bit:3.0"}, Replicas: 3, Scenario: scenario, ReadyAfter: 2},
			"shop/web-canary": {Containers: map[string]string{"web": "registry.example.com/web:v0"}, Replicas: 1},
		},
		Ingresses: map[string]map[string]string{"shop/web-canary": {"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "0"}},
	})
	return c
}

func (c *cluster) run(t *testing.T, script, artifact string, env map[string]string) (string, error) {
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

var prodEnv = map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web"}

func TestDeploySucceeds(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:abc123", prodEnv)
	require.NoError(t, err)
	require.Contains(t, out, "deployment.apps/web image updated")
	require.Contains(t, out, `deployment "web" successfully rolled out`)
	d := fakecli.Read(t, c.state).Deployments["shop/web"]
	require.Equal(t, "registry.example.com/web:abc123", d.Containers["web"])
	require.Equal(t, "fluent/fluent-bit:3.0", d.Containers["log-shipper"], "only the named container changes")
}

// TestDeployProgressDeadline: the new pods never become ready and the
// Deployment exceeds progressDeadlineSeconds: rollout status exits 1.
func TestDeployProgressDeadline(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "deadline")
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:bad", prodEnv)
	require.Error(t, err)
	require.Contains(t, out, `error: deployment "web" exceeded its progress deadline`)
	require.Contains(t, out, "did not roll out registry.example.com/web:bad within 5m")
}

// TestDeployTimeout: the rollout hangs; rollout status gives up at
// ROLLOUT_TIMEOUT with kubectl's message, and the deploy fails.
func TestDeployTimeout(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "hang")
	env := map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web", "ROLLOUT_TIMEOUT": "300ms"}
	out, err := c.run(t, "deploy.sh", "registry.example.com/web:slow", env)
	require.Error(t, err)
	require.Contains(t, out, "error: timed out waiting for the condition")
	require.Contains(t, out, "within 300ms")
}

func TestDeployBadInput(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	for _, tc := range []struct {
		env      map[string]string
		artifact string
		want     string
	}{
		{map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "wbe"}, "registry.example.com/web:v1", `Error from server (NotFound): deployments.apps "wbe" not found`},
		{map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web", "K8S_CONTAINER": "app"}, "registry.example.com/web:v1", `error: unable to find container named "app"`},
		// kubectl's --timeout needs a unit.
		{map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web", "ROLLOUT_TIMEOUT": "120"}, "registry.example.com/web:v1", `invalid argument "120" for "--timeout" flag`},
		{map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web"}, "Registry.Example.com/Web:v1 ", "must be a valid image reference"},
		{map[string]string{"K8S_NAMESPACE": "shop", "K8S_DEPLOYMENT": "web"}, "", "create it with --artifact IMAGE"},
	} {
		out, err := c.run(t, "deploy.sh", tc.artifact, tc.env)
		require.Error(t, err, "%v", tc.env)
		require.Contains(t, out, tc.want)
	}
}

func TestSetWeightAndCleanup(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	env := map[string]string{"K8S_NAMESPACE": "shop", "CANARY_INGRESS": "web-canary"}
	for _, w := range []string{"10", "50", "0"} {
		env["BAKERY_CANARY_WEIGHT"] = w
		out, err := c.run(t, "set_weight.sh", "", env)
		require.NoError(t, err)
		require.Contains(t, out, "ingress.networking.k8s.io/web-canary annotated")
		require.Equal(t, w, fakecli.Read(t, c.state).Ingresses["shop/web-canary"]["nginx.ingress.kubernetes.io/canary-weight"])
	}
	for _, w := range []string{"101", "-5", "half"} {
		env["BAKERY_CANARY_WEIGHT"] = w
		_, err := c.run(t, "set_weight.sh", "", env)
		require.Error(t, err, "weight %q", w)
	}
	out, err := c.run(t, "cleanup.sh", "", map[string]string{"K8S_NAMESPACE": "shop", "CANARY_DEPLOYMENT": "web-canary", "BAKERY_CANARY_OUTCOME": "aborted"})
	require.NoError(t, err)
	require.Contains(t, out, "deployment.apps/web-canary scaled")
	require.Equal(t, 0, fakecli.Read(t, c.state).Deployments["shop/web-canary"].Replicas)
}

// TestStandInRefusesWhatKubectlRefuses keeps the stand-in honest.
func TestStandInRefusesWhatKubectlRefuses(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "")
	kubectl := func(args ...string) (string, int) {
		cmd := exec.Command(filepath.Join(c.bin, "kubectl"), args...)
		cmd.Env = append(os.Environ(), "FAKECLI_STATE="+c.state)
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		// annotate without --overwrite over an existing value
		{[]string{"-n", "shop", "annotate", "ingress/web-canary", "nginx.ingress.kubernetes.io/canary-weight=20"}, "--overwrite is false but found the following declared annotation(s): 'nginx.ingress.kubernetes.io/canary-weight' already has a value (0)"},
		{[]string{"-n", "shop", "rollout", "status", "deployment/web", "--timeout", "5 minutes"}, `invalid argument "5 minutes" for "--timeout" flag`},
		{[]string{"-n", "shop", "set", "image", "deployment/web"}, "at least one image update is required"},
		{[]string{"-n", "shop", "set", "image", "deployment/web", "--image=web:v2"}, "unknown flag: --image"},
		{[]string{"-n", "shop", "scale", "deployment/web"}, `required flag(s) "replicas" not set`},
		{[]string{"-n", "shop", "rollout", "status", "deploymnt/web"}, `the server doesn't have a resource type "deploymnt/web"`},
		{[]string{"-n", "default", "set", "image", "deployment/web", "web=registry.example.com/web:v2"}, `deployments.apps "web" not found`},
	} {
		out, code := kubectl(tc.args...)
		require.Equal(t, 1, code, "kubectl %v: %s", tc.args, out)
		require.Contains(t, out, tc.msg, "kubectl %v", tc.args)
	}
}

func TestConfigIsValid(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("bakery.yaml")
	require.NoError(t, err)
	prod, _, ok := cfg.Services[0].Environment("production")
	require.True(t, ok)
	require.NotNil(t, prod.Canary)
}
