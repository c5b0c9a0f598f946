package config

import (
	"fmt"
	"math"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bakery-deploy/bakery/internal/analysis/judge"
)

// DefaultPrometheusStep is the resolution of a prometheus metric's range
// queries when its step is unset: fine enough to give the judge several
// samples in one analysis interval.
const DefaultPrometheusStep = 5 * time.Second

// minAnalysisInterval is the shortest analysis interval: judging more often
// only repeats the same samples and loads the metric sources.
const minAnalysisInterval = time.Second

var (
	canaryFields         = []string{"deploy", "router", "set_weight", "cleanup", "steps", "analysis"}
	routerFields         = []string{"listen", "stable", "canary", "track_header", "response_header_timeout"}
	canaryStepFields     = []string{"weight", "for"}
	analysisFields       = []string{"interval", "pass", "marginal", "metrics", "checks"}
	analysisMetricFields = []string{"name", "router", "prometheus", "direction", "confidence", "tolerance", "critical", "weight", "min_samples", "max", "min"}
	promMetricFields     = []string{"url", "canary", "baseline", "step"}
	routerMeasurements   = []string{RouterErrorRate, RouterLatency}
	directions           = []string{string(judge.Increase), string(judge.Decrease), string(judge.Either)}
)

// listenUse is an address something in the file listens on, remembered so
// that two listeners on the same port are reported before bakery starts
// and fails to bind the second.
type listenUse struct {
	addr  string
	field string
	line  int // 0: not written in the file (the default server.addr)
}

// listens are the addresses seen so far in one Parse: the server's, then
// every canary router's in file order.
type listens struct {
	server  listenUse
	routers []listenUse
}

// canary walks an environment's canary block.
func (p *parser) canary(n *yaml.Node, path string) *Canary {
	f, ok := p.mapping(n, n, path, "canary", canaryFields)
	if !ok {
		return nil
	}
	c := &Canary{}
	if v := f.get("deploy"); v != nil {
		c.Deploy = p.deploy(v, v, f.field("deploy"))
	} else {
		c.Deploy = Deploy{Timeout: DefaultTimeout, Dir: p.dir}
		p.add(f.at("deploy"), f.field("deploy"), `canary.deploy is required: the command that starts the release beside the stable version, e.g. deploy: {command: ["./deploy.sh", "production-canary"]}`)
	}
	if v := f.get("router"); v != nil {
		c.Router = p.router(v, f.field("router"))
	}
	if v := f.get("set_weight"); v != nil {
		d := p.deploy(v, v, f.field("set_weight"))
		c.SetWeight = &d
	}
	if v := f.get("cleanup"); v != nil {
		d := p.deploy(v, v, f.field("cleanup"))
		c.Cleanup = &d
	}
	if f.get("router") == nil && f.get("set_weight") == nil {
		p.add(n, path, `a canary needs a way to move traffic: router (bakery's built-in proxy) or set_weight (a command for your load balancer, run with BAKERY_CANARY_WEIGHT); add one of them`)
	}
	c.Steps = p.canarySteps(f.get("steps"), f.at("steps"), f.field("steps"))
	c.Analysis = p.analysis(f.get("analysis"), f.at("analysis"), f.field("analysis"), f.get("router") != nil)
	return c
}

// router walks a canary's router block.
func (p *parser) router(n *yaml.Node, path string) *Router {
	f, ok := p.mapping(n, n, path, "canary.router", routerFields)
	if !ok {
		return nil
	}
	r := &Router{ResponseHeaderTimeout: DefaultResponseHeaderTimeout}
	if v := f.get("track_header"); v != nil {
		r.TrackHeader = p.boolean(v, f.field("track_header"))
	}
	if v := f.get("response_header_timeout"); v != nil {
		if d, ok := p.duration(v, f.field("response_header_timeout")); ok {
			if d <= 0 {
				p.add(v, f.field("response_header_timeout"), "response_header_timeout must be greater than zero (got %q); write how long a backend may take to start its answer, such as 30s, or remove it to use the default of %s", v.Value, shortDuration(DefaultResponseHeaderTimeout))
			} else {
				r.ResponseHeaderTimeout = d
			}
		}
	}
	var listenOK bool
	if v := f.get("listen"); v == nil {
		p.add(f.at("listen"), f.field("listen"), "router.listen is required: the host:port the router listens on, where your users' traffic goes, e.g. listen: 127.0.0.1:8082")
	} else if s, ok := p.scalar(v, f.field("listen"), `"127.0.0.1:8082"`); ok {
		r.Listen = s
		listenOK = p.routerListen(v, f.field("listen"), s)
	}
	var stableNode *yaml.Node
	r.Stable, stableNode = p.httpURL(f, "stable", "http://127.0.0.1:8092", "router.stable is required: the base URL of the stable version")
	var canaryNode *yaml.Node
	r.Canary, canaryNode = p.httpURL(f, "canary", "http://127.0.0.1:8093", "router.canary is required: the base URL of the canary instances")
	if stableNode != nil && canaryNode != nil && sameURL(r.Stable, r.Canary) {
		p.add(canaryNode, f.field("canary"), "router.canary is the same URL as router.stable (line %d): the canary instances must run at their own address, or the router could not tell them apart", stableNode.Line)
	}
	if listenOK {
		for _, u := range []struct {
			key  string
			node *yaml.Node
			url  string
		}{{"stable", stableNode, r.Stable}, {"canary", canaryNode, r.Canary}} {
			if u.node != nil && proxiesToItself(r.Listen, u.url) {
				p.add(u.node, f.field(u.key), "router.%s points at the router itself (listen: %s), so every request would loop back into it; give the address where the %s version runs", u.key, r.Listen, u.key)
			}
		}
	}
	return r
}

