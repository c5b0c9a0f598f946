// Package httpx holds what bakery's HTTP servers (the API and dashboard
// server, and the built-in canary routers) share about the network: which
// reverse proxies are trusted to say who the client is (Proxies), the
// server limits against slow, idle and greedy clients (Limits, NewServer,
// LimitListener), the TLS settings, and how many failed attempts a client
// may make (Limiter).
//
// Nothing here trusts a request header by default. X-Forwarded-For,
// X-Forwarded-Proto and X-Forwarded-Host are read only from a request whose
// connection comes from a configured trusted proxy; from anyone else they
// are ignored, so a client cannot claim another address, pretend its
// connection is HTTPS, or pass a foreign host as the dashboard's own.
package httpx

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies is the set of reverse proxies whose X-Forwarded-* headers are
// believed. The nil *Proxies trusts no one; every method works on it.
type Proxies struct {
	nets []netip.Prefix
}

// NewProxies returns the proxies at the given addresses and networks (an
// address is a prefix of its full length). No prefixes: trust no one.
func NewProxies(prefixes []netip.Prefix) *Proxies {
	if len(prefixes) == 0 {
		return nil
	}
	p := &Proxies{nets: make([]netip.Prefix, len(prefixes))}
	for i, n := range prefixes {
		p.nets[i] = n.Masked()
	}
	return p
}

// ParsePrefix parses one trusted proxy entry: an address (10.0.0.5, ::1)
// or a network in CIDR notation (10.0.0.0/8, fd00::/8).
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			// ::ffff:10.0.0.0/104 is 10.0.0.0/8: addresses are compared
			// in their IPv4 form.
			return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96), nil
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// contains reports whether a is one of the trusted proxies.
func (p *Proxies) contains(a netip.Addr) bool {
	if p == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap().WithZone("")
	for _, n := range p.nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// remote is the address of the peer of r's connection.
func remote(r *http.Request) netip.Addr {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap().WithZone("")
}

// Trusted reports whether r came straight from a trusted proxy, whose
// X-Forwarded-* headers are then believed.
func (p *Proxies) Trusted(r *http.Request) bool { return p.contains(remote(r)) }

// ClientIP is the address of the client that made r: the connection's peer,
// unless that is a trusted proxy, in which case it is the rightmost address
// in X-Forwarded-For that is not a trusted proxy (every proxy appends the
// address it got the request from, so the entries left of the first
// untrusted one are whatever the client chose to send). It is never empty:
// when nothing better is known it is r.RemoteAddr's host, as written.
func (p *Proxies) ClientIP(r *http.Request) string {
	peer := remote(r)
	if !peer.IsValid() {
		if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			return h
		}
		return r.RemoteAddr
	}
	if !p.contains(peer) {
		return peer.String()
	}
	client := peer
	values := r.Header.Values("X-Forwarded-For")
	for i := len(values) - 1; i >= 0; i-- {
		hops := strings.Split(values[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(hops[j]))
			if err != nil {
				// Not an address: a trusted proxy would not write it, so
				// it came from the client; the hop that passed it on is
				// the last one known.
				return client.String()
			}
			client = a.Unmap().WithZone("")
			if !p.contains(client) {
				return client.String()
			}
		}
	}
	return client.String()
}

// Secure reports whether the client's connection is HTTPS: r came over TLS,
// or a trusted proxy says the client's did (X-Forwarded-Proto: https, the
// last value if several proxies wrote it).
func (p *Proxies) Secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if !p.Trusted(r) {
		return false
	}
	return strings.EqualFold(lastValue(r.Header.Values("X-Forwarded-Proto")), "https")
}

// Host is the host the client asked for: r.Host, or what a trusted proxy
// says in X-Forwarded-Host.
func (p *Proxies) Host(r *http.Request) string {
	if p.Trusted(r) {
		if h := lastValue(r.Header.Values("X-Forwarded-Host")); h != "" {
			return h
		}
	}
	return r.Host
}

// lastValue is the last comma-separated element of a header's values: the
// one the proxy nearest to this server wrote.
func lastValue(values []string) string {
	if len(values) == 0 {
		return ""
	}
	v := values[len(values)-1]
	if i := strings.LastIndexByte(v, ','); i >= 0 {
		v = v[i+1:]
	}
	return strings.TrimSpace(v)
}

type proxiesKey struct{}

// WithProxies returns a copy of ctx that carries p, for the package-level
// ClientIP, Secure and Host. Handler does it for every request.
func WithProxies(ctx context.Context, p *Proxies) context.Context {
	return context.WithValue(ctx, proxiesKey{}, p)
}

// FromContext is the Proxies the server put in ctx; nil (trust no one)
// when there are none.
func FromContext(ctx context.Context) *Proxies {
	p, _ := ctx.Value(proxiesKey{}).(*Proxies)
	return p
}

// ClientIP is the client's address of a request served by a bakery server
// (see Proxies.ClientIP), with the trusted proxies the server was
// configured with; rate limits and logs key on it.
func ClientIP(r *http.Request) string { return FromContext(r.Context()).ClientIP(r) }

// Secure reports whether the client's connection is HTTPS (see
// Proxies.Secure), with the server's trusted proxies.
func Secure(r *http.Request) bool { return FromContext(r.Context()).Secure(r) }

// Host is the host the client asked for (see Proxies.Host), with the
// server's trusted proxies.
func Host(r *http.Request) string { return FromContext(r.Context()).Host(r) }
