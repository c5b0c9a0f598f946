package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The fields each mapping accepts, in the order they are listed in messages.
var (
	rootFields        = []string{"server", "services", "github", "notifications", "slack", "defaults", "templates", "include"}
	serverFields      = []string{"addr", "database", "inherit_env", "mask_env", "banner", "tls", "hsts", "trusted_proxies", "limits", "url", "insights", "retention"}
	bannerFields      = []string{"public"}
	serviceFields     = []string{"name", "repository", "environments", "artifact", "trigger", "labels", "use"}
	environmentFields = []string{"name", "bake", "deploy", "windows", "migrations", "checks", "canary", "culprit_finding", "fix", "approval", "router", "exposure"}
	deployFields      = []string{"command", "timeout", "dir", "env", "inherit_env"}
	windowsFields     = []string{"timezone", "allow", "holidays", "holidays_ical"}
)

// nameRE is the shape of service and environment names, which appear in
// URLs, CLI arguments and database rows; envKeyRE is the portable shape of an
// environment variable name.
var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// maxVisits bounds how many nodes one Parse looks at: 100,000, or one per
// byte of the file for a larger one. Without aliases every node takes at
// least a byte of the file, so the bound only matters for YAML aliases that
// repeat large parts of the document many times over (a "billion laughs"
// file), and the work it allows stays proportional to the file's size. (A
// fixed 100,000 refused a config of 3,704 plain services.)
const maxVisits = 100_000

// visitLimit is maxVisits for a file of size bytes.
func visitLimit(size int) int { return max(maxVisits, size) }

// tooLarge is panicked by resolve when maxVisits is exceeded and recovered
// in parser.parse; it unwinds the recursive walk in one step.
type tooLarge struct{ at *yaml.Node }

// commandRequired is the message for a missing or empty deploy.command.
const commandRequired = `deploy.command is required: give the command as a list, e.g. ["./deploy.sh", "staging"]`

// parser walks a yaml.Node tree by hand, rather than decoding into structs,
// so that it knows the line and column of every value and can keep going
// after a problem to collect all of them.
type parser struct {
	file     string // as given to Parse, for Problem.File
	dir      string // absolute directory of the file
	problems []Problem
	visits   int
	limit    int     // of visits: visitLimit of the file's size
	listens  listens // for the clash checks of canary routers
	// serverInherit is server.inherit_env, added to every command's own
	// inherit_env (the server block is walked before the services).
	serverInherit []string
	// lastEnvNodes are the router and exposure nodes of the environment
	// walked last (exposure.go checks them against the one below).
	lastEnvNodes envNodes

	// Many services (compose.go). size is the bytes of every file read.
	size           int
	fileList       []string                  // included files, as problems name them, in reading order
	read           map[string]bool           // absolute paths of the files read
	files          map[*yaml.Node]string     // nodes of included files → file
	frags          map[*yaml.Node]int        // nodes of fragments → index in fragments
	made           map[*yaml.Node]*yaml.Node // nodes built by the merge → the node they stand for
	fragments      []*fragment
	defaultsFrag   *fragment
	where          []*fragment
	templateByName map[string]templateRef
	entries        []serviceEntry
	cur            *current
	fragProblems   map[string]*fragProblem
	// show, if set, is the service whose merged node config show wants.
	show      string
	shown     *yaml.Node
	shownFrom []*fragment
}

// init makes the parser's maps.
func (p *parser) init() {
	p.read = map[string]bool{}
	p.files = map[*yaml.Node]string{}
	p.frags = map[*yaml.Node]int{}
	p.made = map[*yaml.Node]*yaml.Node{}
	p.templateByName = map[string]templateRef{}
	p.fragProblems = map[string]*fragProblem{}
}

