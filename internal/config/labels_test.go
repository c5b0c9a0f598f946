package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestLabels(t *testing.T) {
	t.Parallel()
	svc := func(labels ...string) string {
		return y(append([]string{
			"services:",
			"  - name: web",
			"    environments:",
			"      - name: staging",
			"        deploy: {command: [./deploy.sh]}",
		}, labels...)...)
	}
	cfg, err := Parse("bakery.yaml", []byte(svc("    labels: {team: payments, tier: 1, app.kubernetes.io/part-of: shop}")))
	require.NoError(t, err)
	require.Equal(t, map[string]string{"team": "payments", "tier": "1", "app.kubernetes.io/part-of": "shop"}, cfg.Services[0].Labels)

	cfg, err = Parse("bakery.yaml", []byte(svc()))
	require.NoError(t, err)
	require.Nil(t, cfg.Services[0].Labels, "no labels block, no labels")

	for _, tc := range []struct {
		name  string
		line  string
		wants []want
	}{
		{"not a mapping", "    labels: [team]", []want{{6, 13, "services[0].labels", "labels must be a mapping"}}},
		{"bad name", "    labels: {Team: payments}", []want{{6, 14, "services[0].labels.Team", `label name "Team" must be a lower-case word`}}},
		{"bad value", "    labels: {team: pay ments}", []want{{6, 20, "services[0].labels.team", `label value "pay ments" must be a word`}}},
		{"list value", "    labels: {team: [a, b]}", []want{{6, 20, "services[0].labels.team", "expected a single value"}}},
		{"twice", "    labels: {team: a, team: b}", []want{{6, 23, "services[0].labels.team", `label "team" is set twice`}}},
	} {
		t.Run(tc.name, func(t *testing.T) { requireProblems(t, svc(tc.line), tc.wants...) })
	}
}

func TestSelector(t *testing.T) {
	t.Parallel()
	sel, err := ParseSelector(" tier=1, team=payments ")
	require.NoError(t, err)
	require.Equal(t, "team=payments,tier=1", sel.String(), "canonical: sorted by key")
	require.True(t, sel.Matches(map[string]string{"team": "payments", "tier": "1", "region": "eu"}))
	require.False(t, sel.Matches(map[string]string{"team": "payments"}), "every pair must hold")
	require.False(t, sel.Matches(map[string]string{"team": "search", "tier": "1"}))
	require.False(t, sel.Matches(nil))

	for _, tc := range []struct{ in, msg string }{
		{"", "the selector is empty"},
		{"team", `"team" is not key=value`},
		{"Team=a", `"Team" is not a label name`},
		{"team=", `"" is not a label value`},
		{"team=a,team=b", "names team twice"},
	} {
		_, err := ParseSelector(tc.in)
		require.ErrorContains(t, err, tc.msg, tc.in)
	}
}
