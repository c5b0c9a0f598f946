package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// gatesFile is a file whose production (line 6) has a smoke check (lines
// 9-10) and then the given lines at the environment's level (from line 11,
// column 9).
func gatesFile(lines ...string) string {
	all := []string{
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		`        deploy: {command: ["./deploy.sh"]}`,
		"      - name: production",
		"        bake: 1h",
		`        deploy: {command: ["./deploy.sh"]}`,
		"        checks:",
		`          - {name: smoke, command: ["./smoke.sh"]}`,
	}
	for _, l := range lines {
		all = append(all, "        "+l)
	}
	return y(all...)
}

const gp = "services[0].environments[1]"

func TestGatesValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(gatesFile(
		"culprit_finding: {check: smoke, repeat: 5}",
		"fix: {bake: 10m, approvals: 2}",
		"approval: {required: true, count: 1, not_author: true}",
	)))
	require.NoError(t, err)
	env := cfg.Services[0].Environments[1]
	require.Equal(t, &CulpritFinding{Check: "smoke", Repeat: 5}, env.CulpritFinding)
	require.Equal(t, &FixLane{Bake: 10 * time.Minute, Approvals: 2}, env.Fix)
	require.Equal(t, &Approval{Required: true, Count: 1, NotAuthor: true}, env.Approval)

	cfg, err = Parse("bakery.yaml", []byte(gatesFile("culprit_finding: {check: smoke}", "fix: {}", "approval: {required: false}")))
	require.NoError(t, err)
	env = cfg.Services[0].Environments[1]
	require.Equal(t, 3, env.CulpritFinding.Repeat, "default repeat")
	require.Equal(t, &FixLane{Bake: time.Hour, Approvals: 1}, env.Fix, "defaults: the environment's bake, one approval")
	require.Nil(t, env.Approval, "required: false turns the gate off")
}

func TestGatesProblems(t *testing.T) {
	t.Parallel()
	requireProblems(t, gatesFile(
		"culprit_finding: {check: nope, repeat: 0}",
		"fix: {bake: 2h, approvals: 11, lanes: 2}",
		"approval: {required: yes-please, count: 0}",
	),
		want{11, 34, gp + ".culprit_finding.check", `"nope" names no check of this environment; this environment's checks are: [smoke]`},
		want{11, 48, gp + ".culprit_finding.repeat", `a whole number from 1 to 20; got "0"`},
		want{12, 21, gp + ".fix.bake", "fix.bake 2h0m0s is longer than the environment's bake 1h0m0s"},
		want{12, 40, gp + ".fix.lanes", `unknown field "lanes"; known fields are: bake, approvals`},
		want{13, 30, gp + ".approval.required", "expected true or false"},
		want{13, 49, gp + ".approval.count", "a whole number from 1 to 10"},
	)
	requireProblems(t, y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		`        deploy: {command: ["./deploy.sh"]}`,
		"        fix: {bake: 1m}",
	), want{6, 14, "services[0].environments[0].fix", "the first environment cannot have fix"})
	requireProblems(t, gatesFile("culprit_finding: {repeat: 2}"),
		want{11, 26, gp + ".culprit_finding.check", "culprit_finding needs check"})
}
