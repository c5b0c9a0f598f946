package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/testutil"
)

// minimalServices is a valid services block, for files about the server.
var minimalServices = []string{
	"services:",
	"  - name: web",
	"    environments:",
	"      - name: staging",
	"        deploy:",
	`          command: ["./deploy.sh"]`,
}

func withServices(lines ...string) string { return y(append(lines, minimalServices...)...) }

func TestServerDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(y(minimalServices...)))
	require.NoError(t, err)
	require.Equal(t, DefaultLimits(), cfg.Server.Limits)
	require.Equal(t, httpx.Limits{
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute,
		IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10, MaxConnections: 1024,
		MaxEventStreams: 1000, MaxEventStreamsPerSession: 8,
	}, cfg.Server.Limits)
	require.Nil(t, cfg.Server.TLS)
	require.False(t, cfg.Server.HSTS)
	require.Empty(t, cfg.Server.TrustedProxies, "no proxy is trusted unless configured")
	require.Equal(t, "http://127.0.0.1:8080", cfg.Server.URL, "links point at the server itself unless server.url says otherwise")
}

func TestServerURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lines []string
		want  string
	}{
		{[]string{"server:", "  url: https://bakery.example.com/"}, "https://bakery.example.com"},
		{[]string{"server:", "  url: https://example.com/tools/bakery"}, "https://example.com/tools/bakery"},
		{[]string{"server:", "  addr: :9090"}, "http://127.0.0.1:9090"},
		{[]string{"server:", "  addr: 10.0.0.5:9090"}, "http://10.0.0.5:9090"},
	} {
		cfg, err := Parse("bakery.yaml", []byte(withServices(tc.lines...)))
		require.NoError(t, err)
		require.Equal(t, tc.want, cfg.Server.URL)
	}
	for _, bad := range []string{"bakery.example.com", "ftp://example.com", "https://", "https://example.com/?a=1", "https://u:p@example.com"} {
		requireProblems(t, withServices("server:", "  url: "+bad), want{2, 8, "server.url", "url must be the address people open the dashboard at"})
	}
}

func TestServerLimits(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(withServices(
		"server:",
		"  limits:",
		"    read_header_timeout: 2s",
		"    read_timeout: 5s",
		"    write_timeout: 7s",
		"    idle_timeout: 9s",
		"    max_header_bytes: 16384",
		"    max_connections: 50",
		"    max_event_streams: 40",
		"    max_event_streams_per_session: 3",
	)))
	require.NoError(t, err)
	require.Equal(t, httpx.Limits{
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 5 * time.Second, WriteTimeout: 7 * time.Second,
		IdleTimeout: 9 * time.Second, MaxHeaderBytes: 16384, MaxConnections: 50,
		MaxEventStreams: 40, MaxEventStreamsPerSession: 3,
	}, cfg.Server.Limits)
}

func TestServerProblems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cert, key, _ := testutil.SelfSignedCert(t, dir)
	other := t.TempDir()
	otherCert, _, _ := testutil.SelfSignedCert(t, other)
	cases := []struct {
		name  string
		lines []string
		want  []want
	}{
		{"unknown limit", []string{"server:", "  limits:", "    body_timeout: 5s"},
			[]want{{3, 5, "server.limits.body_timeout", `unknown field "body_timeout"`}}},
		{"zero and negative timeouts", []string{"server:", "  limits:", "    read_timeout: 0s", "    idle_timeout: -1s"},
			[]want{
				{3, 19, "server.limits.read_timeout", "read_timeout must be greater than zero"},
				{4, 19, "server.limits.idle_timeout", "idle_timeout must be greater than zero"},
			}},
		{"bad numbers", []string{"server:", "  limits:", "    max_header_bytes: 100", "    max_connections: lots", "    max_event_streams_per_session: 0"},
			[]want{
				{3, 23, "server.limits.max_header_bytes", "from 8192"},
				{4, 22, "server.limits.max_connections", "whole number from 1"},
				{5, 36, "server.limits.max_event_streams_per_session", "whole number from 1"},
			}},
		{"header timeout beyond read timeout", []string{"server:", "  limits:", "    read_header_timeout: 1m", "    read_timeout: 10s"},
			[]want{{3, 5, "server.limits.read_header_timeout", "longer than read_timeout"}}},
		{"more streams than connections", []string{"server:", "  limits:", "    max_connections: 10"},
			[]want{{3, 5, "server.limits.max_event_streams", "more than max_connections (10)"}}},
		{"tls without key", []string{"server:", "  tls:", "    cert: " + cert},
			[]want{{3, 5, "server.tls.key", "needs both cert and key"}}},
		{"tls without cert", []string{"server:", "  tls:", "    key: " + key},
			[]want{{3, 5, "server.tls.cert", "needs both cert and key"}}},
		{"tls files missing", []string{"server:", "  tls:", "    cert: nowhere/cert.pem", "    key: nowhere/key.pem"},
			[]want{
				{3, 11, "server.tls.cert", "cannot read the TLS cert file"},
				{4, 10, "server.tls.key", "no such file or directory"},
			}},
		{"tls pair mismatch", []string{"server:", "  tls:", "    cert: " + otherCert, "    key: " + key},
			[]want{{3, 5, "server.tls", "not a usable certificate and key"}}},
		{"tls a directory", []string{"server:", "  tls:", "    cert: " + dir, "    key: " + key},
			[]want{{3, 11, "server.tls.cert", "not a regular file"}}},
		{"bad proxies", []string{"server:", "  trusted_proxies: [10.0.0.0/33, proxy.example, 0.0.0.0/0, 10.1.2.3]"},
			[]want{
				{2, 21, "server.trusted_proxies[0]", `invalid trusted proxy "10.0.0.0/33"`},
				{2, 34, "server.trusted_proxies[1]", `invalid trusted proxy "proxy.example"`},
				{2, 49, "server.trusted_proxies[2]", "is every address"},
			}},
		{"proxies not a list", []string{"server:", "  trusted_proxies: 10.0.0.1"},
			[]want{{2, 20, "server.trusted_proxies", "must be a list"}}},
		{"hsts without https", []string{"server:", "  hsts: true"},
			[]want{{2, 9, "server.hsts", "neither tls"}}},
		{"hsts not a bool", []string{"server:", "  hsts: yes please", "  trusted_proxies: [127.0.0.1]"},
			[]want{{2, 9, "server.hsts", "expected true or false"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireProblems(t, withServices(tc.lines...), tc.want...)
		})
	}
}

