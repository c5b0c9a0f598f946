package pipeline

import (
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStateDiagramMatchesCode keeps docs/ARCHITECTURE.md's mermaid diagram
// true: it must name exactly the deployment states the code defines.
func TestStateDiagramMatchesCode(t *testing.T) {
	t.Parallel()
	states := []DeploymentState{DeploymentCancelled, DeploymentFailed, DeploymentPending, DeploymentRunning, DeploymentSucceeded}
	checkDiagram(t, "```mermaid\n(stateDiagram-v2\n\\s*\\[\\*\\].*?)```", states, DeploymentState.IsTerminal)
}

// TestCanaryDiagramMatchesCode keeps the canary state diagram in
// docs/ARCHITECTURE.md in step with the CanaryState constants.
func TestCanaryDiagramMatchesCode(t *testing.T) {
	t.Parallel()
	states := []CanaryState{CanaryAborted, CanaryCancelled, CanaryPromoted, CanaryPromoting, CanaryRunning}
	checkDiagram(t, "```mermaid\n(stateDiagram-v2\n\\s*%% canary.*?)```", states, CanaryState.IsTerminal)
}

// checkDiagram finds the mermaid state diagram matched by block in
// docs/ARCHITECTURE.md and checks that it names exactly states, and that
// every terminal one ends in [*].
func checkDiagram[S ~string](t *testing.T, block string, states []S, terminal func(S) bool) {
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)" + block).FindSubmatch(doc)
	require.NotNil(t, m, "ARCHITECTURE.md has the diagram %s", block)
	seen := map[string]bool{}
	for _, edge := range regexp.MustCompile(`(?m)^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)`).FindAllSubmatch(m[1], -1) {
		for _, s := range edge[1:] {
			if string(s) != "[*]" {
				seen[string(s)] = true
			}
		}
	}
	var inDoc, code []string
	for s := range seen {
		inDoc = append(inDoc, s)
	}
	for _, s := range states {
		code = append(code, string(s))
		if terminal(s) {
			require.Contains(t, string(m[1]), string(s)+" --> [*]", "terminal state %s must end in [*]", s)
		}
	}
	sort.Strings(inDoc)
	sort.Strings(code)
	require.Equal(t, code, inDoc)
}

// TestStateDiagramArrowsMatchCode checks the deployment diagram's arrows,
// not only its states: every arrow between two states is one of
// DeploymentTransitions and every transition is drawn; the only arrow in is
// [*] --> pending.
func TestStateDiagramArrowsMatchCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	require.NoError(t, err)
	m := regexp.MustCompile("(?s)```mermaid\n(stateDiagram-v2\n\\s*\\[\\*\\].*?)```").FindSubmatch(doc)
	require.NotNil(t, m)
	drawn := map[string]bool{}
	var starts []string
	for _, edge := range regexp.MustCompile(`(?m)^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)`).FindAllSubmatch(m[1], -1) {
		from, to := string(edge[1]), string(edge[2])
		switch {
		case from == "[*]":
			starts = append(starts, to)
		case to == "[*]":
			require.True(t, DeploymentState(from).IsTerminal(), "%s --> [*] but %s is not terminal", from, from)
		default:
			drawn[from+" --> "+to] = true
		}
	}
	require.Equal(t, []string{string(DeploymentPending)}, starts, "a deployment starts pending")
	want := map[string]bool{}
	for _, tr := range DeploymentTransitions {
		want[string(tr.From)+" --> "+string(tr.To)] = true
	}
	require.Equal(t, want, drawn, "the diagram's arrows are DeploymentTransitions")
}