// add records a problem positioned at n (or at an unknown position if n is nil).
func (p *parser) add(n *yaml.Node, field, format string, args ...any) {
	pr := Problem{File: p.file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.Line, pr.Column = n.Line, n.Column
		pr.File = p.fileOf(n)
		if p.cur != nil {
			if fr := p.fragOf(n); fr != nil {
				pr.Field = p.cur.rewrite(field, fr.prefix)
				p.noteFragProblem(pr)
				return
			}
			pr.Field = p.cur.rewrite(field, p.cur.path)
		}
	}
	p.problems = append(p.problems, pr)
}

// parse decodes data and fills cfg, recording every problem it finds.
func (p *parser) parse(data []byte, cfg *Config) {
	p.init()
	p.size = len(data)
	p.limit = visitLimit(len(data))
	defer p.finishFragProblems()
	doc, ok := p.decode(data)
	if !ok {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			tl, ok := r.(tooLarge)
			if !ok {
				panic(r)
			}
			p.add(tl.at, "", "the file expands to more than %d values, which happens when YAML aliases (*name) repeat large parts of it many times; write the repeated parts out instead", p.limit)
		}
	}()
	p.root(doc, cfg)
}

// resolve follows YAML aliases (*name) to the node they refer to, so that
// anchors can be used to share settings, and counts the visit. Because the
// walk follows the fixed shape of the configuration, an alias that refers to
// one of its own ancestors cannot make it loop.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	for i := 0; i < 100 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	p.visits++
	if p.visits > p.limit {
		panic(tooLarge{at: n})
	}
	return n
}

// isNull reports whether n is absent or an explicit null (`key:` with
// nothing after it, or ~). A null value is treated as if the key were unset.
func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		v := n.Value
		if len(v) > 40 {
			v = v[:40] + "..."
		}
		return fmt.Sprintf("the value %q", v)
	}
	return "an unexpected YAML node"
}

// join appends a key to a field path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// fields is one mapping of the file after its keys have been checked.
type fields struct {
	path string
	node *yaml.Node            // the mapping, or where it would be; positions problems about missing fields
	keys map[string]*yaml.Node // key nodes of the known fields present
	vals map[string]*yaml.Node // resolved values; nil for an explicit null
}

// get returns the value of key, or nil when it is unset or null.
func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// at returns where a problem about key belongs: the key itself if present,
// otherwise the mapping that lacks it.
func (f fields) at(key string) *yaml.Node {
	if k, ok := f.keys[key]; ok {
		return k
	}
	return f.node
}

// field returns the field path of key.
func (f fields) field(key string) string { return join(f.path, key) }

// mapping checks that n is a mapping whose keys are all in known and appear
// once, reporting every key that is not. A nil n (unset or null) is an empty
// mapping positioned at at. ok is false when n is not a mapping at all, in
// which case the caller should not look for missing fields.
func (p *parser) mapping(n, at *yaml.Node, path, what string, known []string) (f fields, ok bool) {
	f = fields{path: path, node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	if n == nil {
		f.node = at
		return f, true
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "%s must be a mapping with the fields %s; got %s", what, strings.Join(known, ", "), describe(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.add(k, path, "field names must be plain words such as %s; got %s", known[0], describe(k))
			continue
		}
		name := k.Value
		switch {
		case k.ShortTag() == "!!merge":
			p.add(k, join(path, name), "YAML merge keys (<<) are not supported; write the fields out in full")
		case !slices.Contains(known, name):
			p.add(k, join(path, name), "unknown field %q; known fields are: %s", name, strings.Join(known, ", "))
		case f.keys[name] != nil:
			p.add(k, join(path, name), "field %q is set twice (first at line %d); remove one of them", name, f.keys[name].Line)
		default:
			f.keys[name] = k
			if v := p.resolve(n.Content[i+1]); !isNull(v) {
				f.vals[name] = v
			}
		}
	}
	return f, true
}

// scalar returns the text of a single value, reporting lists and mappings.
// Numbers and booleans are accepted as their text, so `PORT: 8081` works.
func (p *parser) scalar(n *yaml.Node, field, example string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		p.add(n, field, "expected a single value such as %s; got %s", example, describe(n))
		return "", false
	}
	return n.Value, true
}

