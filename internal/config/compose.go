package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Many services from one configuration: defaults, where, templates, use
// and include.
//
// Every service is the deep merge of layers, lowest first:
//
//	defaults < defaults.where entries whose selector matches (in list order)
//	< the templates of use (in use order) < the service itself
//
// The merge happens on the YAML nodes before the service is walked, so the
// walk sees one service as if it had been written out in full, while every
// value keeps the line and column (and, through parser.files, the file) of
// the layer that set it. Problems therefore point at the file that set the
// value, and name the field there (templates.base.environments[production].bake)
// and the services it applied to.

// Fields of the fragments that are merged into services.
var (
	templateFields = []string{"repository", "environments", "artifact", "trigger", "labels"}
	defaultsFields = append(slices.Clone(templateFields), "where")
	whereFields    = []string{"selector", "repository", "environments", "artifact", "trigger"}
	includedFields = []string{"services", "templates", "include"}
)

// fragmentFactor is how many values per byte a configuration with
// defaults or templates may expand to besides the bound of visitLimit: a
// 30-byte `- {name: x, use: web}` stands for the whole of the template
// web. The work stays proportional to the size of the files.
const fragmentFactor = 32

// fragment is defaults, one entry of defaults.where or one template: a
// partial service merged into the services it applies to.
type fragment struct {
	label  string     // in config show: "defaults", "where tier=1", "template base"
	prefix string     // field path of the fragment: "defaults", "defaults.where[0]", "templates.base"
	node   *yaml.Node // the mapping, its keys checked
	sel    Selector   // of a where entry
}

// serviceEntry is one entry of a services list, in the main file or an
// included one.
type serviceEntry struct {
	node *yaml.Node // as written (maybe an alias)
	path string     // services[i], i counted in its own file
	file string
}

// current is the service being walked, for problems positioned in
// fragments and for field paths with environments named.
type current struct {
	path     string   // services[i]
	name     string   // "" until known
	merged   bool     // at least one fragment applied
	envNames []string // of the merged environments, by index
}

// fileOf returns the file a node was read from.
func (p *parser) fileOf(n *yaml.Node) string {
	if m, ok := p.made[n]; ok {
		n = m
	}
	if f, ok := p.files[n]; ok {
		return f
	}
	return p.file
}

// fragOf returns the fragment a node was written in, or nil.
func (p *parser) fragOf(n *yaml.Node) *fragment {
	if m, ok := p.made[n]; ok {
		n = m
	}
	if i, ok := p.frags[n]; ok {
		return p.fragments[i]
	}
	return nil
}

// mark records every node of the tree under n in m with value v (aliases
// followed once, so a tree of aliases costs no more than its nodes).
func mark[V any](m map[*yaml.Node]V, n *yaml.Node, v V) {
	if n == nil {
		return
	}
	if _, ok := m[n]; ok {
		return
	}
	m[n] = v
	mark(m, n.Alias, v)
	for _, c := range n.Content {
		mark(m, c, v)
	}
}

// rewrite turns the field path of a walk of the current service into the
// path of the layer that set it: prefix ("templates.base" or the service's
// own services[i]) then the rest, environments named rather than numbered
// when fragments were merged (their numbers differ from layer to layer).
func (c *current) rewrite(field, prefix string) string {
	rest, ok := strings.CutPrefix(field, c.path)
	if !ok {
		return field
	}
	if c.merged {
		if after, ok := strings.CutPrefix(rest, ".environments["); ok {
			if end := strings.IndexByte(after, ']'); end > 0 {
				if k, err := strconv.Atoi(after[:end]); err == nil && k < len(c.envNames) && c.envNames[k] != "" {
					rest = ".environments[" + c.envNames[k] + "]" + after[end+1:]
				}
			}
		}
	}
	return prefix + rest
}

// fragProblem gathers the problems of one fragment's value found in many
// services into one, naming the services.
type fragProblem struct {
	index    int
	services []string // the first few, in walk order
	seen     map[string]bool
}

// noteFragProblem records pr, found while walking the current service in
// a value of fragment fr, once for all the services it applies to.
func (p *parser) noteFragProblem(pr Problem) {
	key := pr.String()
	name := p.cur.name
	if name == "" {
		name = p.cur.path
	}
	if fp, ok := p.fragProblems[key]; ok {
		if !fp.seen[name] {
			fp.seen[name] = true
			if len(fp.services) < 3 {
				fp.services = append(fp.services, name)
			}
		}
		return
	}
	p.problems = append(p.problems, pr)
	p.fragProblems[key] = &fragProblem{index: len(p.problems) - 1, services: []string{name}, seen: map[string]bool{name: true}}
}

