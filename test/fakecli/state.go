// Package fakecli is the state of the stand-ins for the aws and kubectl
// command-line tools (cmd/fakecli) and what the examples' tests need to
// build, seed and read them.
package fakecli

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// State is the fake cloud, kept in the FAKECLI_STATE file.
type State struct {
	Region  string `json:"region"`
	Account string `json:"account"`
	// TaskDefinitions by family: every registered revision, oldest first.
	TaskDefinitions map[string][]map[string]any `json:"task_definitions"`
	// Services by "cluster/service".
	Services map[string]*ECSService `json:"services"`
	// Listeners and Rules by ARN: their forward actions.
	Listeners map[string][]any `json:"listeners"`
	Rules     map[string][]any `json:"rules"`
	// Deployments by "namespace/name".
	Deployments map[string]*K8sDeployment `json:"deployments"`
	// Ingresses by "namespace/name": their annotations.
	Ingresses map[string]map[string]string `json:"ingresses"`
	// WaitDelay replaces the waiter's 15 s between polls (a Go duration;
	// default 10ms).
	WaitDelay string `json:"wait_delay"`
	// Calls records every invocation's arguments, for the tests.
	Calls [][]string `json:"calls"`
}

// ECSService is one ECS service.
type ECSService struct {
	TaskDefinition string `json:"task_definition"`
	DesiredCount   int    `json:"desired_count"`
	RunningCount   int    `json:"running_count"`
	// Scenario for the next deployment: "" (stable after StableAfter
	// polls), "crashloop" (never stable), "rollback" (the circuit breaker
	// rolls back to the previous task definition, then it is stable).
	Scenario    string `json:"scenario"`
	StableAfter int    `json:"stable_after"`
	// Deploying is set while a deployment is in progress; Polls counts the
	// waiter's polls of it.
	Deploying bool   `json:"deploying"`
	Previous  string `json:"previous"`
	Polls     int    `json:"polls"`
}

// K8sDeployment is one Deployment: its containers' images and scenario.
type K8sDeployment struct {
	Containers map[string]string `json:"containers"`
	Replicas   int               `json:"replicas"`
	// Scenario of its rollout: "" (done after ReadyAfter polls), "hang"
	// (never finishes), "deadline" (exceeds its progress deadline).
	Scenario   string `json:"scenario"`
	ReadyAfter int    `json:"ready_after"`
	Rolling    bool   `json:"rolling"`
	Generation int    `json:"generation"`
}

// Build builds the stand-in and installs it as aws and kubectl in a new
// directory, which it returns (put it first on PATH).
func Build(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		goTool = "go"
	}
	out, err := exec.Command(goTool, "build", "-o", filepath.Join(dir, "aws"), "github.com/bakery-deploy/bakery/test/fakecli/cmd/fakecli").CombinedOutput()
	if err != nil {
		t.Fatalf("building the aws/kubectl stand-in: %v\n%s", err, out)
	}
	if err := os.Link(filepath.Join(dir, "aws"), filepath.Join(dir, "kubectl")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Write stores s as the state file at path.
func Write(t testing.TB, path string, s *State) {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Read loads the state file at path.
func Read(t testing.TB, path string) *State {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &State{}
	if err := json.Unmarshal(b, s); err != nil {
		t.Fatal(err)
	}
	return s
}
