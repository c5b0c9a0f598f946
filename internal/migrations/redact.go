package migrations

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
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