// finishFragProblems names the services each fragment problem applied to.
func (p *parser) finishFragProblems() {
	for _, fp := range p.fragProblems {
		s, n := fp.services, len(fp.seen)
		var list string
		switch {
		case n == 1:
			list = "service " + s[0]
		case n <= 3:
			list = "services " + strings.Join(s, ", ")
		default:
			list = fmt.Sprintf("services %s and %d more", strings.Join(s, ", "), n-3)
		}
		p.problems[fp.index].Message += " (applied to " + list + ")"
	}
}

// include reads the files that the patterns n of the file shown match
// (shown is that file's name as problems print it), and the files they
// include in turn, adding their services and templates. chain holds the
// absolute paths of shown and the files that include it, for cycles.
func (p *parser) include(n *yaml.Node, shown string, chain []string) {
	var pats []*yaml.Node
	switch {
	case n.Kind == yaml.ScalarNode:
		pats = []*yaml.Node{n}
	case n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			pats = append(pats, p.resolve(c))
		}
	default:
		p.add(n, "include", `include must be a list of file patterns relative to this file, such as ["services/*.yaml"]; got %s`, describe(n))
		return
	}
	base := filepath.Dir(shown)
	for i, pn := range pats {
		field := fmt.Sprintf("include[%d]", i)
		if pn.Kind != yaml.ScalarNode || pn.Value == "" {
			p.add(pn, field, `each include entry must be a file pattern such as "services/*.yaml"; got %s`, describe(pn))
			continue
		}
		pat := pn.Value
		if !filepath.IsAbs(pat) {
			pat = filepath.Join(base, pat)
		}
		matches, err := filepath.Glob(pat)
		if err != nil {
			p.add(pn, field, "invalid pattern %q: %v; use * ? and [a-z] as in services/*.yaml", pn.Value, err)
			continue
		}
		if len(matches) == 0 {
			p.add(pn, field, "the pattern %q matches no file (looked for %s); fix the pattern or remove it", pn.Value, pat)
			continue
		}
		slices.Sort(matches)
		for _, m := range matches {
			abs, err := filepath.Abs(m)
			if err != nil {
				p.add(pn, field, "cannot resolve %s: %v", m, err)
				continue
			}
			if i := slices.Index(chain, abs); i >= 0 {
				p.add(pn, field, "%s is already being read (%s includes it again, a cycle); narrow the pattern %q so that it does not match it", m, shown, pn.Value)
				continue
			}
			if p.read[abs] {
				continue // matched by another pattern too: read once
			}
			p.read[abs] = true
			data, err := os.ReadFile(m)
			if err != nil {
				p.add(pn, field, "cannot read included file: %v", err)
				continue
			}
			p.size += len(data)
			p.includedFile(m, data, append(slices.Clip(chain), abs))
		}
	}
}

// includedFile decodes one included file and takes its services,
// templates and includes.
func (p *parser) includedFile(shown string, data []byte, chain []string) {
	saved := p.file
	p.file = shown
	doc, ok := p.decode(data)
	p.file = saved
	p.fileList = append(p.fileList, shown)
	if !ok || doc == nil || len(doc.Content) == 0 {
		return
	}
	mark(p.files, doc, shown)
	n := p.resolve(doc.Content[0])
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, "", "an included file must be a mapping with the fields %s; got %s", strings.Join(includedFields, ", "), describe(n))
		return
	}
	// Keys only the main file may hold get their own message.
	kept := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	p.files[kept] = shown
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i])
		if k.Kind == yaml.ScalarNode && slices.Contains(rootFields, k.Value) && !slices.Contains(includedFields, k.Value) {
			p.add(k, k.Value, "%s can only be set in the main configuration file %s, not in an included one; move it there", k.Value, p.file)
			continue
		}
		kept.Content = append(kept.Content, n.Content[i], n.Content[i+1])
	}
	f, ok := p.mapping(kept, kept, "", "an included file", includedFields)
	if !ok {
		return
	}
	// A file's own services come before those of the files it includes,
	// as in the main file.
	if v := f.get("services"); v != nil {
		p.serviceList(v, shown)
	}
	if v := f.get("templates"); v != nil {
		p.templates(v, shown)
	}
	if v := f.get("include"); v != nil {
		p.include(v, shown, chain)
	}
}

