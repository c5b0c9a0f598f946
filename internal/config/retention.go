package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Retention says how long bakery keeps what only history needs
// (server.retention). A zero field keeps that kind of record for ever,
// which is the default: nothing is deleted unless configured.
type Retention struct {
	// Events is how long events are kept (server.retention.events):
	// older ones are deleted, oldest first; what remains is still an
	// unchanged, append-only log. Delivery metrics and the timeline reach
	// back this far only.
	Events time.Duration
	// DeploymentOutput is how long deployments keep their output tail
	// (server.retention.deployment_output): older finished deployments
	// keep their row, state, times and error, but their output is
	// cleared. The deployment an environment runs now keeps its output.
	DeploymentOutput time.Duration
}

// MinRetention is the shortest retention bakery accepts: shorter is almost
// certainly a unit typo (30s for 30d), and would delete the history people
// look at the same day.
const MinRetention = 24 * time.Hour

var retentionFields = []string{"events", "deployment_output"}

// retention walks server.retention.
func (p *parser) retention(n *yaml.Node, path string) Retention {
	var r Retention
	f, ok := p.mapping(n, n, path, "server.retention", retentionFields)
	if !ok || n == nil {
		return r
	}
	for _, key := range retentionFields {
		v := f.get(key)
		if v == nil {
			continue
		}
		d, ok := p.duration(v, f.field(key))
		if !ok {
			continue
		}
		if d < MinRetention {
			p.add(v, f.field(key), "%s must be at least 1d (got %q): write days such as 400d or 30d, or remove it to keep everything", key, v.Value)
			continue
		}
		switch key {
		case "events":
			r.Events = d
		case "deployment_output":
			r.DeploymentOutput = d
		}
	}
	return r
}
