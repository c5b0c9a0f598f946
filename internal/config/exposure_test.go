package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// exposureFile is staging with the lines of stagingExtra (at line 6 on,
// column 9) and production with exposure lines from line 6+len(stagingExtra)+4.
func exposureFile(stagingExtra []string, exposure ...string) string {
	lines := []string{
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		`        deploy: {command: ["./deploy.sh", "staging"]}`,
	}
	for _, l := range stagingExtra {
		lines = append(lines, "        "+l)
	}
	lines = append(lines,
		"      - name: production",
		"        bake: 1h",
		`        deploy: {command: ["./deploy.sh", "production"]}`,
		"        exposure:")
	for _, l := range exposure {
		lines = append(lines, "          "+l)
	}
	return y(lines...)
}

var stagingRouter = []string{"router: {listen: 127.0.0.1:8081, upstream: http://127.0.0.1:9081}"}

const xp = "services[0].environments[1].exposure"

func TestExposureValid(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(exposureFile(stagingRouter, "requests: 500", "people: 3", "max_wait: 12h", "after_max_wait: promote")))
	require.NoError(t, err)
	st, prod := cfg.Services[0].Environments[0], cfg.Services[0].Environments[1]
	require.Equal(t, &EnvRouter{Listen: "127.0.0.1:8081", Upstream: "http://127.0.0.1:9081", ResponseHeaderTimeout: DefaultResponseHeaderTimeout}, st.Router)
	require.Equal(t, &Exposure{Requests: 500, People: 3, MaxWait: 12 * time.Hour, AfterMaxWait: AfterMaxWaitPromote}, prod.Exposure)

	// People only need no router: the banner counts them.
	cfg, err = Parse("bakery.yaml", []byte(exposureFile(nil, "people: 3")))
	require.NoError(t, err)
	require.Equal(t, &Exposure{People: 3, AfterMaxWait: AfterMaxWaitHold}, cfg.Services[0].Environments[1].Exposure)

	// Prometheus counts the requests; min and requests are one number.
	cfg, err = Parse("bakery.yaml", []byte(exposureFile(nil,
		"prometheus:", "  url: http://127.0.0.1:9090", `  query: 'sum(increase(http_requests_total{version="{version}"}[30d]))'`, "  min: 200")))
	require.NoError(t, err)
	x := cfg.Services[0].Environments[1].Exposure
	require.EqualValues(t, 200, x.Requests)
	require.Equal(t, &ExposurePrometheus{URL: "http://127.0.0.1:9090", Query: `sum(increase(http_requests_total{version="{version}"}[30d]))`, Min: 200}, x.Prometheus)
}

func TestExposureProblems(t *testing.T) {
	t.Parallel()
	t.Run("requests without a router or prometheus below", func(t *testing.T) {
		requireProblems(t, exposureFile(nil, "requests: 500"),
			want{10, 21, xp + ".requests", "exposure.requests needs a way to count requests in staging: give staging a router"})
	})
	t.Run("negative values", func(t *testing.T) {
		requireProblems(t, exposureFile(stagingRouter, "requests: -5", "people: -1", "max_wait: -1h"),
			want{11, 21, xp + ".requests", "requests must not be negative"},
			want{12, 19, xp + ".people", "people must not be negative"},
			want{13, 21, xp + ".max_wait", "max_wait must be greater than zero"})
	})
	t.Run("after_max_wait", func(t *testing.T) {
		requireProblems(t, exposureFile(nil, "people: 3", "after_max_wait: later"),
			want{11, 27, xp + ".after_max_wait", "after_max_wait must be hold (keep waiting and say so) or promote"},
			want{11, 27, xp + ".after_max_wait", "after_max_wait needs max_wait"})
	})
	t.Run("asks for nothing", func(t *testing.T) {
		requireProblems(t, exposureFile(nil, "max_wait: 1h"),
			want{10, 11, xp, "exposure asks for no use"})
		requireProblems(t, exposureFile(nil, "people: 0"),
			want{10, 11, xp, "exposure asks for 0 requests and 0 people"})
	})
	t.Run("unknown field", func(t *testing.T) {
		requireProblems(t, exposureFile(nil, "people: 3", "users: 4"),
			want{11, 11, xp + ".users", `unknown field "users"`})
	})
	t.Run("prometheus", func(t *testing.T) {
		requireProblems(t, exposureFile(nil, "requests: 10", "prometheus: {url: ftp://x, query: 'sum(http_requests_total)', min: 10}"),
			want{11, 29, xp + ".prometheus.url", "url must be an absolute http(s) URL"},
			want{11, 45, xp + ".prometheus.query", "has no {version}"})
		requireProblems(t, exposureFile(nil, "requests: 10", "prometheus: {url: http://127.0.0.1:9090, query: 'x{v=\"{version}\"}', min: 20}"),
			want{11, 23, xp + ".prometheus.min", "prometheus.min (20) and requests (10) disagree"})
	})
	t.Run("on the first environment", func(t *testing.T) {
		requireProblems(t, y(
			"services:",
			"  - name: web",
			"    environments:",
			"      - name: staging",
			`        deploy: {command: ["./deploy.sh", "staging"]}`,
			"        exposure: {people: 3}",
		), want{6, 19, "services[0].environments[0].exposure", "the first environment cannot have an exposure gate"})
	})
	t.Run("router problems", func(t *testing.T) {
		requireProblems(t, exposureFile([]string{"router: {listen: 127.0.0.1:8081, upstream: http://127.0.0.1:8081/}"}, "people: 3"),
			want{6, 52, "services[0].environments[0].router.upstream", "points at the router itself"})
		requireProblems(t, exposureFile([]string{"router: {listen: 127.0.0.1:8080, upstream: http://127.0.0.1:9081}"}, "people: 3"),
			want{6, 26, "services[0].environments[0].router.listen", "clashes with the server's address"})
		requireProblems(t, exposureFile([]string{"router: {upstream: http://127.0.0.1:9081}"}, "people: 3"),
			want{6, 17, "services[0].environments[0].router.listen", "router.listen is required"})
	})
}