// serviceList adds the entries of a services list.
func (p *parser) serviceList(n *yaml.Node, file string) {
	if n.Kind != yaml.SequenceNode {
		p.add(n, "services", `services must be a list whose entries start with "- name: ..."; got %s`, describe(n))
		return
	}
	for i, item := range n.Content {
		p.entries = append(p.entries, serviceEntry{node: item, path: fmt.Sprintf("services[%d]", i), file: file})
	}
}

// fragmentNode checks the keys of a fragment mapping against known and
// returns a mapping of the ones that may be merged (where taken out),
// or nil.
func (p *parser) fragmentNode(n *yaml.Node, path, what string, known []string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "%s must be a mapping of service fields (%s); got %s", what, strings.Join(known, ", "), describe(n))
		return nil
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	p.files[out] = p.fileOf(n)
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := p.resolve(n.Content[i])
		if k.Kind != yaml.ScalarNode {
			p.add(k, path, "field names must be plain words such as environments; got %s", describe(k))
			continue
		}
		field := join(path, k.Value)
		switch {
		case k.Value == "name":
			p.add(k, field, "name is not inherited: every service sets its own name; remove it from %s", what)
		case k.Value == "use":
			p.add(k, field, "%s cannot use templates: only a service has use; list the templates in the services instead", what)
		case k.Value == "labels" && !slices.Contains(known, "labels"):
			p.add(k, field, "a where entry cannot set labels: its selector chooses services by their labels; set them in defaults, a template or the service")
		case k.ShortTag() == "!!merge":
			p.add(k, field, "YAML merge keys (<<) are not supported; write the fields out in full")
		case !slices.Contains(known, k.Value):
			p.add(k, field, "unknown field %q; known fields are: %s", k.Value, strings.Join(known, ", "))
		case seen[k.Value] != nil:
			p.add(k, field, "field %q is set twice (first at line %d); remove one of them", k.Value, seen[k.Value].Line)
		default:
			seen[k.Value] = k
			if k.Value != "where" && k.Value != "selector" {
				out.Content = append(out.Content, n.Content[i], n.Content[i+1])
			}
		}
	}
	return out
}

// addFragment registers a fragment and marks its nodes (those of the
// fields it merges: the where entries of defaults are fragments of their own).
func (p *parser) addFragment(fr *fragment) {
	p.fragments = append(p.fragments, fr)
	mark(p.frags, fr.node, len(p.fragments)-1)
}

// defaults walks the top-level defaults block.
func (p *parser) defaults(n *yaml.Node) {
	node := p.fragmentNode(n, "defaults", "defaults", defaultsFields)
	if node == nil {
		return
	}
	var where *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := p.resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == "where" {
			where = p.resolve(n.Content[i+1])
		}
	}
	p.defaultsFrag = &fragment{label: "defaults", prefix: "defaults", node: node}
	p.addFragment(p.defaultsFrag)
	if isNull(where) {
		return
	}
	if where.Kind != yaml.SequenceNode {
		p.add(where, "defaults.where", "where must be a list of entries such as {selector: tier=1, environments: [...]}; got %s", describe(where))
		return
	}
	for i, item := range where.Content {
		item = p.resolve(item)
		path := fmt.Sprintf("defaults.where[%d]", i)
		wn := p.fragmentNode(item, path, "a where entry", whereFields)
		if wn == nil {
			continue
		}
		var selNode *yaml.Node
		for j := 0; j+1 < len(item.Content); j += 2 {
			if k := p.resolve(item.Content[j]); k.Kind == yaml.ScalarNode && k.Value == "selector" {
				selNode = p.resolve(item.Content[j+1])
			}
		}
		if isNull(selNode) {
			p.add(item, join(path, "selector"), "every where entry needs a selector choosing the services it applies to, such as selector: tier=1")
			continue
		}
		s, ok := p.scalar(selNode, join(path, "selector"), "tier=1")
		if !ok {
			continue
		}
		sel, err := ParseSelector(s)
		if err != nil {
			p.add(selNode, join(path, "selector"), "%v", err)
			continue
		}
		fr := &fragment{label: "where " + sel.String(), prefix: path, node: wn, sel: sel}
		p.addFragment(fr)
		p.where = append(p.where, fr)
	}
}