// root walks the top-level mapping. doc is nil for an empty file.
func (p *parser) root(doc *yaml.Node, cfg *Config) {
	start := &yaml.Node{Line: 1, Column: 1}
	var n *yaml.Node
	if doc != nil && len(doc.Content) > 0 {
		if n = p.resolve(doc.Content[0]); isNull(n) {
			n = nil
		}
	}
	f, ok := p.mapping(n, start, "", "the file", rootFields)
	if !ok {
		return
	}
	if sv := f.get("services"); sv != nil && sv.Kind == yaml.SequenceNode {
		p.serviceList(sv, p.file)
	}
	if v := f.get("templates"); v != nil {
		p.templates(v, p.file)
	}
	if v := f.get("include"); v != nil {
		var chain []string
		if abs, err := filepath.Abs(p.file); err == nil && p.file != "" {
			p.read[abs] = true
			chain = []string{abs}
		}
		p.include(v, p.file, chain)
	}
	cfg.Files = p.fileList
	cfg.Server = p.server(f.get("server"), f.at("server"))
	if v := f.get("defaults"); v != nil {
		p.defaults(v)
	}
	p.limit = visitLimit(p.size)
	if len(p.fragments) > 0 {
		p.limit += fragmentFactor * p.size
	}
	cfg.Services = p.services(f.get("services"), f.at("services"))
	cfg.GitHub = p.github(f.get("github"), f.at("github"))
	p.checkGitHubTriggers(cfg, f.at("github"))
	if v := f.get("slack"); v != nil {
		cfg.Slack = p.slack(v, f.at("slack"))
	}
	if v := f.get("notifications"); v != nil {
		cfg.Notifications = p.notifications(v, cfg.Slack, cfg.Services)
	}
}

// server walks the server mapping, applying defaults.
func (p *parser) server(n, at *yaml.Node) Server {
	s := Server{Addr: DefaultAddr, Database: DefaultDatabase, Limits: DefaultLimits()}
	f, _ := p.mapping(n, at, "server", "server", serverFields)
	if v := f.get("addr"); v != nil {
		if addr, ok := p.scalar(v, f.field("addr"), `"127.0.0.1:8080"`); ok {
			s.Addr = addr
			p.checkAddr(v, f.field("addr"), addr)
			p.listens.server.line = v.Line
		}
	}
	p.listens.server.addr = s.Addr
	if v := f.get("database"); v != nil {
		if db, ok := p.scalar(v, f.field("database"), `"sqlite://bakery.db"`); ok {
			s.Database = p.database(v, f.field("database"), db)
		}
	} else {
		s.Database = p.database(nil, "", s.Database)
	}
	if v := f.get("inherit_env"); v != nil {
		s.InheritEnv = p.envNames(v, f.field("inherit_env"), "inherit")
		p.serverInherit = s.InheritEnv
	}
	if v := f.get("mask_env"); v != nil {
		s.MaskEnv = p.envNames(v, f.field("mask_env"), "mask")
	}
	if v := f.get("banner"); v != nil {
		bf, ok := p.mapping(v, f.at("banner"), f.field("banner"), "server.banner", bannerFields)
		if ok {
			if pub := bf.get("public"); pub != nil {
				s.Banner.Public = p.boolean(pub, bf.field("public"))
			}
		}
	}
	if v := f.get("tls"); v != nil {
		s.TLS = p.tls(v, f.field("tls"))
	}
	if v := f.get("hsts"); v != nil {
		s.HSTS = p.boolean(v, f.field("hsts"))
		if s.HSTS && f.get("tls") == nil && f.get("trusted_proxies") == nil {
			p.add(v, f.field("hsts"), "hsts is sent only on HTTPS responses, and this server has neither tls (to serve HTTPS itself) nor trusted_proxies (to learn that a proxy in front of it does); add one of them or remove hsts")
		}
	}
	if v := f.get("trusted_proxies"); v != nil {
		s.TrustedProxies = p.trustedProxies(v, f.field("trusted_proxies"))
	}
	s.Limits = p.limits(f.get("limits"), f.field("limits"))
	s.Insights = p.insights(f.get("insights"), f.field("insights"))
	s.URL = defaultURL(s)
	if v := f.get("url"); v != nil {
		if raw, ok := p.scalar(v, f.field("url"), `"https://bakery.example.com"`); ok {
			s.URL = p.publicURL(v, f.field("url"), raw)
		}
	}
	s.Retention = p.retention(f.get("retention"), f.field("retention"))
	return s
}

