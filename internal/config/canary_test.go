package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/analysis/judge"
)

// canaryHead is a file whose last line opens production's canary block at
// line 9; canaryFile appends the block's lines from line 10 on, indented
// under it, so a key at the block's top level is at column 11.
var canaryHead = []string{
	"services:",
	"  - name: web",
	"    environments:",
	"      - name: staging",
	`        deploy: {command: ["./deploy.sh", "staging"]}`,
	"      - name: production",
	"        bake: 1h",
	`        deploy: {command: ["./deploy.sh", "production"]}`,
	"        canary:",
}

func canaryFile(lines ...string) string {
	all := append([]string(nil), canaryHead...)
	for _, l := range lines {
		all = append(all, "          "+l)
	}
	return y(all...)
}

// The canary prefix of every field path in these tests.
const cp = "services[0].environments[1].canary"

func ptr(x float64) *float64 { return &x }

func TestCanaryValid(t *testing.T) {
	t.Parallel()
	dir := filepath.FromSlash("/srv/bakery")
	src := canaryFile(
		"deploy:",
		`  command: ["./deploy.sh", "production-canary", "8093"]`,
		"  timeout: 1m",
		"router:",
		"  listen: 127.0.0.1:8082",
		"  stable: http://127.0.0.1:8092",
		"  canary: http://127.0.0.1:8093",
		"set_weight:",
		`  command: ["./weights.sh"]`,
		"cleanup:",
		`  command: ["./stop-canary.sh"]`,
		"  timeout: 30s",
		"steps:",
		"  - {weight: 10, for: 30s}",
		"  - {weight: 50, for: 30s}",
		"analysis:",
		"  interval: 10s",
		"  pass: 90",
		"  marginal: 70.5",
		"  metrics:",
		"    - name: errors",
		"      router: error_rate",
		"      direction: increase",
		"      confidence: 0.9",
		"      tolerance: 0.1",
		"      critical: true",
		"      weight: 2",
		"      min_samples: 5",
		"      max: 0.05",
		"      min: 0",
		"    - name: latency",
		"      router: latency",
		"      direction: either",
		"    - name: p-errors",
		"      prometheus:",
		"        url: http://127.0.0.1:9090",
		`        canary: 'sum(rate(http_requests_total{track="canary",code=~"5.."}[30s]))'`,
		`        baseline: 'sum(rate(http_requests_total{track="stable",code=~"5.."}[30s]))'`,
		"        step: 2s",
		"  checks:",
		"    - name: canary-health",
		`      http: {url: "http://127.0.0.1:8093/healthz"}`,
	)
	cfg, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(src))
	require.NoError(t, err)
	require.Equal(t, &Canary{
		Deploy: Deploy{
			Command: []string{filepath.Join(dir, "deploy.sh"), "production-canary", "8093"},
			Timeout: time.Minute,
			Dir:     dir,
		},
		Router: &Router{Listen: "127.0.0.1:8082", Stable: "http://127.0.0.1:8092", Canary: "http://127.0.0.1:8093",
			ResponseHeaderTimeout: DefaultResponseHeaderTimeout},
		SetWeight: &Deploy{
			Command: []string{filepath.Join(dir, "weights.sh")},
			Timeout: DefaultTimeout,
			Dir:     dir,
		},
		Cleanup: &Deploy{
			Command: []string{filepath.Join(dir, "stop-canary.sh")},
			Timeout: 30 * time.Second,
			Dir:     dir,
		},
		Steps: []CanaryStep{{Weight: 10, For: 30 * time.Second}, {Weight: 50, For: 30 * time.Second}},
		Analysis: Analysis{
			Interval: 10 * time.Second,
			Pass:     90,
			Marginal: 70.5,
			Metrics: []AnalysisMetric{
				{
					Metric: judge.Metric{
						Name: "errors", Direction: judge.Increase, Confidence: 0.9, Tolerance: 0.1,
						Critical: true, Weight: 2, MinSamples: 5, Max: ptr(0.05), Min: ptr(0),
					},
					Router: RouterErrorRate,
				},
				{Metric: judge.Metric{Name: "latency", Direction: judge.Either}, Router: RouterLatency},
				{
					Metric: judge.Metric{Name: "p-errors", Direction: judge.Increase},
					Prometheus: &PrometheusMetric{
						URL:      "http://127.0.0.1:9090",
						Canary:   `sum(rate(http_requests_total{track="canary",code=~"5.."}[30s]))`,
						Baseline: `sum(rate(http_requests_total{track="stable",code=~"5.."}[30s]))`,
						Step:     2 * time.Second,
					},
				},
			},
			Checks: []check.Spec{{Name: "canary-health", HTTP: &check.HTTPSpec{URL: "http://127.0.0.1:8093/healthz"}}},
		},
	}, cfg.Services[0].Environments[1].Canary)
	require.Nil(t, cfg.Services[0].Environments[0].Canary)
}

