package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestChecksBlock(t *testing.T) {
	t.Parallel()
	const head = `services:
  - name: web
    environments:
      - name: staging
        deploy: {command: ["./deploy.sh"]}
      - name: production
        bake: 1h
        deploy: {command: ["./deploy.sh"]}
        checks:
`
	good := head + `          - name: staging-health
            http: {url: "https://staging.example.com/healthz", expect_status: 200}
            interval: 30s
          - name: staging-errors
            prometheus: {url: "http://127.0.0.1:9090", query: "sum(rate(x[5m]))", max: 0.5}
            interval: 1m
          - name: smoke
            command: ["./smoke.sh"]
`
	cfg, err := Parse("/srv/bakery.yaml", []byte(good))
	require.NoError(t, err)
	checks := cfg.Services[0].Environments[1].Checks
	require.Len(t, checks, 3)
	require.Equal(t, "staging-health", checks[0].Name)
	require.Equal(t, 30*time.Second, checks[0].Interval)
	require.Equal(t, 200, checks[0].HTTP.ExpectStatus)
	require.Equal(t, 0.5, *checks[1].Prometheus.Max)
	require.Equal(t, "/srv/smoke.sh", checks[2].Command.Command[0])

	cases := []struct{ name, body, field, msg string }{
		{"two kinds", "          - name: x\n            http: {url: \"http://a\"}\n            command: [\"./a\"]\n", "services[0].environments[1].checks[0]", "exactly one of"},
		{"no name", "          - http: {url: \"http://a\"}\n", "services[0].environments[1].checks[0].name", "needs a name"},
		{"prometheus without bound", "          - name: x\n            prometheus: {url: \"http://a\", query: \"up\"}\n", "services[0].environments[1].checks[0]", "x"},
		{"bad max", "          - name: x\n            prometheus: {url: \"http://a\", query: \"up\", max: lots}\n", "services[0].environments[1].checks[0].prometheus.max", "not a number"},
		{"unknown field", "          - name: x\n            htp: {url: \"http://a\"}\n", "services[0].environments[1].checks[0].htp", "unknown field"},
	}
	for _, c := range cases {
		_, err := Parse("bakery.yaml", []byte(head+c.body))
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, c.name)
		found := false
		for _, p := range verr.Problems {
			if p.Field == c.field {
				found = true
				require.Contains(t, p.Message, c.msg, c.name)
				require.Positive(t, p.Line, c.name)
			}
		}
		require.True(t, found, "%s: no problem for %s in %v", c.name, c.field, verr.Problems)
	}
	_, err = Parse("bakery.yaml", []byte(`services:
  - name: web
    environments:
      - name: staging
        deploy: {command: ["./deploy.sh"]}
        checks: [{name: x, http: {url: "http://a"}}]
`))
	require.ErrorContains(t, err, "the first environment cannot have checks")
}

// TestDatadogSiteIsOneOfDatadogs: the check sends its keys to the site, so
// the configuration accepts Datadog's documented sites only, and says
// which at the site's line.
func TestDatadogSiteIsOneOfDatadogs(t *testing.T) {
	t.Parallel()
	src := func(site string) string {
		return y(
			"services:",
			"  - name: web",
			"    environments:",
			"      - name: staging",
			"        deploy: {command: [./deploy.sh]}",
			"      - name: production",
			"        deploy: {command: [./deploy.sh]}",
			"        checks:",
			"          - name: errors",
			"            datadog:",
			"              site: "+site,
			"              query: avg:errors{env:staging}",
			"              max: 1",
		)
	}
	for _, site := range []string{"datadoghq.eu", "us5.datadoghq.com", "ddog-gov.com", "https://api.ap1.datadoghq.com"} {
		cfg, err := Parse("bakery.yaml", []byte(src(site)))
		require.NoError(t, err, site)
		require.Equal(t, site, cfg.Services[0].Environments[1].Checks[0].Datadog.Site)
	}
	for _, site := range []string{"http://127.0.0.1:8126", "https://collector.evil.example", "datadoghq.com.evil.example", "http://api.datadoghq.com"} {
		requireProblems(t, src(site), want{11, 15, "services[0].environments[1].checks[0].datadog.site",
			"use one of datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, ddog-gov.com"})
	}
	// There is no other way to name the host from the file.
	requireProblems(t, src("datadoghq.eu")+"              api_url: http://127.0.0.1:8126\n",
		want{14, 15, "services[0].environments[1].checks[0].datadog.api_url", `unknown field "api_url"`})
}