// checkAddr reports an address that net.Listen would reject.
func (p *parser) checkAddr(n *yaml.Node, field, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		p.add(n, field, "invalid address %q: write host:port, such as 127.0.0.1:8080, or :8080 to listen on all interfaces", addr)
		return
	}
	if num, err := strconv.Atoi(port); err != nil || num < 0 || num > 65535 {
		p.add(n, field, "invalid port %q in address %q: use a number from 1 to 65535, such as 127.0.0.1:8080", port, addr)
	}
}

// database checks a database URL and makes a relative sqlite:// path
// absolute against the file's directory. Messages never repeat a URL that
// may hold a password.
func (p *parser) database(n *yaml.Node, field, db string) string {
	switch {
	case strings.HasPrefix(db, "sqlite://"):
		path := strings.TrimPrefix(db, "sqlite://")
		if path == "" {
			p.add(n, field, "sqlite:// needs a file path: write sqlite://bakery.db (next to this file) or sqlite:///var/lib/bakery/bakery.db")
			return db
		}
		if !filepath.IsAbs(path) {
			return "sqlite://" + filepath.Join(p.dir, path)
		}
		return db
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return db
	}
	if scheme, _, ok := strings.Cut(db, "://"); ok {
		p.add(n, field, "unsupported database %q: use sqlite://PATH, e.g. sqlite://bakery.db, or postgres://USER@HOST/DB", scheme+"://")
	} else {
		p.add(n, field, "database must be a URL: write sqlite://PATH, e.g. sqlite://bakery.db, or postgres://USER@HOST/DB")
	}
	return db
}

// checkName reports a missing or malformed service or environment name and
// returns the name if it is valid.
func (p *parser) checkName(f fields, what, example string) (string, *yaml.Node) {
	v := f.get("name")
	if v == nil {
		p.add(f.at("name"), f.field("name"), "every %s needs a name: add name: %s", what, example)
		return "", nil
	}
	name, ok := p.scalar(v, f.field("name"), strconv.Quote(example))
	if !ok {
		return "", nil
	}
	if !nameRE.MatchString(name) {
		if s := suggestName(name); s != "" && s != name {
			example = s
		}
		p.add(v, f.field("name"), "invalid %s name %q: use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit, e.g. %q", what, name, example)
		return "", nil
	}
	return name, v
}

// suggestName turns an invalid name into a valid one where it can ("My App"
// becomes "my-app"), for use as the example in the error message.
func suggestName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	s := strings.TrimRight(b.String(), "-")
	if len(s) > 63 {
		s = strings.TrimRight(s[:63], "-")
	}
	if !nameRE.MatchString(s) {
		return ""
	}
	return s
}

// firstUse remembers where a name was first used, to point at it from the
// problem about a duplicate.
type firstUse struct {
	field string
	line  int
	file  string
}

