package config

import (
	"bytes"
	"cmp"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Shown is the effective configuration of one service: the merge of its
// layers (defaults, matching where entries, the templates it uses, the
// service itself) as written, with where each value was set. Values are
// shown as written in the files: ${VAR} references, relative paths and the
// names of secret variables stay as they are; nothing is resolved or read
// from the environment, and bakery's built-in defaults (such as a deploy
// timeout of 10m) are not added.
type Shown struct {
	// Service is the service's name.
	Service string `json:"service"`
	// Layers are the fragments merged into the service, lowest first,
	// then "service": e.g. defaults, where tier=1, template base, service.
	Layers []string `json:"layers"`
	// YAML is the merged service, each value followed by a comment
	// naming the file, line and layer that set it.
	YAML string `json:"-"`
	// Config is the merged service as plain data, for --json.
	Config any `json:"config"`
	// Values lists every value with where it was set, in YAML order.
	Values []ShownValue `json:"values"`
}

// ShownValue is one value of a Shown service and where it was set.
type ShownValue struct {
	// Field is the value's path in the service, environments by name:
	// environments[production].bake.
	Field string `json:"field"`
	// Value is the value as written; a list of single values is one
	// ShownValue with every item.
	Value any `json:"value"`
	// File and Line are where it was written.
	File string `json:"file"`
	Line int    `json:"line"`
	// From is the layer: "defaults", "where tier=1", "template base" or
	// "service".
	From string `json:"from"`
}

// Show loads the configuration at path (and the files it includes) and
// returns the effective configuration of service. A service that is not
// there is an error naming the services with close names. When the
// configuration has problems, Show still returns the service if it could
// be merged, together with the *ValidationError.
func Show(path, service string) (*Shown, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("cannot resolve the directory of configuration file %s: %w", path, err)
	}
	p := &parser{file: path, dir: dir, show: service}
	cfg := &Config{Dir: dir}
	p.parse(data, cfg)
	var verr error
	if len(p.problems) > 0 {
		verr = &ValidationError{Problems: sortProblems(p.problems, append([]string{p.file}, p.fileList...)...)}
	}
	if p.shown == nil {
		var names []string
		for _, e := range p.entries {
			if nm := p.nameOf(p.resolve(e.node)); nm != "" {
				names = append(names, nm)
			}
		}
		if !slices.Contains(names, service) {
			return nil, fmt.Errorf("%s has no service %q; %s", path, service, closeNames(service, names))
		}
		return nil, verr
	}
	s := &Shown{Service: service}
	for _, l := range p.shownFrom {
		s.Layers = append(s.Layers, l.label)
	}
	s.Layers = append(s.Layers, "service")
	root := p.render(p.shown, "", s)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# service %s: %s, lowest first; each value says where it was set\n", service, strings.Join(s.Layers, " < "))
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("cannot print service %s: %w", service, err)
	}
	_ = enc.Close()
	s.YAML = buf.String()
	if err := root.Decode(&s.Config); err != nil {
		return nil, fmt.Errorf("cannot print service %s: %w", service, err)
	}
	return s, verr
}

// provenance says where n was set, as config show prints it.
func (p *parser) provenance(n *yaml.Node) (file string, line int, from string) {
	from = "service"
	if fr := p.fragOf(n); fr != nil {
		from = fr.label
	}
	return p.fileOf(n), n.Line, from
}

// follow resolves aliases without counting (the parse has walked the
// service already, within its bound).
func follow(n *yaml.Node) *yaml.Node {
	for i := 0; i < 100 && n != nil && n.Kind == yaml.AliasNode && n.Alias != nil; i++ {
		n = n.Alias
	}
	return n
}

// render copies the merged node n for printing, with a comment after each
// value saying where it was set, and lists the values in s.
func (p *parser) render(n *yaml.Node, field string, s *Shown) *yaml.Node {
	n = follow(n)
	note := func(out *yaml.Node, src *yaml.Node, value any) {
		file, line, from := p.provenance(src)
		out.LineComment = fmt.Sprintf("%s:%d (%s)", file, line, from)
		s.Values = append(s.Values, ShownValue{Field: field, Value: value, File: file, Line: line, From: from})
	}
	switch n.Kind {
	case yaml.ScalarNode:
		out := &yaml.Node{Kind: yaml.ScalarNode, Tag: n.Tag, Value: n.Value, Style: n.Style &^ (yaml.FlowStyle)}
		note(out, n, n.Value)
		return out
	case yaml.SequenceNode:
		out := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		var words []string
		plain := true
		for _, c := range n.Content {
			c = follow(c)
			if c.Kind != yaml.ScalarNode {
				plain = false
				break
			}
			words = append(words, c.Value)
		}
		if plain {
			// A list of single values is set whole by one layer.
			out.Style = yaml.FlowStyle
			for _, c := range n.Content {
				c = follow(c)
				out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: c.Tag, Value: c.Value, Style: c.Style})
			}
			src := n
			if len(n.Content) > 0 {
				src = follow(n.Content[0])
			}
			note(out, src, words)
			return out
		}
		for i, c := range n.Content {
			key := strconv.Itoa(i)
			if field == "environments" {
				if nm := p.envName(c); nm != "" {
					key = nm
				}
			}
			out.Content = append(out.Content, p.render(c, fmt.Sprintf("%s[%s]", field, key), s))
		}
		return out
	case yaml.MappingNode:
		out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		type pair struct{ k, v *yaml.Node }
		var pairs []pair
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := follow(n.Content[i])
			if field == "" && k.Value == "use" {
				continue // shown as the layers
			}
			pairs = append(pairs, pair{k, n.Content[i+1]})
		}
		if field == "" {
			// The name first, as a service is written.
			slices.SortStableFunc(pairs, func(a, b pair) int {
				return cmp.Compare(boolInt(a.k.Value != "name"), boolInt(b.k.Value != "name"))
			})
		}
		for _, pr := range pairs {
			out.Content = append(out.Content,
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: pr.k.Value},
				p.render(pr.v, join(field, pr.k.Value), s))
		}
		return out
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// closeNames suggests the names closest to name, for an unknown service.
func closeNames(name string, names []string) string {
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range names {
		d := editDistance(name, n)
		if d <= max(2, len(name)/3) || (len(name) >= 3 && strings.Contains(n, name)) {
			cs = append(cs, cand{n, d})
		}
	}
	slices.SortStableFunc(cs, func(a, b cand) int { return cmp.Or(cmp.Compare(a.d, b.d), cmp.Compare(a.name, b.name)) })
	if len(cs) == 0 {
		if len(names) == 0 {
			return "it has no services"
		}
		return fmt.Sprintf("it has %d services, none with a close name ('bakery validate' lists problems; the names are in its services lists)", len(names))
	}
	if len(cs) > 5 {
		cs = cs[:5]
	}
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	return "did you mean " + strings.Join(out, ", ") + "?"
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
