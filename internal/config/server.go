package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bakery-deploy/bakery/internal/httpx"
)

// Defaults of server.limits. They protect the server from slow, idle and
// greedy clients without getting in the way of people and scripts: API
// requests and responses are small, and only the dashboard's event stream
// lives long (it lifts the read and write timeouts for itself and sets a
// deadline on each of its writes).
const (
	// DefaultReadHeaderTimeout bounds how long a request's headers may
	// take to arrive.
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout bounds how long a whole request (headers and
	// body, at most 1 MiB) may take to arrive: a body sent at one byte a
	// second is cut off then.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds a response, from the end of the request's
	// headers to its last byte.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultIdleTimeout is how long a keep-alive connection may wait for
	// its next request.
	DefaultIdleTimeout = 120 * time.Second
	// DefaultMaxHeaderBytes bounds a request's line and headers together
	// (larger: 431).
	DefaultMaxHeaderBytes = 64 << 10
	// DefaultMaxConnections bounds the connections served at once; more
	// wait to be accepted until one closes.
	DefaultMaxConnections = 1024
	// DefaultMaxEventStreams bounds the dashboard's live-update streams
	// open at once (more: 503 with Retry-After).
	DefaultMaxEventStreams = 1000
	// DefaultMaxEventStreamsPerSession bounds the live-update streams of
	// one sign-in, i.e. the dashboard tabs open with one session cookie
	// (more: 429 with Retry-After).
	DefaultMaxEventStreamsPerSession = 8
	// MinMaxHeaderBytes is the smallest server.limits.max_header_bytes: a
	// browser's ordinary headers and cookies must fit.
	MinMaxHeaderBytes = 8 << 10
)

// DefaultLimits are the server limits when server.limits is unset.
func DefaultLimits() httpx.Limits {
	return httpx.Limits{
		ReadHeaderTimeout:         DefaultReadHeaderTimeout,
		ReadTimeout:               DefaultReadTimeout,
		WriteTimeout:              DefaultWriteTimeout,
		IdleTimeout:               DefaultIdleTimeout,
		MaxHeaderBytes:            DefaultMaxHeaderBytes,
		MaxConnections:            DefaultMaxConnections,
		MaxEventStreams:           DefaultMaxEventStreams,
		MaxEventStreamsPerSession: DefaultMaxEventStreamsPerSession,
	}
}

// TLS is the certificate the server serves HTTPS with.
type TLS struct {
	// Cert and Key are the absolute paths of the PEM certificate (with
	// its chain) and private key files; both were readable and matched
	// when the file was parsed.
	Cert, Key string
}

var (
	tlsFields    = []string{"cert", "key"}
	limitsFields = []string{"read_header_timeout", "read_timeout", "write_timeout", "idle_timeout",
		"max_header_bytes", "max_connections", "max_event_streams", "max_event_streams_per_session"}
)

// tls walks server.tls: both cert and key, readable, and a matching pair.
func (p *parser) tls(n *yaml.Node, path string) *TLS {
	f, ok := p.mapping(n, n, path, "server.tls", tlsFields)
	if !ok {
		return nil
	}
	t := &TLS{}
	files := map[string]*string{"cert": &t.Cert, "key": &t.Key}
	readable := true
	for _, key := range tlsFields {
		v := f.get(key)
		if v == nil {
			other := "cert"
			if key == "cert" {
				other = "key"
			}
			p.add(f.at(key), f.field(key), "server.tls needs both cert and key: %s is set but %s is not; give the path of the PEM %s file (relative to this file), or remove server.tls to serve plain HTTP", other, key, map[string]string{"cert": "certificate", "key": "private key"}[key])
			readable = false
			continue
		}
		name, ok := p.scalar(v, f.field(key), `"tls/`+key+`.pem"`)
		if !ok {
			readable = false
			continue
		}
		if strings.TrimSpace(name) == "" {
			p.add(v, f.field(key), "server.tls.%s is empty; give the path of a PEM file, relative to this file", key)
			readable = false
			continue
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(p.dir, name)
		}
		*files[key] = name
		if err := readableFile(name); err != nil {
			p.add(v, f.field(key), "cannot read the TLS %s file %s: %s; check the path, which is relative to the directory of this configuration file, and that bakery may read it", key, name, err)
			readable = false
		}
	}
	if readable {
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			p.add(f.node, path, "server.tls: %s and %s are not a usable certificate and key: %s; give a PEM certificate (its chain after it) and the PEM private key that belongs to it", t.Cert, t.Key, err)
		}
	}
	return t
}