// services walks the services of the main file (n, the services list; at,
// where it would be) and of the included files, each merged with the
// defaults, where entries and templates that apply to it.
func (p *parser) services(n, at *yaml.Node) []Service {
	const required = `at least one service is required: add a services list whose entries start with "- name: web"`
	switch {
	case n != nil && n.Kind != yaml.SequenceNode:
		p.add(n, "services", `services must be a list whose entries start with "- name: ..."; got %s`, describe(n))
		return nil
	case len(p.entries) == 0:
		if n != nil {
			at = n
		}
		p.add(at, "services", required)
		return nil
	}
	svcs := make([]Service, 0, len(p.entries))
	seen := map[string]firstUse{}
	for _, e := range p.entries {
		item := p.resolve(e.node)
		if isNull(item) {
			item = nil
		}
		node, layers := p.compose(item, e)
		p.cur = &current{path: e.path, merged: len(layers) > 0, name: p.nameOf(node)}
		if p.cur.merged {
			if envs := p.valueOf(node, "environments"); envs != nil && envs.Kind == yaml.SequenceNode {
				count := map[string]int{}
				for _, en := range envs.Content {
					nm := p.envName(en)
					p.cur.envNames = append(p.cur.envNames, nm)
					count[nm]++
				}
				for i, nm := range p.cur.envNames {
					if count[nm] > 1 {
						p.cur.envNames[i] = "" // a duplicate: numbered, to tell the two apart
					}
				}
			}
		}
		svc, nameNode := p.service(node, e.node, e.path)
		p.cur = nil
		if nameNode != nil {
			if first, dup := seen[svc.Name]; dup {
				where := fmt.Sprintf("line %d", first.line)
				if first.file != e.file {
					where = fmt.Sprintf("%s:%d", first.file, first.line)
				}
				p.add(nameNode, join(e.path, "name"), "duplicate service name %q: %s at %s already uses it; give each service its own name", svc.Name, first.field, where)
			} else {
				seen[svc.Name] = firstUse{field: e.path, line: nameNode.Line, file: e.file}
			}
			if p.show != "" && svc.Name == p.show {
				p.shown, p.shownFrom = node, layers
			}
		}
		clear(p.made)
		svcs = append(svcs, svc)
	}
	return svcs
}

// nameOf is the name a service node gives itself, or "".
func (p *parser) nameOf(n *yaml.Node) string {
	if v := p.valueOf(n, "name"); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// service walks one entry of the services list. It returns the name's node
// when the name is valid, for the duplicate check.
func (p *parser) service(n, at *yaml.Node, path string) (Service, *yaml.Node) {
	var svc Service
	if isNull(n) {
		n = nil
	}
	f, ok := p.mapping(n, at, path, "a service", serviceFields)
	if !ok {
		return svc, nil
	}
	var nameNode *yaml.Node
	svc.Name, nameNode = p.checkName(f, "service", "web")
	if v := f.get("repository"); v != nil {
		if repo, ok := p.scalar(v, f.field("repository"), `"https://github.com/acme/web"`); ok {
			svc.Repository = repo
			if u, err := url.Parse(repo); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				p.add(v, f.field("repository"), "repository must be an http(s) URL such as https://github.com/acme/web (it is used for commit links); got %q", repo)
			}
		}
	}
	svc.Environments = p.environments(f.get("environments"), f.at("environments"), f.field("environments"))
	p.serviceGitHub(f, &svc)
	svc.Labels = p.labels(f.get("labels"), f.field("labels"))
	return svc, nameNode
}

// environments walks a service's environments list.
func (p *parser) environments(n, at *yaml.Node, path string) []Environment {
	const required = "at least one environment is required: list them in promotion order, e.g. staging then production, each with a name and a deploy command"
	if n == nil {
		p.add(at, path, required)
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, `environments must be a list in promotion order whose entries start with "- name: ..."; got %s`, describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, path, required)
		return nil
	}
	envs := make([]Environment, 0, len(n.Content))
	seen := map[string]firstUse{}
	var nodes []envNodes
	for i, item := range n.Content {
		epath := fmt.Sprintf("%s[%d]", path, i)
		env, nameNode := p.environment(p.resolve(item), item, epath, i == 0)
		nodes = append(nodes, p.lastEnvNodes)
		if nameNode != nil {
			if first, dup := seen[env.Name]; dup {
				p.add(nameNode, join(epath, "name"), "duplicate environment name %q: %s at line %d already uses it; give each environment of a service its own name", env.Name, first.field, first.line)
			} else {
				seen[env.Name] = firstUse{field: p.shownField(nameNode, epath), line: nameNode.Line}
			}
		}
		envs = append(envs, env)
	}
	p.exposureSources(envs, nodes)
	return envs
}

