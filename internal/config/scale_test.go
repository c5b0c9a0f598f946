package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// manyServices is a plain file of n services, no aliases.
func manyServices(n int) string {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: svc-%05d\n    environments:\n      - name: staging\n        deploy: {command: [./deploy.sh, staging], timeout: 1m}\n"+
			"      - name: production\n        bake: 1h\n        deploy: {command: [./deploy.sh, production], timeout: 1m}\n", i)
	}
	return b.String()
}

// TestParseTenThousandServices: a file of 10,000 plain services is
// accepted (a fixed bound on the values refused 3,704), while an alias
// bomb padded to 300 KB, which expands to a million values, is still
// refused: the bound grows with the file, not with what its aliases expand
// to.
func TestParseTenThousandServices(t *testing.T) {
	t.Parallel()
	src := manyServices(10_000)
	cfg, err := Parse("bakery.yaml", []byte(src))
	require.NoError(t, err)
	require.Len(t, cfg.Services, 10_000)

	hundred := func(s string) string { return "[" + strings.TrimSuffix(strings.Repeat(s+", ", 100), ", ") + "]" }
	bomb := y(
		"x:",
		"  cmd: &c "+hundred("a"),
		"  env: &e {name: x, deploy: {command: *c}}",
		"  envs: &es "+hundred("*e"),
		"  svc: &s {name: web, environments: *es}",
		"  pad: \""+strings.Repeat("p", 300_000)+"\"",
		"services: "+hundred("*s"),
	)
	ps := problemsOf(t, bomb)
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Message, fmt.Sprintf("more than %d values", visitLimit(len(bomb))))
	}
	require.True(t, found, "the expansion limit was not reported (%d problems)", len(ps))
}
