package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Labels name what a service belongs to (`team: payments`, `tier: 1`), so
// that people can act on many services at once by a selector.
//
// A key is a lower-case word (letters, digits, ".", "_", "/", "-", at most
// 63 characters, starting with a letter or digit); a value is a word of
// letters, digits, ".", "_" and "-" of at most 63 characters.
var (
	labelKeyRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]{0,62}$`)
	labelValueRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)
)

// labels walks a service's labels mapping.
func (p *parser) labels(n *yaml.Node, path string) map[string]string {
	if n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		p.add(n, path, "labels must be a mapping of words, such as {team: payments, tier: 1}; got %s", describe(n))
		return nil
	}
	out := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := p.resolve(n.Content[i]), p.resolve(n.Content[i+1])
		if k == nil || k.Kind != yaml.ScalarNode {
			p.add(k, path, "label names must be plain words such as team; got %s", describe(k))
			continue
		}
		field := join(path, k.Value)
		if !labelKeyRE.MatchString(k.Value) {
			p.add(k, field, "label name %q must be a lower-case word of letters, digits, '.', '_', '/' or '-' (at most 63), such as team", k.Value)
			continue
		}
		if _, dup := out[k.Value]; dup {
			p.add(k, field, "label %q is set twice; remove one of them", k.Value)
			continue
		}
		val, ok := p.scalar(v, field, "payments")
		if !ok {
			continue
		}
		if !labelValueRE.MatchString(val) {
			p.add(v, field, "label value %q must be a word of letters, digits, '.', '_' or '-' (at most 63), such as payments", val)
			continue
		}
		out[k.Value] = val
	}
	return out
}

// Selector picks services by their labels: every key=value pair must hold
// (comma means and).
type Selector []LabelPair

// LabelPair is one key=value of a selector.
type LabelPair struct{ Key, Value string }

// ParseSelector reads a selector such as "team=payments,tier=1".
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("the selector is empty: give key=value pairs joined by commas, such as team=payments,tier=1")
	}
	var sel Selector
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case !ok:
			return nil, fmt.Errorf("selector %q: %q is not key=value, such as team=payments", s, part)
		case !labelKeyRE.MatchString(k):
			return nil, fmt.Errorf("selector %q: %q is not a label name (a lower-case word such as team)", s, k)
		case !labelValueRE.MatchString(v):
			return nil, fmt.Errorf("selector %q: %q is not a label value (a word such as payments)", s, v)
		case seen[k]:
			return nil, fmt.Errorf("selector %q names %s twice: a service has one value per label", s, k)
		}
		seen[k] = true
		sel = append(sel, LabelPair{Key: k, Value: v})
	}
	sort.Slice(sel, func(i, j int) bool { return sel[i].Key < sel[j].Key })
	return sel, nil
}

// Matches reports whether every pair of the selector holds for labels.
func (s Selector) Matches(labels map[string]string) bool {
	for _, p := range s {
		if v, ok := labels[p.Key]; !ok || v != p.Value {
			return false
		}
	}
	return true
}

// String is the selector in its canonical form: pairs sorted by key.
func (s Selector) String() string {
	parts := make([]string, len(s))
	for i, p := range s {
		parts[i] = p.Key + "=" + p.Value
	}
	return strings.Join(parts, ",")
}
