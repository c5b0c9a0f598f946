package config

import (
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
)

var (
	checkFields      = []string{"name", "interval", "timeout", "min_samples", "http", "prometheus", "datadog", "command"}
	httpCheckFields  = []string{"url", "expect_status", "body_contains"}
	promCheckFields  = []string{"url", "query", "max", "min"}
	ddCheckFields    = []string{"site", "query", "api_key_env", "app_key_env", "max", "min", "window"}
	checkKindsListed = "http, prometheus, datadog or command"
)

// checks walks an environment's checks: what must stay healthy in the
// environment below while a release bakes there before it may enter this
// one (SPEC rules 8 and 9).
func (p *parser) checks(n *yaml.Node, path string) []check.Spec {
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "checks must be a list of checks, each with a name and one of %s; got %s", checkKindsListed, describe(n))
		return nil
	}
	var out []check.Spec
	seen := map[string]int{}
	for i, item := range n.Content {
		field := path + "[" + strconv.Itoa(i) + "]"
		item = p.resolve(item)
		f, ok := p.mapping(item, item, field, "a check", checkFields)
		if !ok {
			continue
		}
		var spec check.Spec
		if v := f.get("name"); v == nil {
			p.add(f.at("name"), f.field("name"), "a check needs a name (it is the reason a failing check gives for its lock), e.g. name: staging-health")
		} else if s, ok := p.scalar(v, f.field("name"), "staging-health"); ok {
			if line, dup := seen[s]; dup {
				p.add(v, f.field("name"), "check name %q is used twice (first at line %d); give each check its own name", s, line)
			}
			seen[s] = v.Line
			spec.Name = s
		}
		if v := f.get("interval"); v != nil {
			if d, ok := p.duration(v, f.field("interval")); ok {
				spec.Interval = d
			}
		}
		if v := f.get("timeout"); v != nil {
			if d, ok := p.duration(v, f.field("timeout")); ok {
				spec.Timeout = d
			}
		}
		if v := f.get("min_samples"); v != nil {
			spec.MinSamples = p.integer(v, f.field("min_samples"))
		}
		kinds := 0
		if v := f.get("http"); v != nil {
			kinds++
			spec.HTTP = p.httpCheck(v, f.field("http"))
		}
		if v := f.get("prometheus"); v != nil {
			kinds++
			spec.Prometheus = p.promCheck(v, f.field("prometheus"))
		}
		if v := f.get("datadog"); v != nil {
			kinds++
			spec.Datadog = p.ddCheck(v, f.field("datadog"))
		}
		if v := f.get("command"); v != nil {
			kinds++
			if argv := p.argv(v, f.field("command"), `["./smoke.sh"]`); argv != nil {
				spec.Command = &check.CommandSpec{Command: argv, Dir: p.dir, InheritEnv: p.inherit(nil)}
			}
		}
		if kinds != 1 {
			p.add(item, field, "a check needs exactly one of %s (it has %d)", checkKindsListed, kinds)
			continue
		}
		if spec.Name == "" || (spec.HTTP == nil && spec.Prometheus == nil && spec.Datadog == nil && spec.Command == nil) {
			continue
		}
		if _, err := check.New(spec); err != nil {
			p.add(item, field, "%s", err.Error())
			continue
		}
		out = append(out, spec)
	}
	return out
}

func (p *parser) integer(n *yaml.Node, field string) int {
	s, ok := p.scalar(n, field, "10")
	if !ok {
		return 0
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < 0 {
		p.add(n, field, "%q is not a whole number of 0 or more", s)
		return 0
	}
	return v
}

func (p *parser) float(n *yaml.Node, field string) *float64 {
	s, ok := p.scalar(n, field, "0.5")
	if !ok {
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		p.add(n, field, "%q is not a number", s)
		return nil
	}
	return &v
}

// bounds reads a metric check's optional max and min.
func (p *parser) bounds(f fields) (max, min *float64) {
	if v := f.get("max"); v != nil {
		max = p.float(v, f.field("max"))
	}
	if v := f.get("min"); v != nil {
		min = p.float(v, f.field("min"))
	}
	return max, min
}

func (p *parser) str(f fields, key, example string) string {
	v := f.get(key)
	if v == nil {
		return ""
	}
	s, _ := p.scalar(v, f.field(key), example)
	return s
}

func (p *parser) httpCheck(n *yaml.Node, path string) *check.HTTPSpec {
	f, ok := p.mapping(n, n, path, "an http check", httpCheckFields)
	if !ok {
		return nil
	}
	spec := &check.HTTPSpec{URL: p.str(f, "url", "https://staging.example.com/healthz"), BodyContains: p.str(f, "body_contains", "ok")}
	if spec.URL == "" {
		p.add(f.at("url"), f.field("url"), "an http check needs url, e.g. url: https://staging.example.com/healthz")
	}
	if v := f.get("expect_status"); v != nil {
		spec.ExpectStatus = p.integer(v, f.field("expect_status"))
	}
	return spec
}

func (p *parser) promCheck(n *yaml.Node, path string) *check.PrometheusSpec {
	f, ok := p.mapping(n, n, path, "a prometheus check", promCheckFields)
	if !ok {
		return nil
	}
	spec := &check.PrometheusSpec{URL: p.str(f, "url", "http://127.0.0.1:9090"), Query: p.str(f, "query", "sum(rate(http_requests_total[5m]))")}
	if spec.URL == "" {
		p.add(f.at("url"), f.field("url"), "a prometheus check needs url: the Prometheus server, e.g. http://127.0.0.1:9090")
	}
	if spec.Query == "" {
		p.add(f.at("query"), f.field("query"), "a prometheus check needs query: a PromQL expression")
	}
	spec.Max, spec.Min = p.bounds(f)
	return spec
}

func (p *parser) ddCheck(n *yaml.Node, path string) *check.DatadogSpec {
	f, ok := p.mapping(n, n, path, "a datadog check", ddCheckFields)
	if !ok {
		return nil
	}
	spec := &check.DatadogSpec{Site: p.str(f, "site", "datadoghq.eu"), Query: p.str(f, "query", "avg:trace.http.request.errors{env:staging}"),
		APIKeyEnv: p.str(f, "api_key_env", "DD_API_KEY"), AppKeyEnv: p.str(f, "app_key_env", "DD_APP_KEY")}
	if spec.Query == "" {
		p.add(f.at("query"), f.field("query"), "a datadog check needs query: a Datadog metrics query")
	}
	spec.Max, spec.Min = p.bounds(f)
	if v := f.get("window"); v != nil {
		if d, ok := p.duration(v, f.field("window")); ok {
			spec.Window = d
		}
	}
	// The query carries the API and application keys: only Datadog's own
	// sites, over HTTPS, may receive it. Reported here, at the site's line,
	// rather than by check.New below.
	if _, err := check.DatadogAPIBase(spec.Site); err != nil {
		p.add(f.at("site"), f.field("site"), "%s", err.Error())
		return nil
	}
	return spec
}