func TestCanaryDefaults(t *testing.T) {
	t.Parallel()
	dir := filepath.FromSlash("/srv/bakery")
	src := canaryFile(
		"deploy: {command: [./canary.sh]}",
		"set_weight: {command: [./weights.sh]}",
		"steps: [{weight: 100, for: 1m}]",
		"analysis:",
		"  metrics:",
		"    - name: errors",
		"      prometheus: {url: https://prometheus.example.com, canary: a, baseline: b}",
	)
	cfg, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(src))
	require.NoError(t, err)
	c := cfg.Services[0].Environments[1].Canary
	require.Equal(t, Deploy{Command: []string{filepath.Join(dir, "canary.sh")}, Timeout: DefaultTimeout, Dir: dir}, c.Deploy)
	require.Nil(t, c.Router)
	require.Equal(t, Analysis{
		Interval: DefaultAnalysisInterval,
		Pass:     95,
		Marginal: 75,
		Metrics: []AnalysisMetric{{
			Metric:     judge.Metric{Name: "errors", Direction: judge.Increase},
			Prometheus: &PrometheusMetric{URL: "https://prometheus.example.com", Canary: "a", Baseline: "b", Step: 5 * time.Second},
		}},
	}, c.Analysis)

	// Checks alone are analysis enough, and a null canary is no canary.
	cfg, err = Parse("bakery.yaml", []byte(canaryFile(
		"deploy: {command: [./canary.sh]}",
		"set_weight: {command: [./weights.sh]}",
		"steps: [{weight: 10, for: 1m}]",
		"analysis:",
		"  metrics: []",
		`  checks: [{name: health, http: {url: "http://127.0.0.1:8093/healthz"}}]`,
	)))
	require.NoError(t, err)
	require.Len(t, cfg.Services[0].Environments[1].Canary.Analysis.Checks, 1)
	cfg, err = Parse("bakery.yaml", []byte(y(canaryHead...)))
	require.NoError(t, err)
	require.Nil(t, cfg.Services[0].Environments[1].Canary)
}