// routerListen checks a router's listen address on its own and against
// every other listener in the file, and reports whether it is valid.
func (p *parser) routerListen(n *yaml.Node, field, addr string) bool {
	before := len(p.problems)
	p.checkAddr(n, field, addr)
	if len(p.problems) > before {
		return false
	}
	if _, port, _ := net.SplitHostPort(addr); strings.Trim(port, "0") == "" {
		p.add(n, field, "router.listen needs a fixed port (port 0 picks a random one that no traffic would find), e.g. 127.0.0.1:8082")
		return false
	}
	use := listenUse{addr: addr, field: field, line: n.Line}
	if s := p.listens.server; s.addr != "" && addrsClash(s.addr, addr) {
		where := fmt.Sprintf("the server itself listens on %s (server.addr, line %d)", s.addr, s.line)
		if s.line == 0 {
			where = fmt.Sprintf("the server itself listens on %s (the default server.addr)", s.addr)
		}
		p.add(n, field, "router.listen %s clashes with the server's address: %s; give the router its own port", addr, where)
	} else {
		for _, r := range p.listens.routers {
			if addrsClash(r.addr, addr) {
				p.add(n, field, "router.listen %s clashes with %s at line %d (%s); give each canary router its own port", addr, r.field, r.line, r.addr)
				break
			}
		}
	}
	p.listens.routers = append(p.listens.routers, use)
	return true
}

// httpURL reads the required absolute http(s) URL under key; missing is the
// message for a missing one. It returns the node when the URL is valid.
func (p *parser) httpURL(f fields, key, example, missing string) (string, *yaml.Node) {
	v := f.get(key)
	if v == nil {
		p.add(f.at(key), f.field(key), "%s, e.g. %s: %s", missing, key, example)
		return "", nil
	}
	s, ok := p.scalar(v, f.field(key), example)
	if !ok {
		return "", nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		shown := s
		if err == nil {
			// Never repeat a password the URL may hold.
			shown = u.Redacted()
		}
		p.add(v, f.field(key), "%s must be an absolute http(s) URL with a host, such as %s; got %q", key, example, shown)
		return s, nil
	}
	return s, v
}

// sameURL reports whether two valid http(s) URLs name the same place,
// ignoring the case of scheme and host, a default port and a trailing slash.
func sameURL(a, b string) bool {
	norm := func(s string) string {
		u, _ := url.Parse(s)
		scheme := strings.ToLower(u.Scheme)
		return scheme + "://" + endpoint(u) + strings.TrimSuffix(u.EscapedPath(), "/") + "?" + u.RawQuery
	}
	return norm(a) == norm(b)
}

// endpoint returns a URL's host:port with the scheme's default port filled
// in and the host normalized by normHost.
func endpoint(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if strings.EqualFold(u.Scheme, "https") {
			port = "443"
		}
	}
	return net.JoinHostPort(normHost(u.Hostname()), port)
}

// normHost puts a host in one spelling: lowercase, IP addresses in their
// canonical form, localhost as 127.0.0.1 and every wildcard ("", 0.0.0.0,
// ::) as "".
func normHost(h string) string {
	h = strings.ToLower(h)
	if h == "localhost" {
		return "127.0.0.1"
	}
	if ip, err := netip.ParseAddr(h); err == nil {
		if ip.IsUnspecified() {
			return ""
		}
		return ip.Unmap().String()
	}
	return h
}

