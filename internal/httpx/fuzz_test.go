package httpx

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientIP: whatever a client writes in X-Forwarded-For, ClientIP never
// panics, names the peer itself when the peer is not a trusted proxy, and
// otherwise names the peer or an address from the header that is not left
// of an untrusted one.
func FuzzClientIP(f *testing.F) {
	for _, seed := range [][2]string{
		{"127.0.0.1:1", "198.51.100.1"},
		{"127.0.0.1:1", "1.2.3.4, 10.0.0.1, 198.51.100.1"},
		{"[fd00::1]:1", "2001:db8::1,fd00::2"},
		{"203.0.113.9:1", "10.0.0.1"},
		{"127.0.0.1:1", ",,, ,"},
		{"127.0.0.1:1", "::ffff:10.0.0.1, fe80::1%eth0"},
	} {
		f.Add(seed[0], seed[1])
	}
	proxies := NewProxies([]netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		got := proxies.ClientIP(r)
		if got == "" && remote != "" && !strings.HasPrefix(remote, ":") {
			t.Fatalf("ClientIP(%q, %q) is empty", remote, xff)
		}
		peer := remote
		if a := (*Proxies)(nil).ClientIP(r); a != proxies.ClientIP(r) && !proxies.Trusted(r) {
			t.Fatalf("untrusted peer %q: ClientIP %q, want the peer %q", remote, proxies.ClientIP(r), a)
		}
		if !proxies.Trusted(r) {
			return
		}
		if a, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("ClientIP(%q, %q) = %q, not an address", peer, xff, got)
		} else if a.String() != got {
			t.Fatalf("ClientIP(%q, %q) = %q, not in canonical form", peer, xff, got)
		}
		// Nothing left of the first untrusted hop (from the right) counts.
		hops := strings.Split(xff, ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				return
			}
			if !proxies.contains(a) {
				if want := a.Unmap().WithZone("").String(); got != want {
					t.Fatalf("ClientIP(%q, %q) = %q; want the rightmost untrusted hop %q", peer, xff, got, want)
				}
				return
			}
		}
	})
}