// TestCanaryRouterListens checks the clash of router addresses with the
// server's and with each other across the whole file.
func TestCanaryRouterListens(t *testing.T) {
	t.Parallel()
	env := func(name, listen string) []string {
		return []string{
			"      - name: " + name,
			"        deploy: {command: [./deploy.sh]}",
			"        canary:",
			"          deploy: {command: [./canary.sh]}",
			"          router: {listen: '" + listen + "', stable: http://10.0.0.1:80, canary: http://10.0.0.2:80}",
			"          steps: [{weight: 10, for: 1m}]",
			"          analysis: {metrics: [{name: errors, router: error_rate}]}",
		}
	}
	file := func(server string, envs ...[]string) string {
		lines := []string{"server: {addr: '" + server + "'}", "services:", "  - name: web", "    environments:"}
		for _, e := range envs {
			lines = append(lines, e...)
		}
		return y(lines...)
	}
	const field = "services[0].environments[%d].canary.router.listen"
	// Different ports, or different hosts on one port, are fine.
	_, err := Parse("bakery.yaml", []byte(file("127.0.0.1:8080", env("a", "127.0.0.1:8081"), env("b", "127.0.0.2:8081"), env("c", ":8082"))))
	require.NoError(t, err)

	requireProblems(t, file("127.0.0.1:8080", env("a", "localhost:8080")),
		want{9, 28, "services[0].environments[0].canary.router.listen", "clashes with the server's address: the server itself listens on 127.0.0.1:8080 (server.addr, line 1)"})
	requireProblems(t, file(":9000", env("a", "127.0.0.1:9000")),
		want{9, 28, "services[0].environments[0].canary.router.listen", "the server itself listens on :9000"})
	// With server.addr unset, the default address is taken.
	src := strings.Replace(file("x", env("a", "127.0.0.1:8080")), "server: {addr: 'x'}", "server: {}", 1)
	requireProblems(t, src,
		want{9, 28, "services[0].environments[0].canary.router.listen", "(the default server.addr)"})
	requireProblems(t, file("127.0.0.1:8080", env("a", "127.0.0.1:8081"), env("b", "0.0.0.0:8081")),
		want{16, 28, "services[0].environments[1].canary.router.listen", "clashes with services[0].environments[0].canary.router.listen at line 9 (127.0.0.1:8081); give each canary router its own port"})
	// Across services too.
	two := file("127.0.0.1:8080", env("a", "127.0.0.1:8081")) + y("  - name: api", "    environments:") +
		strings.Join(env("b", "[::]:8081"), "\n") + "\n"
	requireProblems(t, two,
		want{18, 28, "services[1].environments[0].canary.router.listen", "clashes with services[0].environments[0].canary.router.listen at line 9"})
}

