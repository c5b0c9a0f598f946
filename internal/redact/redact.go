// Package redact makes error text fit for the people who read bakery
// without running it: viewer tokens, the dashboard, the banner, Slack and
// webhook notifications, GitHub statuses.
//
// The rule: errors bakery stores or shows (a deployment's error, a check's
// or canary's result, a migration table that cannot be read, a router that
// cannot listen, an API 5xx) keep what went wrong and which step, but name
// no absolute path (only its base name), no credentials and no host, port
// or user of a database, and no network address. The full error goes to
// the server's log (slog), which only the operator reads. Deploy output —
// what the operator's own command printed — is not changed here.
package redact

import (
	"net/url"
	"path"
	"regexp"
	"strings"
)

// Mask replaces what was removed.
const Mask = "***"

// addr is a host, an IP address (IPv6 in brackets) or a socket path,
// with an optional port.
const addr = `(?:\[[^\]\s*]*\]|[^\s:\[\]>*]+)(?::\d+\b)?`

var (
	// A URL: scheme://…, up to a space, a quote or a closing bracket.
	urlRE = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>()\[\]{}` + "`" + `]+`)
	// An absolute path of at least two elements (/srv/app/deploy.sh). A
	// single element (/healthz) names nothing of the machine.
	pathRE = regexp.MustCompile(`(?:/[^\s"'<>()\[\]{},;:|` + "`" + `/]+){2,}/?`)
	// key=value connection-string fields that name a user, a host or a
	// password (libpq, pgx, ODBC): user=app host=db.internal
	kvRE = regexp.MustCompile(`(?i)\b(user|username|uid|password|passwd|pwd|host|hostaddr|server|address|addr)(\s*=\s*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;,` + "`" + `'"]+)`)
	// A go-sql-driver/mysql DSN: user:password@tcp(host:port)
	mysqlRE = regexp.MustCompile(`(?:[^\s:@/()"'` + "`" + `]*(?::\S*?)?@)?\b(tcp|tcp4|tcp6|unix|udp)\([^)]*\)`)
	// Addresses in the standard library's network errors:
	// "dial tcp 10.0.0.5:5432", "lookup db.internal on 10.0.0.2:53",
	// "read tcp 10.0.0.1:5555->10.0.0.5:5432".
	netRE = regexp.MustCompile(`\b(?:(dial|read|write|listen|accept)\s+(tcp[46]?|udp[46]?|unix|unixgram|ip[46]?)\s+` + addr + `(?:->` + addr + `)?|(lookup)\s+` + addr + `(\s+on\s+` + addr + `)?)`)
	// Bare IP addresses, with or without a port.
	ipv4RE = regexp.MustCompile(`\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b`)
	ipv6RE = regexp.MustCompile(`\[[0-9A-Fa-f:.%]*:[0-9A-Fa-f:.%]*\](?::\d+)?`)
	// Query parameters that carry a secret.
	secretParamRE = regexp.MustCompile(`(?i)^[a-z0-9_.-]*(key|token|secret|password|passwd|pwd|sig|signature|auth|credential|session)[a-z0-9_.-]*$`)
)

// ForViewers returns s as viewers may read it (see the package comment).
// known lists further words to mask: the hosts and users of a database
// the caller knows s is about.
func ForViewers(s string, known ...string) string {
	if s == "" {
		return s
	}
	for _, k := range known {
		if k = strings.TrimSpace(k); len(k) > 1 {
			s = maskWord(s, k)
		}
	}
	s = replaceOutsideURLs(s, func(t string) string {
		t = mysqlRE.ReplaceAllString(t, Mask+"@${1}("+Mask+")")
		t = kvRE.ReplaceAllString(t, "${1}${2}"+Mask)
		t = netRE.ReplaceAllStringFunc(t, maskNet)
		t = ipv6RE.ReplaceAllString(t, Mask)
		t = ipv4RE.ReplaceAllString(t, Mask)
		return basenames(t)
	})
	return s
}

// maskWord replaces every occurrence of w that is not part of a longer
// word (so the user "app" is masked, "application" is not).
func maskWord(s, w string) string {
	re, err := regexp.Compile(`(^|[^A-Za-z0-9_.-])` + regexp.QuoteMeta(w) + `($|[^A-Za-z0-9_-])`)
	if err != nil {
		return strings.ReplaceAll(s, w, Mask)
	}
	// Twice, for occurrences that share a separator ("db db").
	for range 2 {
		s = re.ReplaceAllString(s, "${1}"+Mask+"${2}")
	}
	return s
}

// replaceOutsideURLs redacts each URL in s and applies f to the text
// between them.
func replaceOutsideURLs(s string, f func(string) string) string {
	var b strings.Builder
	last := 0
	for _, m := range urlRE.FindAllStringIndex(s, -1) {
		b.WriteString(f(s[last:m[0]]))
		b.WriteString(redactURL(s[m[0]:m[1]]))
		last = m[1]
	}
	b.WriteString(f(s[last:]))
	return b.String()
}

// redactURL drops a URL's user information and secret query values. For a
// URL that is not http(s) — a database's, most likely — the host goes too,
// and a file path keeps its base name only.
func redactURL(raw string) string {
	trail := ""
	for strings.HasSuffix(raw, ".") || strings.HasSuffix(raw, ",") || strings.HasSuffix(raw, ":") || strings.HasSuffix(raw, ";") {
		trail = raw[len(raw)-1:] + trail
		raw = raw[:len(raw)-1]
	}
	u, err := url.Parse(raw)
	if err != nil {
		// Unparseable (a password with a '#', say): keep the scheme only.
		if i := strings.Index(raw, "://"); i >= 0 {
			return raw[:i+3] + Mask + trail
		}
		return Mask + trail
	}
	web := u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "ws" || u.Scheme == "wss"
	if u.User != nil {
		u.User = url.User(Mask)
	}
	if !web && u.Host != "" {
		u.Host = Mask
	}
	if !web && strings.Count(u.Path, "/") > 1 {
		u.Path = "/" + path.Base(u.Path)
		u.RawPath = ""
	}
	if u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if secretParamRE.MatchString(k) || (!web && kvRE.MatchString(k+"=x")) {
				q[k] = []string{Mask}
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
	}
	out := u.String()
	if len(out) >= len(u.Scheme) && len(raw) >= len(u.Scheme) {
		out = raw[:len(u.Scheme)] + out[len(u.Scheme):] // url.String lowercases the scheme
	}
	out = strings.ReplaceAll(out, url.QueryEscape(Mask), Mask)
	out = strings.ReplaceAll(out, "%2A%2A%2A", Mask)
	return out + trail
}

// maskNet keeps the operation and network of a net error and masks the
// addresses: "dial tcp 10.0.0.5:5432" → "dial tcp ***".
func maskNet(m string) string {
	sub := netRE.FindStringSubmatch(m)
	if sub[3] != "" { // lookup HOST [on RESOLVER]
		if sub[4] != "" {
			return "lookup " + Mask + " on " + Mask
		}
		return "lookup " + Mask
	}
	return sub[1] + " " + sub[2] + " " + Mask
}

// basenames replaces each absolute path in s by its base name.
func basenames(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range pathRE.FindAllStringIndex(s, -1) {
		// Only a path that starts a word: not the "/b/c" of "a/b/c".
		if m[0] > 0 && !strings.ContainsRune(" \t\n\"'=(:[,<`", rune(s[m[0]-1])) {
			continue
		}
		b.WriteString(s[last:m[0]])
		b.WriteString(path.Base(s[m[0]:m[1]]))
		last = m[1]
	}
	b.WriteString(s[last:])
	return b.String()
}
