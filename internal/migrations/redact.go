package migrations

import (
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/bakery-deploy/bakery/internal/redact"
)

// redacted replaces a password wherever one was found.
const redacted = "xxxxx"

// redactor removes known secrets (a password in its raw and escaped forms,
// the whole URL) from text, then scrubs anything that still looks like a
// credential.
type redactor struct {
	secrets []string // longest first
}

func newRedactor(rawURL string, passwords ...string) redactor {
	seen := map[string]bool{}
	var r redactor
	add := func(s string) {
		if s != "" && !seen[s] {
			seen[s] = true
			r.secrets = append(r.secrets, s)
		}
	}
	add(strings.TrimSpace(rawURL))
	add(rawURL)
	for _, p := range passwords {
		add(p)
		add(url.QueryEscape(p))
		add(url.PathEscape(p))
		add(url.UserPassword("", p).String()[1:]) // ":<escaped>"
	}
	// A password embedded in a URL that failed to parse is still a secret.
	if m := urlPasswordRE.FindStringSubmatch(rawURL); m != nil {
		add(m[2])
		if u, err := url.PathUnescape(m[2]); err == nil {
			add(u)
		}
	}
	if m := dsnPasswordRE.FindStringSubmatch(rawURL); m != nil {
		add(m[2])
	}
	if m := kvPasswordRE.FindStringSubmatch(rawURL); m != nil {
		add(strings.Trim(m[3], "'"))
	}
	sort.SliceStable(r.secrets, func(i, j int) bool { return len(r.secrets[i]) > len(r.secrets[j]) })
	return r
}

func (r redactor) text(s string) string {
	for _, sec := range r.secrets {
		if strings.TrimSpace(sec) == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return scrub(s)
}

var (
	// scheme://user:password@
	urlPasswordRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):([^@\s]*)@`)
	// user:password@tcp( — a MySQL DSN; the password may hold '@'
	dsnPasswordRE = regexp.MustCompile(`([^:@\s/()"']*):(\S*?)@((?:tcp|tcp4|tcp6|unix|udp)?\()`)
	// password=… in a key=value connection string
	kvPasswordRE = regexp.MustCompile(`(?i)\b(password|passwd|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&;]+)`)
)

// scrub masks anything that looks like a credential in text whose secrets
// are not known (an error handed to Compare, for instance).
func scrub(s string) string {
	s = urlPasswordRE.ReplaceAllString(s, "${1}:"+redacted+"@")
	s = dsnPasswordRE.ReplaceAllString(s, "${1}:"+redacted+"@${3}")
	s = kvPasswordRE.ReplaceAllString(s, "${1}${2}"+redacted)
	return s
}

// identity lists what names src's database server and account: its hosts
// (with their ports) and its user (PostgreSQL and MySQL). A viewer is shown none of them.
func identity(src Source) []string {
	var out []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	switch normalDriver(src.Driver) {
	case "postgres":
		cfg, err := pgx.ParseConfig(src.URL)
		if err != nil {
			return nil
		}
		add(cfg.User)
		add(net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
		add(cfg.Host)
		for _, f := range cfg.Fallbacks {
			add(net.JoinHostPort(f.Host, strconv.Itoa(int(f.Port))))
			add(f.Host)
		}
	case "mysql":
		cfg, err := mysqlConfig(src.URL)
		if err != nil {
			return nil
		}
		add(cfg.User)
		add(cfg.Addr)
		if h, _, err := net.SplitHostPort(cfg.Addr); err == nil {
			add(h)
		}
	}
	// An SQLite file's path is reduced to its base name by redact.
	// Longest first, so a host is masked with its port.
	sort.SliceStable(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// ForViewers returns text about src (an error reading its migration
// table) as viewers may read it: credentials, the database's hosts, ports
// and user, network addresses and absolute paths are masked (see package
// redact). The engine logs the full text.
func ForViewers(src Source, text string) string {
	return redact.ForViewers(newRedactor(src.URL).text(text), identity(src)...)
}