// templates walks a templates mapping of file.
func (p *parser) templates(n *yaml.Node, file string) {
	if n.Kind != yaml.MappingNode {
		p.add(n, "templates", "templates must be a mapping of template names to service fields, such as {web: {environments: [...]}}; got %s", describe(n))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k.Kind != yaml.ScalarNode || !nameRE.MatchString(k.Value) {
			p.add(k, "templates", "template names must be 1 to 63 lowercase letters, digits and dashes, such as web; got %s", describe(k))
			continue
		}
		path := "templates." + k.Value
		if first, dup := p.templateByName[k.Value]; dup {
			p.add(k, path, "template %q is defined twice (first at %s:%d); rename or remove one of them", k.Value, first.file, first.line)
			continue
		}
		if isNull(v) {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column}
			p.files[v] = file
		}
		node := p.fragmentNode(v, path, "template "+k.Value, templateFields)
		if node == nil {
			continue
		}
		fr := &fragment{label: "template " + k.Value, prefix: path, node: node}
		p.addFragment(fr)
		p.templateByName[k.Value] = templateRef{fr: fr, file: file, line: k.Line}
	}
}

// templateRef is a defined template and where.
type templateRef struct {
	fr   *fragment
	file string
	line int
}

// uses reads a service's use: one template name or a list of them.
func (p *parser) uses(n *yaml.Node, path string) []*fragment {
	var names []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		names = []*yaml.Node{n}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			names = append(names, p.resolve(c))
		}
	default:
		p.add(n, join(path, "use"), "use must name a template or list templates, such as use: [web, tier-1]; got %s", describe(n))
		return nil
	}
	var out []*fragment
	for i, nn := range names {
		field := join(path, "use")
		if n.Kind == yaml.SequenceNode {
			field = fmt.Sprintf("%s[%d]", field, i)
		}
		if nn.Kind != yaml.ScalarNode {
			p.add(nn, field, "expected a template name such as web; got %s", describe(nn))
			continue
		}
		ref, ok := p.templateByName[nn.Value]
		if !ok {
			p.add(nn, field, "unknown template %q; %s", nn.Value, p.templateList())
			continue
		}
		if slices.Contains(out, ref.fr) {
			p.add(nn, field, "template %q is used twice; list it once", nn.Value)
			continue
		}
		out = append(out, ref.fr)
	}
	return out
}

// templateList says which templates exist, for the unknown-template problem.
func (p *parser) templateList() string {
	if len(p.templateByName) == 0 {
		return "there are no templates: define it under templates: in this file or an included one"
	}
	names := make([]string, 0, len(p.templateByName))
	for n := range p.templateByName {
		names = append(names, n)
	}
	slices.Sort(names)
	return "the templates are: " + strings.Join(names, ", ")
}

// valueOf returns the value of key in mapping n, or nil.
func (p *parser) valueOf(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := p.resolve(n.Content[i]); k.Kind == yaml.ScalarNode && k.Value == key {
			return p.resolve(n.Content[i+1])
		}
	}
	return nil
}

// quietLabels reads a labels mapping without reporting (the walk does).
func (p *parser) quietLabels(n *yaml.Node, into map[string]string) {
	if n == nil || n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k.Kind == yaml.ScalarNode && v.Kind == yaml.ScalarNode {
			into[k.Value] = v.Value
		}
	}
}

// compose merges the layers of one service (resolved n) and returns the
// node to walk and the fragments applied, lowest first (none: n itself).
func (p *parser) compose(n *yaml.Node, e serviceEntry) (*yaml.Node, []*fragment) {
	if n == nil || n.Kind != yaml.MappingNode {
		return n, nil
	}
	var tmpl []*fragment
	if u := p.valueOf(n, "use"); !isNull(u) {
		tmpl = p.uses(u, e.path)
	}
	var layers []*fragment
	if p.defaultsFrag != nil {
		layers = append(layers, p.defaultsFrag)
	}
	if len(p.where) > 0 {
		labels := map[string]string{}
		if p.defaultsFrag != nil {
			p.quietLabels(p.valueOf(p.defaultsFrag.node, "labels"), labels)
		}
		for _, t := range tmpl {
			p.quietLabels(p.valueOf(t.node, "labels"), labels)
		}
		p.quietLabels(p.valueOf(n, "labels"), labels)
		for _, w := range p.where {
			if w.sel.Matches(labels) {
				layers = append(layers, w)
			}
		}
	}
	layers = append(layers, tmpl...)
	if len(layers) == 0 {
		return n, nil
	}
	out := layers[0].node
	for _, l := range layers[1:] {
		out = p.merge(out, l.node, "")
	}
	return p.merge(out, n, ""), layers
}