// addrsClash reports whether two valid listen addresses could not both be
// bound: the same port, and the same host or a wildcard on either side.
func addrsClash(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return false
	}
	na, errA := strconv.Atoi(pa)
	nb, errB := strconv.Atoi(pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return false
	}
	ha, hb = normHost(ha), normHost(hb)
	return ha == "" || hb == "" || ha == hb
}

// proxiesToItself reports whether a router listening on listen would
// forward to itself when given target. Only certain loops count: the same
// host and port, or a wildcard listener and a loopback target. A wildcard
// listener and another host's name may well be another machine.
func proxiesToItself(listen, target string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	u, err := url.Parse(target)
	if err != nil {
		return false
	}
	th, tp, err := net.SplitHostPort(endpoint(u))
	if err != nil {
		return false
	}
	ln, _ := strconv.Atoi(lp)
	tn, _ := strconv.Atoi(tp)
	if ln != tn {
		return false
	}
	lh = normHost(lh)
	if lh == th {
		return true
	}
	ip, err := netip.ParseAddr(th)
	return lh == "" && (th == "" || (err == nil && ip.IsLoopback()))
}

// canarySteps walks a canary's steps list.
func (p *parser) canarySteps(n, at *yaml.Node, path string) []CanaryStep {
	const required = "a canary needs at least one step: list the canary's share of traffic and how long to hold it, e.g. steps: [{weight: 10, for: 5m}, {weight: 50, for: 10m}]"
	if n == nil {
		p.add(at, path, required)
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "steps must be a list of steps such as {weight: 10, for: 5m}; got %s", describe(n))
		return nil
	}
	if len(n.Content) == 0 {
		p.add(n, path, required)
		return nil
	}
	steps := make([]CanaryStep, 0, len(n.Content))
	for i, item := range n.Content {
		field := path + "[" + strconv.Itoa(i) + "]"
		v := p.resolve(item)
		if isNull(v) {
			v = nil
		}
		f, ok := p.mapping(v, item, field, "a canary step", canaryStepFields)
		if !ok {
			continue
		}
		var s CanaryStep
		if v := f.get("weight"); v == nil {
			p.add(f.at("weight"), f.field("weight"), "every step needs weight: the canary's share of traffic in percent, 1 to 100, e.g. weight: 10")
		} else {
			s.Weight, _ = p.intIn(v, f.field("weight"), 1, 100, "weight must be a whole percentage from 1 to 100 (the canary's share of traffic)")
		}
		if v := f.get("for"); v == nil {
			p.add(f.at("for"), f.field("for"), "every step needs for: how long to hold its weight before the next step, e.g. for: 5m")
		} else if d, ok := p.duration(v, f.field("for")); ok {
			if d <= 0 {
				p.add(v, f.field("for"), "for must be greater than zero (got %q); write how long to hold the step, such as 5m", v.Value)
			}
			s.For = d
		}
		steps = append(steps, s)
	}
	return steps
}

// analysis walks a canary's analysis block, applying defaults. hasRouter
// says whether the canary has a router block, which router metrics need.
func (p *parser) analysis(n, at *yaml.Node, path string, hasRouter bool) Analysis {
	a := Analysis{Interval: DefaultAnalysisInterval, Pass: judge.DefaultPass, Marginal: judge.DefaultMarginal}
	const none = "a canary without analysis would only delay: add metrics (e.g. {name: errors, router: error_rate}) or checks"
	if n == nil {
		p.add(at, path, "canary.analysis is required: %s", none)
		return a
	}
	f, ok := p.mapping(n, n, path, "canary.analysis", analysisFields)
	if !ok {
		return a
	}
	if v := f.get("interval"); v != nil {
		if d, ok := p.duration(v, f.field("interval")); ok {
			if d < minAnalysisInterval {
				p.add(v, f.field("interval"), "interval must be at least %s (got %q); write how often to judge the canary, such as 30s, or remove it to use the default of %s", minAnalysisInterval, v.Value, shortDuration(DefaultAnalysisInterval))
			}
			a.Interval = d
		}
	}
	score := func(x float64) bool { return x >= 0 && x <= 100 }
	passOK, marginalOK := true, true
	if v := f.get("pass"); v != nil {
		a.Pass, passOK = p.number(v, f.field("pass"), score, "pass must be a score from 0 to 100")
	}
	if v := f.get("marginal"); v != nil {
		a.Marginal, marginalOK = p.number(v, f.field("marginal"), score, "marginal must be a score from 0 to 100")
	}
	if passOK && marginalOK && a.Marginal > a.Pass {
		at, field := f.get("marginal"), f.field("marginal")
		if at == nil {
			at, field = f.get("pass"), f.field("pass")
		}
		p.add(at, field, "marginal (%g) must not be above pass (%g): a score of at least pass passes, one of at least marginal is marginal; lower marginal or raise pass", a.Marginal, a.Pass)
	}
	checks := map[string]int{}
	if v := f.get("checks"); v != nil {
		a.Checks = p.checks(v, f.field("checks"))
		checks = p.checkNames(v)
	}
	if v := f.get("metrics"); v != nil {
		a.Metrics = p.analysisMetrics(v, f.field("metrics"), hasRouter, checks)
	}
	if entries(f.get("metrics")) == 0 && entries(f.get("checks")) == 0 {
		p.add(n, path, "%s", none)
	}
	return a
}

