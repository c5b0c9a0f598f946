package httpx

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustProxies(t *testing.T, entries ...string) *Proxies {
	t.Helper()
	var prefixes []netip.Prefix
	for _, e := range entries {
		p, err := ParsePrefix(e)
		require.NoError(t, err, e)
		prefixes = append(prefixes, p)
	}
	return NewProxies(prefixes)
}

func TestParsePrefix(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"10.0.0.5":                "10.0.0.5/32",
		"10.1.2.3/8":              "10.0.0.0/8",
		"::1":                     "::1/128",
		"fd00::1/8":               "fd00::/8",
		"::ffff:10.0.0.1":         "10.0.0.1/32",
		"::ffff:192.168.0.0/112":  "192.168.0.0/16",
		"fe80::1%eth0":            "fe80::1/128",
		"2001:db8::/32":           "2001:db8::/32",
		"::ffff:192.168.0.0/120:": "",
		"proxy.example":           "",
		"10.0.0.0/33":             "",
	} {
		p, err := ParsePrefix(in)
		if want == "" {
			require.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		require.Equal(t, want, p.String(), in)
	}
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	proxies := mustProxies(t, "127.0.0.1", "10.0.0.0/8", "fd00::/8")
	cases := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "203.0.113.7:5000", nil, "203.0.113.7"},
		{"untrusted peer's header is ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, "203.0.113.7"},
		{"trusted proxy without header", "127.0.0.1:5000", nil, "127.0.0.1"},
		{"trusted proxy", "127.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"client's own entries left of the real one", "127.0.0.1:5000", []string{"1.2.3.4, 5.6.7.8, 198.51.100.1"}, "198.51.100.1"},
		{"chain of trusted proxies", "10.0.0.2:5000", []string{"198.51.100.1, 10.0.0.9", "10.1.1.1"}, "198.51.100.1"},
		{"everyone trusted: the leftmost", "10.0.0.2:5000", []string{"10.0.0.7, 10.0.0.9"}, "10.0.0.7"},
		{"garbage stops the walk", "127.0.0.1:5000", []string{"<script>, 10.0.0.3"}, "10.0.0.3"},
		{"garbage right away", "127.0.0.1:5000", []string{"not-an-ip"}, "127.0.0.1"},
		{"IPv6 proxy", "[fd00::5]:443", []string{"2001:db8::1"}, "2001:db8::1"},
		{"IPv4-mapped peer", "[::ffff:127.0.0.1]:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"unparseable remote", "pipe", []string{"198.51.100.1"}, "pipe"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			require.Equal(t, tc.want, proxies.ClientIP(r))
			require.Equal(t, tc.want, ClientIP(r.WithContext(WithProxies(r.Context(), proxies))), "through the request's context")
		})
	}
	// Without proxies in the context no header is believed.
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "127.0.0.1:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	require.Equal(t, "127.0.0.1", ClientIP(r))
	var none *Proxies
	require.Equal(t, "127.0.0.1", none.ClientIP(r))
}

func TestSecureAndHost(t *testing.T) {
	t.Parallel()
	proxies := mustProxies(t, "127.0.0.1")
	req := func(remote string, hdr ...string) *http.Request {
		r := httptest.NewRequest("GET", "http://bakery.internal/", nil)
		r.RemoteAddr = remote
		for i := 0; i+1 < len(hdr); i += 2 {
			r.Header.Add(hdr[i], hdr[i+1])
		}
		return r
	}
	require.False(t, proxies.Secure(req("203.0.113.7:1", "X-Forwarded-Proto", "https")), "anyone may not claim HTTPS")
	require.True(t, proxies.Secure(req("127.0.0.1:1", "X-Forwarded-Proto", "https")))
	require.True(t, proxies.Secure(req("127.0.0.1:1", "X-Forwarded-Proto", "HTTPS")))
	require.False(t, proxies.Secure(req("127.0.0.1:1", "X-Forwarded-Proto", "https, http")), "the nearest proxy's word counts")
	require.False(t, proxies.Secure(req("127.0.0.1:1")))
	tlsReq := req("203.0.113.7:1")
	tlsReq.TLS = &tls.ConnectionState{}
	require.True(t, proxies.Secure(tlsReq))
	var none *Proxies
	require.True(t, none.Secure(tlsReq))
	require.False(t, none.Secure(req("127.0.0.1:1", "X-Forwarded-Proto", "https")))

	require.Equal(t, "bakery.internal", proxies.Host(req("203.0.113.7:1", "X-Forwarded-Host", "evil.example")))
	require.Equal(t, "bakery.example", proxies.Host(req("127.0.0.1:1", "X-Forwarded-Host", "bakery.example")))
	require.Equal(t, "bakery.internal", proxies.Host(req("127.0.0.1:1")))
	require.Equal(t, "bakery.internal", none.Host(req("127.0.0.1:1", "X-Forwarded-Host", "evil.example")))
}

func TestHandlerHSTS(t *testing.T) {
	t.Parallel()
	proxies := mustProxies(t, "127.0.0.1")
	var got *Proxies
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = FromContext(r.Context()) }), proxies, true)
	serve := func(remote, proto string) http.Header {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if proto != "" {
			r.Header.Set("X-Forwarded-Proto", proto)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Header()
	}
	require.Equal(t, HSTSValue, serve("127.0.0.1:1", "https").Get("Strict-Transport-Security"))
	require.Same(t, proxies, got)
	require.Empty(t, serve("127.0.0.1:1", "").Get("Strict-Transport-Security"), "never on plain HTTP")
	require.Empty(t, serve("203.0.113.7:1", "https").Get("Strict-Transport-Security"), "an untrusted client's claim is ignored")
	h = Handler(http.NotFoundHandler(), proxies, false)
	require.Empty(t, serve("127.0.0.1:1", "https").Get("Strict-Transport-Security"), "off unless configured")
}