// readableFile reports why path cannot be read as a regular file, or nil.
func readableFile(path string) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s", pathErr(err))
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("it is not a regular file")
	}
	file, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%s", pathErr(err))
	}
	return file.Close()
}

// trustedProxies walks server.trusted_proxies: addresses or CIDR networks.
func (p *parser) trustedProxies(n *yaml.Node, path string) []netip.Prefix {
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, `trusted_proxies must be a list of addresses or networks of your reverse proxies, such as ["127.0.0.1", "10.0.0.0/8"]; got %s`, describe(n))
		return nil
	}
	var out []netip.Prefix
	for i, item := range n.Content {
		field := fmt.Sprintf("%s[%d]", path, i)
		v := p.resolve(item)
		s, ok := p.scalar(v, field, `"10.0.0.0/8"`)
		if !ok {
			continue
		}
		prefix, err := httpx.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			p.add(v, field, "invalid trusted proxy %q: write an IP address (10.0.0.5, ::1) or a network in CIDR notation (10.0.0.0/8, fd00::/8)", s)
			continue
		}
		if prefix.Bits() == 0 {
			p.add(v, field, "trusted proxy %q is every address: anyone could then claim any client address and HTTPS; list the addresses of your proxies only", s)
			continue
		}
		out = append(out, prefix)
	}
	return out
}

// limits walks server.limits, starting from DefaultLimits.
func (p *parser) limits(n *yaml.Node, path string) httpx.Limits {
	l := DefaultLimits()
	f, ok := p.mapping(n, n, path, "server.limits", limitsFields)
	if !ok {
		return l
	}
	for key, d := range map[string]*time.Duration{
		"read_header_timeout": &l.ReadHeaderTimeout, "read_timeout": &l.ReadTimeout,
		"write_timeout": &l.WriteTimeout, "idle_timeout": &l.IdleTimeout,
	} {
		v := f.get(key)
		if v == nil {
			continue
		}
		if t, ok := p.duration(v, f.field(key)); ok {
			if t <= 0 {
				p.add(v, f.field(key), "%s must be greater than zero (got %q); write a duration such as 30s, or remove it to use the default", key, v.Value)
				continue
			}
			*d = t
		}
	}
	const maxInt = 1 << 30
	for key, x := range map[string]struct {
		dst *int
		min int
	}{
		"max_header_bytes": {&l.MaxHeaderBytes, MinMaxHeaderBytes}, "max_connections": {&l.MaxConnections, 1},
		"max_event_streams": {&l.MaxEventStreams, 1}, "max_event_streams_per_session": {&l.MaxEventStreamsPerSession, 1},
	} {
		if v := f.get(key); v != nil {
			if got, ok := p.intIn(v, f.field(key), x.min, maxInt, fmt.Sprintf("%s must be a whole number from %d to %d", key, x.min, maxInt)); ok {
				*x.dst = got
			}
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		p.add(f.at("read_header_timeout"), f.field("read_header_timeout"), "read_header_timeout (%s) is longer than read_timeout (%s), which bounds the headers too; make it shorter", l.ReadHeaderTimeout, l.ReadTimeout)
	}
	if l.MaxEventStreams > l.MaxConnections {
		p.add(f.at("max_event_streams"), f.field("max_event_streams"), "max_event_streams (%d) is more than max_connections (%d): every stream holds a connection; raise max_connections or lower max_event_streams", l.MaxEventStreams, l.MaxConnections)
	}
	return l
}

// defaultURL is the server's own address as a URL, for links when
// server.url is not set: good for a laptop, not for links others follow.
func defaultURL(s Server) string {
	scheme := "http"
	if s.TLS != nil {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return scheme + "://" + s.Addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// publicURL checks server.url: an absolute http(s) URL with a host and no
// query or fragment; a trailing slash is dropped.
func (p *parser) publicURL(n *yaml.Node, field, raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		p.add(n, field, "url must be the address people open the dashboard at, such as https://bakery.example.com or https://example.com/bakery (http or https, no query, fragment or credentials); got %q", raw)
		return raw
	}
	return strings.TrimRight(raw, "/")
}