func TestServerTLSAndProxies(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "tls"), 0o700))
	testutil.SelfSignedCert(t, filepath.Join(dir, "tls"))
	cfg, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(withServices(
		"server:",
		"  tls: {cert: tls/cert.pem, key: tls/key.pem}",
		"  hsts: true",
		"  trusted_proxies: [127.0.0.1, 10.0.0.0/8, '::1', 'fd00::/8', '::ffff:192.168.0.0/112']",
	)))
	require.NoError(t, err)
	require.Equal(t, &TLS{Cert: filepath.Join(dir, "tls", "cert.pem"), Key: filepath.Join(dir, "tls", "key.pem")}, cfg.Server.TLS,
		"paths are relative to the file")
	require.True(t, cfg.Server.HSTS)
	require.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.0.0/16"),
	}, cfg.Server.TrustedProxies)
}

func TestRouterTrackHeaderAndTimeout(t *testing.T) {
	t.Parallel()
	file := func(extra ...string) string {
		lines := []string{
			"services:",
			"  - name: web",
			"    environments:",
			"      - name: staging",
			"        deploy: {command: [./deploy.sh]}",
			"      - name: production",
			"        deploy: {command: [./deploy.sh]}",
			"        canary:",
			"          deploy: {command: [./canary.sh]}",
			"          router:",
			"            listen: 127.0.0.1:8082",
			"            stable: http://127.0.0.1:8092",
			"            canary: http://127.0.0.1:8093",
		}
		lines = append(lines, extra...)
		return y(append(lines,
			"          steps: [{weight: 10, for: 1m}]",
			"          analysis:",
			"            metrics: [{name: errors, router: error_rate}]",
		)...)
	}
	cfg, err := Parse("bakery.yaml", []byte(file()))
	require.NoError(t, err)
	r := cfg.Services[0].Environments[1].Canary.Router
	require.False(t, r.TrackHeader, "X-Bakery-Track is off unless configured")
	require.Equal(t, DefaultResponseHeaderTimeout, r.ResponseHeaderTimeout)

	cfg, err = Parse("bakery.yaml", []byte(file("            track_header: true", "            response_header_timeout: 5s")))
	require.NoError(t, err)
	r = cfg.Services[0].Environments[1].Canary.Router
	require.True(t, r.TrackHeader)
	require.Equal(t, 5*time.Second, r.ResponseHeaderTimeout)

	requireProblems(t, file("            track_header: sometimes", "            response_header_timeout: 0s"),
		want{14, 27, "services[0].environments[1].canary.router.track_header", "expected true or false"},
		want{15, 38, "services[0].environments[1].canary.router.response_header_timeout", "greater than zero"},
	)
}

func TestServerInsights(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(y(minimalServices...)))
	require.NoError(t, err)
	require.Zero(t, cfg.Server.Insights.FailureWindow, "unset: the insights use DefaultFailureWindow")
	cfg, err = Parse("bakery.yaml", []byte(withServices("server:", "  insights:", "    failure_window: 2d")))
	require.NoError(t, err)
	require.Equal(t, 48*time.Hour, cfg.Server.Insights.FailureWindow)
	requireProblems(t, withServices("server:", "  insights:", "    failure_window: 0s"),
		want{3, 21, "server.insights.failure_window", "failure_window must be greater than zero"})
	requireProblems(t, withServices("server:", "  insights:", "    failure_window: soon"),
		want{3, 21, "server.insights.failure_window", "invalid duration"})
	requireProblems(t, withServices("server:", "  insights:", "    window: 1h"),
		want{3, 5, "server.insights.window", `unknown field "window"`})
}
