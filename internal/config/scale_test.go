package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestParseTenThousandServicesAcrossFiles: 10,000 one-line services split
// over ten included files, each the merge of defaults, a where entry and a
// template, are accepted, and each is merged as documented.
func TestParseTenThousandServicesAcrossFiles(t *testing.T) {
	t.Parallel()
	files := map[string]string{"bakery.yaml": y(
		`include: ["services/*.yaml"]`,
		"defaults:",
		"  environments:",
		"    - name: staging",
		"      deploy: {command: [./deploy.sh, staging], timeout: 1m}",
		"    - name: production",
		"      bake: 1h",
		"      deploy: {command: [./deploy.sh, production], timeout: 1m}",
		"  where:",
		"    - selector: tier=1",
		"      environments:",
		"        - name: production",
		`          windows: {timezone: America/New_York, allow: ["Mon-Fri 09:00-18:00"]}`,
		"          checks: [{name: up, http: {url: \"http://127.0.0.1:9/healthz\"}}]",
		"templates:",
		"  web:",
		"    labels: {kind: web}",
		"    environments: [{name: production, bake: 2h}]",
	)}
	for f := range 10 {
		var b strings.Builder
		b.WriteString("services:\n")
		for i := range 1000 {
			fmt.Fprintf(&b, "  - {name: svc-%d-%03d, use: web, labels: {tier: \"%d\"}}\n", f, i, i%2)
		}
		files[fmt.Sprintf("services/part-%02d.yaml", f)] = b.String()
	}
	dir := writeTree(t, files)
	start := time.Now()
	cfg, err := loadIn(t, dir)
	t.Logf("FIGURE 10,000 services in 10 included files with defaults, where and a template: Load %s", time.Since(start))
	require.NoError(t, err)
	require.Len(t, cfg.Services, 10_000)
	require.Len(t, cfg.Files, 10)
	for _, s := range cfg.Services[:4] {
		prod := s.Environments[1]
		require.Equal(t, 2*time.Hour, prod.Bake, s.Name)
		require.Equal(t, s.Labels["tier"] == "1", prod.Window != nil, s.Name)
		require.Equal(t, "web", s.Labels["kind"])
	}
}

// TestTemplateAliasBombRefused: a template built of aliases that expand a
// million times is still refused, used by one service or by many.
func TestTemplateAliasBombRefused(t *testing.T) {
	t.Parallel()
	hundred := func(s string) string { return "[" + strings.TrimSuffix(strings.Repeat(s+", ", 100), ", ") + "]" }
	// Each service stands for 100 environments of 100 arguments each.
	bomb := y(
		"templates:",
		"  seed: {environments: [&e {name: x, deploy: {command: &c "+hundred("a")+"}}]}",
		"  boom: {environments: &es "+hundred("*e")+"}",
		"services: ["+strings.TrimSuffix(strings.Repeat("{name: web, use: boom}, ", 1000), ", ")+"]",
	)
	dir := writeTree(t, map[string]string{"bakery.yaml": bomb})
	_, err := loadIn(t, dir)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	found := false
	for _, p := range verr.Problems {
		found = found || strings.Contains(p.Message, fmt.Sprintf("more than %d values", visitLimit(len(bomb))+fragmentFactor*len(bomb)))
	}
	require.True(t, found, "the expansion limit was not reported (%d problems)", len(verr.Problems))
}

// TestIncludedAliasBombRefused: the bound holds over all files: an alias
// bomb in an included file is refused, at a position in that file.
func TestIncludedAliasBombRefused(t *testing.T) {
	t.Parallel()
	hundred := func(s string) string { return "[" + strings.TrimSuffix(strings.Repeat(s+", ", 100), ", ") + "]" }
	main := "include: [more.yaml]\n"
	inc := y(
		"templates:",
		"  seed: {environments: [&e {name: x, deploy: {command: &c "+hundred("a")+"}}]}",
		"  envs: {environments: &es "+hundred("*e")+"}",
		"services: "+hundred("{name: web, environments: *es}"),
	)
	dir := writeTree(t, map[string]string{"bakery.yaml": main, "more.yaml": inc})
	_, err := loadIn(t, dir)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	limit := visitLimit(len(main)+len(inc)) + fragmentFactor*(len(main)+len(inc))
	found := false
	for _, p := range verr.Problems {
		if strings.Contains(p.Message, fmt.Sprintf("more than %d values", limit)) {
			found = true
			require.Equal(t, "more.yaml", filepath.Base(p.File))
		}
	}
	require.True(t, found, "the expansion limit was not reported (%d problems)", len(verr.Problems))
}