// environment walks one entry of an environments list; first says whether
// it is the first entry, which may not have a bake.
func (p *parser) environment(n, at *yaml.Node, path string, first bool) (Environment, *yaml.Node) {
	var env Environment
	p.lastEnvNodes = envNodes{path: path}
	if isNull(n) {
		n = nil
	}
	f, ok := p.mapping(n, at, path, "an environment", environmentFields)
	if !ok {
		return env, nil
	}
	var nameNode *yaml.Node
	env.Name, nameNode = p.checkName(f, "environment", "staging")
	if v := f.get("bake"); v != nil {
		if first {
			p.add(v, f.field("bake"), "the first environment cannot have a bake: there is no environment before it for a release to bake in; remove bake here (a bake on a later environment says how long a release must spend in the one before it)")
		} else if d, ok := p.duration(v, f.field("bake")); ok {
			if d < 0 {
				p.add(v, f.field("bake"), "bake must not be negative (got %q); write how long a release must spend in the previous environment, such as 1h", v.Value)
			}
			env.Bake = d
		}
	}
	env.Deploy = p.deploy(f.get("deploy"), f.at("deploy"), f.field("deploy"))
	if v := f.get("windows"); v != nil {
		env.Window = p.windows(v, f.field("windows"))
	}
	if v := f.get("migrations"); v != nil {
		env.Migrations = p.migrations(v, f.field("migrations"))
	}
	if v := f.get("checks"); v != nil {
		if first {
			p.add(v, f.field("checks"), "the first environment cannot have checks: checks watch the environment before this one while a release bakes there; put them on a later environment")
		} else {
			env.Checks = p.checks(v, f.field("checks"))
		}
	}
	if v := f.get("canary"); v != nil {
		env.Canary = p.canary(v, f.field("canary"))
	}
	p.gates(f, &env, first)
	if v := f.get("router"); v != nil {
		env.Router = p.envRouter(v, f.field("router"))
		p.lastEnvNodes.router = v
	}
	if v := f.get("exposure"); v != nil {
		env.Exposure, p.lastEnvNodes.requests = p.exposure(v, f.field("exposure"))
		p.lastEnvNodes.exposure = v
	}
	return env, nameNode
}

// duration parses a duration value, reporting bad syntax.
func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := p.scalar(n, field, "10m")
	if !ok {
		return 0, false
	}
	d, err := parseDuration(s)
	switch {
	case err == errDaysTooLong:
		p.add(n, field, "duration %q is too long; write at most 106751d", s)
		return 0, false
	case err != nil:
		p.add(n, field, "invalid duration %q; write a Go duration such as 30s, 10m or 1h", s)
		return 0, false
	}
	return d, true
}

// deploy walks an environment's deploy mapping, applying defaults and
// resolving relative paths against the file's directory.
func (p *parser) deploy(n, at *yaml.Node, path string) Deploy {
	d := Deploy{Timeout: DefaultTimeout, Dir: p.dir}
	f, ok := p.mapping(n, at, path, "deploy", deployFields)
	if !ok {
		d.InheritEnv = p.inherit(nil)
		return d
	}
	d.Command = p.command(f.get("command"), f.at("command"), f.field("command"))
	if v := f.get("timeout"); v != nil {
		if t, ok := p.duration(v, f.field("timeout")); ok {
			if t <= 0 {
				p.add(v, f.field("timeout"), "timeout must be greater than zero (got %q); write a duration such as 10m, or remove it to use the default of %s", v.Value, shortDuration(DefaultTimeout))
			}
			d.Timeout = t
		}
	}
	if v := f.get("dir"); v != nil {
		if dir, ok := p.scalar(v, f.field("dir"), `"."`); ok && dir != "" {
			if filepath.IsAbs(dir) {
				d.Dir = filepath.Clean(dir)
			} else {
				d.Dir = filepath.Join(p.dir, dir)
			}
		}
	}
	if v := f.get("env"); v != nil {
		d.Env = p.env(v, f.field("env"))
	}
	var own []string
	if v := f.get("inherit_env"); v != nil {
		own = p.envNames(v, f.field("inherit_env"), "inherit")
	}
	d.InheritEnv = p.inherit(own)
	return d
}

