package config

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// reservedInherit are variables of bakery's own environment that no command
// may be given: the credentials of bakery itself.
var reservedInherit = map[string]string{
	"BAKERY_BOOTSTRAP_TOKEN": "it is the server's first admin token",
	"BAKERY_TOKEN":           "it is an API token of the CLI",
}

// envNames walks a list of environment variable names (inherit_env,
// mask_env).
func (p *parser) envNames(n *yaml.Node, field, purpose string) []string {
	if n.Kind != yaml.SequenceNode {
		p.add(n, field, "%s must be a list of environment variable names, such as [AWS_PROFILE, KUBECONFIG]; got %s", field, describe(n))
		return nil
	}
	var names []string
	first := map[string]int{}
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.ScalarNode || !envKeyRE.MatchString(item.Value) {
			p.add(item, field, "%s lists variable names: use letters, digits and underscores, not starting with a digit, such as KUBECONFIG; got %s", field, describe(item))
			continue
		}
		name := item.Value
		if why, ok := reservedInherit[name]; ok && purpose == "inherit" {
			p.add(item, field, "%s cannot be passed to commands: %s, and no command needs it; remove it from %s", name, why, field)
			continue
		}
		if line, dup := first[name]; dup {
			p.add(item, field, "%s is listed twice (first at line %d); remove one", name, line)
			continue
		}
		first[name] = item.Line
		names = append(names, name)
	}
	return names
}

// inherit merges the server-wide inherit_env into one command's list, so
// that every Deploy carries the whole list it runs with.
func (p *parser) inherit(own []string) []string {
	out := slices.Clone(own)
	for _, n := range p.serverInherit {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}