// entries counts the entries of a list; a value that is not a list counts
// as one, since it has already been reported as such.
func entries(n *yaml.Node) int {
	switch {
	case n == nil:
		return 0
	case n.Kind == yaml.SequenceNode:
		return len(n.Content)
	}
	return 1
}

// checkNames returns the line of the first check of each name in a checks
// list, for the problem about a metric with the same name.
func (p *parser) checkNames(n *yaml.Node) map[string]int {
	names := map[string]int{}
	if n.Kind != yaml.SequenceNode {
		return names
	}
	for _, item := range n.Content {
		item = p.resolve(item)
		if item == nil || item.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := p.resolve(item.Content[i]), p.resolve(item.Content[i+1])
			if k != nil && k.Value == "name" && v != nil && v.Kind == yaml.ScalarNode {
				if _, dup := names[v.Value]; !dup {
					names[v.Value] = v.Line
				}
			}
		}
	}
	return names
}

// analysisMetrics walks an analysis's metrics list; checks holds the line
// of each analysis check's name, which a metric may not reuse.
func (p *parser) analysisMetrics(n *yaml.Node, path string, hasRouter bool, checks map[string]int) []AnalysisMetric {
	if n.Kind != yaml.SequenceNode {
		p.add(n, path, "metrics must be a list of metrics, each with a name and one of router or prometheus; got %s", describe(n))
		return nil
	}
	out := make([]AnalysisMetric, 0, len(n.Content))
	seen := map[string]int{}
	for i, item := range n.Content {
		field := path + "[" + strconv.Itoa(i) + "]"
		v := p.resolve(item)
		if isNull(v) {
			v = nil
		}
		f, ok := p.mapping(v, item, field, "a metric", analysisMetricFields)
		if !ok {
			continue
		}
		m := AnalysisMetric{Metric: judge.Metric{Direction: judge.Increase}}
		if v := f.get("name"); v == nil {
			p.add(f.at("name"), f.field("name"), "a metric needs a name (the judgement reports each metric by it), e.g. name: errors")
		} else if s, ok := p.scalar(v, f.field("name"), "errors"); ok {
			if line, dup := seen[s]; dup {
				p.add(v, f.field("name"), "metric name %q is used twice (first at line %d); give each metric its own name", s, line)
			} else if line, dup := checks[s]; dup {
				p.add(v, f.field("name"), "metric name %q is also the name of a check in this analysis (line %d); give the metric and the check different names, since judgements report both by name", s, line)
			}
			if _, dup := seen[s]; !dup {
				seen[s] = v.Line
			}
			m.Name = s
		}
		sources := 0
		if v := f.get("router"); v != nil {
			sources++
			if s, ok := p.scalar(v, f.field("router"), RouterErrorRate); ok {
				m.Router = s
				switch {
				case !slices.Contains(routerMeasurements, s):
					p.add(v, f.field("router"), "unknown router measurement %q; use one of %s", s, strings.Join(routerMeasurements, ", "))
				case !hasRouter:
					p.add(v, f.field("router"), "router metrics need canary.router; with set_weight, read metrics from prometheus")
				}
			}
		}
		if v := f.get("prometheus"); v != nil {
			sources++
			m.Prometheus = p.promMetric(v, f.field("prometheus"))
		}
		if sources != 1 {
			p.add(f.node, field, "a metric needs exactly one of router (a measurement of bakery's built-in router: %s) or prometheus (PromQL queries for canary and baseline); it has %d", strings.Join(routerMeasurements, " or "), sources)
		}
		if v := f.get("direction"); v != nil {
			if s, ok := p.scalar(v, f.field("direction"), string(judge.Increase)); ok {
				if slices.Contains(directions, s) {
					m.Direction = judge.Direction(s)
				} else {
					p.add(v, f.field("direction"), "unknown direction %q; use increase (higher is worse, e.g. errors), decrease (lower is worse, e.g. throughput) or either", s)
				}
			}
		}
		if v := f.get("confidence"); v != nil {
			m.Confidence, _ = p.number(v, f.field("confidence"), func(x float64) bool { return x > 0 && x < 1 }, "confidence must be between 0 and 1, exclusive, e.g. 0.95")
		}
		if v := f.get("tolerance"); v != nil {
			m.Tolerance, _ = p.number(v, f.field("tolerance"), func(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }, "tolerance must be 0 or more, a relative change of medians (0.1 = 10%)")
		}
		if v := f.get("critical"); v != nil {
			m.Critical = p.boolean(v, f.field("critical"))
		}
		if v := f.get("weight"); v != nil {
			m.Weight, _ = p.number(v, f.field("weight"), func(x float64) bool { return x > 0 && !math.IsInf(x, 0) }, "weight must be greater than 0 (the metric's share of the score), e.g. 2")
		}
		if v := f.get("min_samples"); v != nil {
			m.MinSamples, _ = p.intIn(v, f.field("min_samples"), 1, math.MaxInt32, "min_samples must be a whole number of 1 or more")
		}
		m.Max, m.Min = p.finiteBounds(f)
		if m.Max != nil && m.Min != nil && *m.Max < *m.Min {
			p.add(f.get("max"), f.field("max"), "max (%g) is below min (%g), so every value would fail; swap them", *m.Max, *m.Min)
		}
		out = append(out, m)
	}
	return out
}