// shortDuration prints a duration without trailing zero units: "10m"
// rather than "10m0s", "1h" rather than "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// shellChars are characters that only mean something to a shell.
const shellChars = "|&;<>()$`\\\"'*?[]#~{}"

// command walks deploy.command, which must be an argv list.
func (p *parser) command(n, at *yaml.Node, field string) []string {
	if n == nil {
		p.add(at, field, commandRequired)
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		words := strings.Fields(n.Value)
		if len(words) == 0 {
			p.add(n, field, commandRequired)
			return nil
		}
		const msg = "deploy.command must be a list of arguments (argv), not a shell string: bakery runs the program directly, without a shell; "
		if strings.ContainsAny(n.Value, shellChars) {
			// Splitting on spaces would not mean what the shell would.
			p.add(n, field, "%sthis one uses shell syntax, so run it through a shell explicitly: %s", msg, argvList([]string{"sh", "-c", n.Value}))
		} else {
			p.add(n, field, "%swrite %s", msg, argvList(words))
		}
		return nil
	case yaml.SequenceNode:
	default:
		p.add(n, field, `deploy.command must be a list of arguments such as ["./deploy.sh", "staging"]; got %s`, describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, field, commandRequired)
		return nil
	}
	argv := make([]string, 0, len(n.Content))
	for i, item := range n.Content {
		v := p.resolve(item)
		switch {
		case isNull(v) || (v.Kind == yaml.ScalarNode && v.Value == ""):
			p.add(item, fmt.Sprintf("%s[%d]", field, i), "command[%d] is empty; remove it, or quote the argument you meant", i)
		case v.Kind != yaml.ScalarNode:
			p.add(v, fmt.Sprintf("%s[%d]", field, i), "command[%d] must be a single argument; got %s (quote it if it is meant as text)", i, describe(v))
		default:
			argv = append(argv, v.Value)
			continue
		}
		argv = append(argv, "")
	}
	if strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
		argv[0] = filepath.Join(p.dir, argv[0])
	}
	return argv
}

// argvList formats words as a YAML flow list, for messages.
func argvList(words []string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = strconv.Quote(w)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}

// env walks deploy.env, a mapping of variable names to values.
func (p *parser) env(n *yaml.Node, field string) map[string]string {
	if n.Kind != yaml.MappingNode {
		p.add(n, field, `env must be a mapping of variable names to values, such as {PORT: "8081"}; got %s`, describe(n))
		return nil
	}
	env := make(map[string]string, len(n.Content)/2)
	keys := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.add(k, field, "environment variable names must be plain words such as PORT; got %s", describe(k))
			continue
		}
		name := k.Value
		kfield := field + "." + name
		if !envKeyRE.MatchString(name) {
			kfield = field + "[" + strconv.Quote(name) + "]"
		}
		switch {
		case !envKeyRE.MatchString(name):
			p.add(k, kfield, "invalid environment variable name %q: use letters, digits and underscores, not starting with a digit, such as PORT", name)
			continue
		case strings.HasPrefix(name, "BAKERY_"):
			p.add(k, kfield, "environment variable %q uses the reserved prefix BAKERY_, which bakery sets itself for the deploy command; rename it", name)
			continue
		case keys[name] != nil:
			p.add(k, kfield, "environment variable %q is set twice (first at line %d); remove one of them", name, keys[name].Line)
			continue
		}
		keys[name] = k
		v := p.resolve(n.Content[i+1])
		switch {
		case isNull(v):
			env[name] = ""
		case v.Kind == yaml.ScalarNode:
			env[name] = v.Value
		default:
			p.add(v, kfield, "the value of %s must be a single value such as \"8081\"; got %s", name, describe(v))
		}
	}
	return env
}