// newNode makes a node for the merge, standing where src is (for its
// position, file and layer).
func (p *parser) newNode(kind yaml.Kind, tag string, src *yaml.Node) *yaml.Node {
	nn := &yaml.Node{Kind: kind, Tag: tag, Line: src.Line, Column: src.Column}
	if m, ok := p.made[src]; ok {
		src = m
	}
	p.made[nn] = src
	return nn
}

// merge merges hi over lo: mappings key by key, the environments lists
// element by element by name, anything else (scalars, other lists, an
// explicit null) replaced whole by hi.
func (p *parser) merge(lo, hi *yaml.Node, key string) *yaml.Node {
	lo, hi = p.resolve(lo), p.resolve(hi)
	switch {
	case isNull(lo) || isNull(hi):
		return hi
	case lo.Kind == yaml.MappingNode && hi.Kind == yaml.MappingNode:
		out := p.newNode(yaml.MappingNode, "!!map", hi)
		out.Content = slices.Clone(lo.Content)
		at := map[string]int{} // key → index of its value in out.Content
		for i := 0; i+1 < len(out.Content); i += 2 {
			if k := p.resolve(out.Content[i]); k.Kind == yaml.ScalarNode {
				if _, ok := at[k.Value]; !ok {
					at[k.Value] = i + 1
				}
			}
		}
		byHi := map[string]bool{}
		for i := 0; i+1 < len(hi.Content); i += 2 {
			k := p.resolve(hi.Content[i])
			if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" || byHi[k.Value] {
				out.Content = append(out.Content, hi.Content[i], hi.Content[i+1]) // the walk reports it
				continue
			}
			byHi[k.Value] = true
			if j, ok := at[k.Value]; ok {
				out.Content[j-1] = hi.Content[i]
				out.Content[j] = p.merge(out.Content[j], hi.Content[i+1], k.Value)
				continue
			}
			out.Content = append(out.Content, hi.Content[i], hi.Content[i+1])
		}
		return out
	case key == "environments" && lo.Kind == yaml.SequenceNode && hi.Kind == yaml.SequenceNode:
		return p.mergeEnvironments(lo, hi)
	}
	return hi
}

// envName is the name of an environments entry, or "".
func (p *parser) envName(n *yaml.Node) string {
	if v := p.valueOf(p.resolve(n), "name"); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// mergeEnvironments merges two environments lists by name. The order is
// hi's for the environments hi lists; an environment only lo names comes
// right before the first environment after it in lo that hi also lists (or
// at the end), so a service listing only production over defaults of
// staging and production still promotes staging first.
func (p *parser) mergeEnvironments(lo, hi *yaml.Node) *yaml.Node {
	loAt := map[string]int{}
	for i, e := range lo.Content {
		if nm := p.envName(e); nm != "" {
			if _, ok := loAt[nm]; !ok {
				loAt[nm] = i
			}
		}
	}
	hiAt := map[string]int{}
	merged := make([]*yaml.Node, len(hi.Content))
	for j, e := range hi.Content {
		merged[j] = e
		nm := p.envName(e)
		if nm == "" {
			continue
		}
		if _, dup := hiAt[nm]; dup {
			continue
		}
		hiAt[nm] = j
		if i, ok := loAt[nm]; ok {
			merged[j] = p.merge(lo.Content[i], e, "")
		}
	}
	out := p.newNode(yaml.SequenceNode, "!!seq", hi)
	next := 0 // hi entries before next are in out
	for _, e := range lo.Content {
		nm := p.envName(e)
		if j, ok := hiAt[nm]; ok && nm != "" {
			for ; next <= j; next++ {
				out.Content = append(out.Content, merged[next])
			}
			continue
		}
		out.Content = append(out.Content, e)
	}
	out.Content = append(out.Content, merged[next:]...)
	return out
}

// shownField is field as a problem positioned at n would name it, for
// messages that point at another value ("... at line 3 already uses it").
func (p *parser) shownField(n *yaml.Node, field string) string {
	if p.cur == nil {
		return field
	}
	if fr := p.fragOf(n); fr != nil {
		return p.cur.rewrite(field, fr.prefix)
	}
	return p.cur.rewrite(field, p.cur.path)
}