// promMetric walks a metric's prometheus block, applying defaults.
func (p *parser) promMetric(n *yaml.Node, path string) *PrometheusMetric {
	f, ok := p.mapping(n, n, path, "a prometheus metric", promMetricFields)
	if !ok {
		return nil
	}
	m := &PrometheusMetric{Step: DefaultPrometheusStep}
	m.URL, _ = p.httpURL(f, "url", "http://127.0.0.1:9090", "a prometheus metric needs url: the Prometheus server")
	for _, q := range []struct {
		key, track string
		dst        *string
	}{{"canary", "canary", &m.Canary}, {"baseline", "stable", &m.Baseline}} {
		v := f.get(q.key)
		if v != nil {
			*q.dst, _ = p.scalar(v, f.field(q.key), "sum(rate(http_requests_total[30s]))")
		}
		if v == nil || (v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "") {
			p.add(f.at(q.key), f.field(q.key), `a prometheus metric needs %s: a PromQL query returning one series for the %s version, e.g. %s: 'sum(rate(http_requests_total{track="%s",code=~"5.."}[30s]))'`, q.key, q.track, q.key, q.track)
		}
	}
	if v := f.get("step"); v != nil {
		if d, ok := p.duration(v, f.field("step")); ok {
			if d <= 0 {
				p.add(v, f.field("step"), "step must be greater than zero (got %q); write the query resolution, such as 5s, or remove it to use the default of %s", v.Value, shortDuration(DefaultPrometheusStep))
			}
			m.Step = d
		}
	}
	return m
}

// number reads a number that valid accepts; rule says which numbers those
// are. ok is false when there was a problem.
func (p *parser) number(n *yaml.Node, field string, valid func(float64) bool, rule string) (float64, bool) {
	v := p.float(n, field)
	if v == nil {
		return 0, false
	}
	if !valid(*v) {
		p.add(n, field, "%s; got %s", rule, n.Value)
		return 0, false
	}
	return *v, true
}

// intIn reads a whole number from lo to hi; rule says so in words.
func (p *parser) intIn(n *yaml.Node, field string, lo, hi int, rule string) (int, bool) {
	s, ok := p.scalar(n, field, strconv.Itoa(lo))
	if !ok {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || v < lo || v > hi {
		p.add(n, field, "%s; got %q", rule, s)
		return 0, false
	}
	return v, true
}

// boolean reads true or false.
func (p *parser) boolean(n *yaml.Node, field string) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool" {
		return strings.EqualFold(n.Value, "true")
	}
	p.add(n, field, "expected true or false; got %s", describe(n))
	return false
}

// finiteBounds reads optional max and min that must be finite numbers;
// an invalid one is reported and left nil.
func (p *parser) finiteBounds(f fields) (max, min *float64) {
	max, min = p.bounds(f)
	finite := func(key string, x *float64) *float64 {
		if x != nil && (math.IsNaN(*x) || math.IsInf(*x, 0)) {
			p.add(f.get(key), f.field(key), "%s must be a finite number; got %s", key, f.get(key).Value)
			return nil
		}
		return x
	}
	return finite("max", max), finite("min", min)
}
