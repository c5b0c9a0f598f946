package config

import (
	"time"

	"gopkg.in/yaml.v3"
)

// Insights configures the delivery insights (docs/INSIGHTS.md).
type Insights struct {
	// FailureWindow: a production deployment followed this soon by an
	// emergency deploy counts as a failed change (server.insights.
	// failure_window; zero: DefaultFailureWindow).
	FailureWindow time.Duration
}

// DefaultFailureWindow is server.insights.failure_window when unset.
const DefaultFailureWindow = 24 * time.Hour

var insightsFields = []string{"failure_window"}

// insights walks server.insights.
func (p *parser) insights(n *yaml.Node, path string) Insights {
	var in Insights
	if n == nil {
		return in
	}
	f, ok := p.mapping(n, n, path, "server.insights", insightsFields)
	if !ok {
		return in
	}
	if v := f.get("failure_window"); v != nil {
		if d, ok := p.duration(v, f.field("failure_window")); ok {
			if d <= 0 {
				p.add(v, f.field("failure_window"), "failure_window must be greater than zero (got %q); write a duration such as 24h or 2d, or remove it for 24h", v.Value)
			} else {
				in.FailureWindow = d
			}
		}
	}
	return in
}
