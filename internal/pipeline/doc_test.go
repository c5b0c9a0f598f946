package pipeline

import (
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestStateDiagramMatchesCode keeps docs/ARCHITECTURE.md's mermaid diagram
// true: it must name exactly the deployment states the code defines.
func TestStateDiagramMatchesCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```mermaid\n(stateDiagram-v2.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "ARCHITECTURE.md has a mermaid state diagram")
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)`).FindAllSubmatch(block[1], -1) {
		for _, s := range m[1:] {
			if string(s) != "[*]" {
				seen[string(s)] = true
			}
		}
	}
	var inDoc []string
	for s := range seen {
		inDoc = append(inDoc, s)
	}
	sort.Strings(inDoc)
	code := []string{string(DeploymentCancelled), string(DeploymentFailed), string(DeploymentPending), string(DeploymentRunning), string(DeploymentSucceeded)}
	sort.Strings(code)
	require.Equal(t, code, inDoc)
	for _, s := range code {
		st := DeploymentState(s)
		if st.IsTerminal() {
			require.True(t, strings.Contains(string(block[1]), s+" --> [*]"), "terminal state %s must end in [*]", s)
		}
	}
}

// TestCanaryDiagramMatchesCode keeps the canary state diagram in
// docs/ARCHITECTURE.md in step with the CanaryState constants.
func TestCanaryDiagramMatchesCode(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/ARCHITECTURE.md")
	require.NoError(t, err)
	block := regexp.MustCompile("(?s)```mermaid\n(stateDiagram-v2\n\\s*%% canary.*?)```").FindSubmatch(doc)
	require.NotNil(t, block, "ARCHITECTURE.md has the canary state diagram")
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(\[\*\]|\w+) --> (\[\*\]|\w+)`).FindAllSubmatch(block[1], -1) {
		for _, s := range m[1:] {
			if string(s) != "[*]" {
				seen[string(s)] = true
			}
		}
	}
	var inDoc []string
	for s := range seen {
		inDoc = append(inDoc, s)
	}
	sort.Strings(inDoc)
	code := []string{string(CanaryAborted), string(CanaryCancelled), string(CanaryPromoted), string(CanaryPromoting), string(CanaryRunning)}
	sort.Strings(code)
	require.Equal(t, code, inDoc)
	for _, s := range code {
		if CanaryState(s).IsTerminal() {
			require.Contains(t, string(block[1]), s+" --> [*]", "terminal state %s must end in [*]", s)
		}
	}
}