func TestCanaryProblems(t *testing.T) {
	t.Parallel()
	// The parts of a valid canary, to be assembled with one part changed.
	var (
		deploy   = "deploy: {command: [./canary.sh]}"
		router   = "router: {listen: 127.0.0.1:8082, stable: http://127.0.0.1:8092, canary: http://127.0.0.1:8093}"
		steps    = "steps: [{weight: 10, for: 1m}]"
		analysis = "analysis: {metrics: [{name: errors, router: error_rate}]}"
	)
	cases := []struct {
		name  string
		src   string
		wants []want
	}{
		{
			name:  "not a mapping",
			src:   y(append(canaryHead[:8:8], "        canary: [x]")...),
			wants: []want{{9, 17, cp, "canary must be a mapping with the fields deploy, router, set_weight, cleanup, steps, analysis; got a list"}},
		},
		{
			name:  "unknown field",
			src:   canaryFile(deploy, router, steps, analysis, "weights: [10]"),
			wants: []want{{14, 11, cp + ".weights", `unknown field "weights"; known fields are: deploy, router, set_weight, cleanup, steps, analysis`}},
		},
		{
			name:  "no deploy",
			src:   canaryFile(router, steps, analysis),
			wants: []want{{10, 11, cp + ".deploy", "canary.deploy is required"}},
		},
		{
			name:  "deploy without command",
			src:   canaryFile("deploy: {timeout: 1m}", router, steps, analysis),
			wants: []want{{10, 19, cp + ".deploy.command", "deploy.command is required"}},
		},
		{
			name:  "no way to move traffic",
			src:   canaryFile(deploy, steps, "analysis: {checks: [{name: h, http: {url: http://a}}]}"),
			wants: []want{{10, 11, cp, "a canary needs a way to move traffic: router (bakery's built-in proxy) or set_weight (a command for your load balancer"}},
		},
		{
			name:  "set_weight without command",
			src:   canaryFile(deploy, "set_weight: {timeout: 1m}", steps, "analysis: {checks: [{name: h, http: {url: http://a}}]}"),
			wants: []want{{11, 23, cp + ".set_weight.command", "deploy.command is required"}},
		},
		{
			name:  "cleanup without command",
			src:   canaryFile(deploy, router, "cleanup: {timeout: 1m}", steps, analysis),
			wants: []want{{12, 20, cp + ".cleanup.command", "deploy.command is required"}},
		},
		{
			name: "router problems",
			src: canaryFile(deploy,
				"router:",
				"  listen: nowhere",
				"  stable: 127.0.0.1:8092",
				"  canary: ftp://x",
				steps, analysis),
			wants: []want{
				{12, 21, cp + ".router.listen", `invalid address "nowhere": write host:port`},
				{13, 21, cp + ".router.stable", `stable must be an absolute http(s) URL with a host, such as http://127.0.0.1:8092; got "127.0.0.1:8092"`},
				{14, 21, cp + ".router.canary", `canary must be an absolute http(s) URL with a host`},
			},
		},
		{
			name:  "router missing fields",
			src:   canaryFile(deploy, "router: {}", steps, analysis),
			wants: []want{{11, 19, cp + ".router.listen", "router.listen is required"}, {11, 19, cp + ".router.stable", "router.stable is required"}, {11, 19, cp + ".router.canary", "router.canary is required"}},
		},
		{
			name: "router url keeps passwords out",
			src: canaryFile(deploy,
				"router: {listen: 127.0.0.1:8082, stable: 'http://u:secret@/x', canary: http://127.0.0.1:8093}",
				steps, analysis),
			wants: []want{{11, 52, cp + ".router.stable", `got "http://u:xxxxx@/x"`}},
		},
		{
			name:  "router port 0",
			src:   canaryFile(deploy, "router: {listen: 127.0.0.1:0, stable: http://127.0.0.1:8092, canary: http://127.0.0.1:8093}", steps, analysis),
			wants: []want{{11, 28, cp + ".router.listen", "router.listen needs a fixed port"}},
		},
		{
			name:  "stable and canary the same",
			src:   canaryFile(deploy, "router: {listen: 127.0.0.1:8082, stable: http://LOCALHOST:80/, canary: http://127.0.0.1}", steps, analysis),
			wants: []want{{11, 82, cp + ".router.canary", "router.canary is the same URL as router.stable (line 11)"}},
		},
		{
			name:  "router to itself",
			src:   canaryFile(deploy, "router: {listen: ':8082', stable: http://localhost:8082, canary: http://127.0.0.1:8093}", steps, analysis),
			wants: []want{{11, 45, cp + ".router.stable", "router.stable points at the router itself (listen: :8082)"}},
		},
		{
			name:  "no steps",
			src:   canaryFile(deploy, router, analysis),
			wants: []want{{10, 11, cp + ".steps", "a canary needs at least one step"}},
		},
		{
			name:  "empty steps",
			src:   canaryFile(deploy, router, "steps: []", analysis),
			wants: []want{{12, 18, cp + ".steps", "a canary needs at least one step"}},
		},
		{
			name:  "steps not a list",
			src:   canaryFile(deploy, router, "steps: {weight: 10}", analysis),
			wants: []want{{12, 18, cp + ".steps", "steps must be a list of steps such as {weight: 10, for: 5m}; got a mapping"}},
		},
		{
			name: "step problems",
			src: canaryFile(deploy, router,
				"steps:",
				"  - {weight: 0, for: 1m}",
				"  - {weight: 101, for: 0s}",
				"  - {weight: ten, for: soon}",
				"  - {for: 1m}",
				"  - {weight: 10}",
				"  - {weight: 10, for: -1m, hold: true}",
				"  -",
				analysis),
			wants: []want{
				{13, 24, cp + ".steps[0].weight", `weight must be a whole percentage from 1 to 100 (the canary's share of traffic); got "0"`},
				{14, 24, cp + ".steps[1].weight", `got "101"`},
				{14, 34, cp + ".steps[1].for", `for must be greater than zero (got "0s")`},
				{15, 24, cp + ".steps[2].weight", `got "ten"`},
				{15, 34, cp + ".steps[2].for", `invalid duration "soon"`},
				{16, 15, cp + ".steps[3].weight", "every step needs weight"},
				{17, 15, cp + ".steps[4].for", "every step needs for"},
				{18, 33, cp + ".steps[5].for", `for must be greater than zero (got "-1m")`},
				{18, 38, cp + ".steps[5].hold", `unknown field "hold"; known fields are: weight, for`},
				{19, 14, cp + ".steps[6].weight", "every step needs weight"},
				{19, 14, cp + ".steps[6].for", "every step needs for"},
			},
		},
		{
			name:  "no analysis",
			src:   canaryFile(deploy, router, steps),
			wants: []want{{10, 11, cp + ".analysis", "canary.analysis is required: a canary without analysis would only delay"}},
		},
		{
			name:  "analysis without metrics or checks",
			src:   canaryFile(deploy, router, steps, "analysis: {interval: 10s, metrics: [], checks: []}"),
			wants: []want{{13, 21, cp + ".analysis", "a canary without analysis would only delay: add metrics (e.g. {name: errors, router: error_rate}) or checks"}},
		},
		{
			name: "analysis settings",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  interval: 500ms",
				"  pass: 101",
				"  marginal: lots",
				"  metrics: [{name: errors, router: error_rate}]",
				"  judge: strict",
			),
			wants: []want{
				{14, 23, cp + ".analysis.interval", `interval must be at least 1s (got "500ms")`},
				{15, 19, cp + ".analysis.pass", "pass must be a score from 0 to 100; got 101"},
				{16, 23, cp + ".analysis.marginal", `"lots" is not a number`},
				{18, 13, cp + ".analysis.judge", `unknown field "judge"; known fields are: interval, pass, marginal, metrics, checks`},
			},
		},
		{
			name:  "marginal above pass",
			src:   canaryFile(deploy, router, steps, "analysis: {pass: 80, marginal: 90, metrics: [{name: errors, router: error_rate}]}"),
			wants: []want{{13, 42, cp + ".analysis.marginal", "marginal (90) must not be above pass (80)"}},
		},
		{
			name:  "pass below the default marginal",
			src:   canaryFile(deploy, router, steps, "analysis: {pass: 70, metrics: [{name: errors, router: error_rate}]}"),
			wants: []want{{13, 28, cp + ".analysis.pass", "marginal (75) must not be above pass (70)"}},
		},
		{
			name: "metric sources",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  metrics:",
				"    - name: none",
				"    - name: both",
				"      router: latency",
				"      prometheus: {url: http://p, canary: a, baseline: b}",
				"    - name: odd",
				"      router: p99",
				"    - {router: error_rate}",
			),
			wants: []want{
				{15, 17, cp + ".analysis.metrics[0]", "a metric needs exactly one of router (a measurement of bakery's built-in router: error_rate or latency) or prometheus (PromQL queries for canary and baseline); it has 0"},
				{16, 17, cp + ".analysis.metrics[1]", "it has 2"},
				{20, 25, cp + ".analysis.metrics[2].router", `unknown router measurement "p99"; use one of error_rate, latency`},
				{21, 17, cp + ".analysis.metrics[3].name", "a metric needs a name"},
			},
		},
		{
			name: "router metric without a router",
			src: canaryFile(deploy, "set_weight: {command: [./weights.sh]}", steps,
				"analysis:",
				"  metrics: [{name: errors, router: error_rate}]",
			),
			wants: []want{{14, 46, cp + ".analysis.metrics[0].router", "router metrics need canary.router; with set_weight, read metrics from prometheus"}},
		},
		{
			name: "metric names",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  metrics:",
				"    - {name: errors, router: error_rate}",
				"    - {name: errors, router: latency}",
				"    - {name: health, router: latency}",
				"  checks:",
				"    - {name: health, http: {url: http://a}}",
			),
			wants: []want{
				{16, 24, cp + ".analysis.metrics[1].name", `metric name "errors" is used twice (first at line 15)`},
				{17, 24, cp + ".analysis.metrics[2].name", `metric name "health" is also the name of a check in this analysis (line 19)`},
			},
		},
		{
			name: "metric settings",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  metrics:",
				"    - name: errors",
				"      router: error_rate",
				"      direction: up",
				"      confidence: 1",
				"      tolerance: -0.1",
				"      critical: yes",
				"      weight: 0",
				"      min_samples: 0",
				"      max: 1",
				"      min: 2",
				"      unit: s",
			),
			wants: []want{
				{17, 28, cp + ".analysis.metrics[0].direction", `unknown direction "up"; use increase`},
				{18, 29, cp + ".analysis.metrics[0].confidence", "confidence must be between 0 and 1, exclusive, e.g. 0.95; got 1"},
				{19, 28, cp + ".analysis.metrics[0].tolerance", "tolerance must be 0 or more"},
				{20, 27, cp + ".analysis.metrics[0].critical", `expected true or false; got the value "yes"`},
				{21, 25, cp + ".analysis.metrics[0].weight", "weight must be greater than 0"},
				{22, 30, cp + ".analysis.metrics[0].min_samples", `min_samples must be a whole number of 1 or more; got "0"`},
				{23, 22, cp + ".analysis.metrics[0].max", "max (1) is below min (2), so every value would fail"},
				{25, 17, cp + ".analysis.metrics[0].unit", `unknown field "unit"`},
			},
		},
		{
			name: "metric bounds not finite",
			src: canaryFile(deploy, router, steps,
				"analysis: {metrics: [{name: errors, router: error_rate, max: NaN, min: -Inf, confidence: NaN}]}",
			),
			wants: []want{
				{13, 72, cp + ".analysis.metrics[0].max", "max must be a finite number; got NaN"},
				{13, 82, cp + ".analysis.metrics[0].min", "min must be a finite number; got -Inf"},
				{13, 100, cp + ".analysis.metrics[0].confidence", "confidence must be between 0 and 1"},
			},
		},
		{
			name: "prometheus metric",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  metrics:",
				"    - name: errors",
				"      prometheus:",
				"        url: 127.0.0.1:9090",
				"        canary: ' '",
				"        step: 0s",
				"        range: 5m",
			),
			wants: []want{
				{17, 19, cp + ".analysis.metrics[0].prometheus.baseline", `a prometheus metric needs baseline: a PromQL query returning one series for the stable version, e.g. baseline: 'sum(rate(http_requests_total{track="stable",code=~"5.."}[30s]))'`},
				{17, 24, cp + ".analysis.metrics[0].prometheus.url", "url must be an absolute http(s) URL with a host, such as http://127.0.0.1:9090"},
				{18, 19, cp + ".analysis.metrics[0].prometheus.canary", "a prometheus metric needs canary: a PromQL query returning one series for the canary version"},
				{19, 25, cp + ".analysis.metrics[0].prometheus.step", `step must be greater than zero (got "0s")`},
				{20, 19, cp + ".analysis.metrics[0].prometheus.range", `unknown field "range"; known fields are: url, canary, baseline, step`},
			},
		},
		{
			name: "analysis checks are the environment's checks",
			src: canaryFile(deploy, router, steps,
				"analysis:",
				"  checks:",
				"    - name: health",
				"      htp: {url: http://a}",
			),
			wants: []want{
				{15, 17, cp + ".analysis.checks[0]", "a check needs exactly one of http, prometheus, datadog or command (it has 0)"},
				{16, 17, cp + ".analysis.checks[0].htp", `unknown field "htp"`},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			requireProblems(t, c.src, c.wants...)
		})
	}
}
