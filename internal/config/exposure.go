package config

import (
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

var (
	exposureFields     = []string{"requests", "people", "max_wait", "after_max_wait", "prometheus"}
	exposurePromFields = []string{"url", "query", "min"}
	envRouterFields    = []string{"listen", "upstream", "response_header_timeout"}
)

// What an exposure gate does once its max_wait is over.
const (
	// AfterMaxWaitHold (the default) keeps the release waiting and says
	// that max_wait is over: only use, or a person's skip-bake, lets it go.
	AfterMaxWaitHold = "hold"
	// AfterMaxWaitPromote promotes the release anyway, saying so.
	AfterMaxWaitPromote = "promote"
)

// VersionPlaceholder is replaced by a release's version in an exposure's
// Prometheus query.
const VersionPlaceholder = "{version}"

// Exposure is an environment's exposure gate (exposure): the use a release
// must have seen in the environment below, besides its bake time, before
// it may enter this one. The gate is on the environment promoted into; the
// use is counted in the one below.
type Exposure struct {
	// Requests is how many requests the release, or a newer one, must have
	// answered below (0: not asked). They are counted by the router of the
	// environment below, or by Prometheus when Prometheus is set.
	Requests int64
	// People is how many distinct people must have used the release, or a
	// newer one, below (0: not asked), counted from the banner's beacons.
	People int
	// MaxWait bounds the wait for exposure, from the start of the bake
	// (0: no bound).
	MaxWait time.Duration
	// AfterMaxWait is AfterMaxWaitHold (default) or AfterMaxWaitPromote.
	AfterMaxWait string
	// Prometheus, if set, counts the requests with a PromQL query instead
	// of the router, for teams with a proxy of their own.
	Prometheus *ExposurePrometheus
}

// ExposurePrometheus counts requests answered by a version with PromQL.
type ExposurePrometheus struct {
	URL string
	// Query returns one number: the requests answered by the version
	// written as VersionPlaceholder, e.g.
	// sum(increase(http_requests_total{version="{version}"}[30d])).
	Query string
	// Min is how many the query must reach; it is the exposure's Requests
	// (either sets both).
	Min int64
}

// EnvRouter is bakery's router in front of an environment without a canary
// (router): a reverse proxy with one upstream that counts the requests
// each version answers, for the exposure gate of the environment above.
type EnvRouter struct {
	// Listen is the host:port the router listens on.
	Listen string
	// Upstream is the http(s) base URL of the environment's app.
	Upstream string
	// ResponseHeaderTimeout is how long the upstream may take to start its
	// response before the router answers 502 (default
	// DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
}

// envRouter walks an environment's router block.
func (p *parser) envRouter(n *yaml.Node, path string) *EnvRouter {
	f, ok := p.mapping(n, n, path, "router", envRouterFields)
	if !ok {
		return nil
	}
	r := &EnvRouter{ResponseHeaderTimeout: DefaultResponseHeaderTimeout}
	if v := f.get("response_header_timeout"); v != nil {
		if d, ok := p.duration(v, f.field("response_header_timeout")); ok {
			if d <= 0 {
				p.add(v, f.field("response_header_timeout"), "response_header_timeout must be greater than zero (got %q); write how long the upstream may take to start its answer, such as 30s, or remove it to use the default of %s", v.Value, shortDuration(DefaultResponseHeaderTimeout))
			} else {
				r.ResponseHeaderTimeout = d
			}
		}
	}
	var listenOK bool
	if v := f.get("listen"); v == nil {
		p.add(f.at("listen"), f.field("listen"), "router.listen is required: the host:port the router listens on, where the environment's users go, e.g. listen: 127.0.0.1:8081")
	} else if s, ok := p.scalar(v, f.field("listen"), `"127.0.0.1:8081"`); ok {
		r.Listen = s
		listenOK = p.routerListen(v, f.field("listen"), s)
	}
	var upNode *yaml.Node
	r.Upstream, upNode = p.httpURL(f, "upstream", "http://127.0.0.1:9081", "router.upstream is required: the base URL where the environment's app runs")
	if listenOK && upNode != nil && proxiesToItself(r.Listen, r.Upstream) {
		p.add(upNode, f.field("upstream"), "router.upstream points at the router itself (listen: %s), so every request would loop back into it; give the address where the app runs", r.Listen)
	}
	return r
}

// exposure walks an environment's exposure block. The check that the
// environment below can count requests is made by exposureSources, once
// every environment is known.
func (p *parser) exposure(n *yaml.Node, path string) (*Exposure, *yaml.Node) {
	f, ok := p.mapping(n, n, path, "exposure", exposureFields)
	if !ok {
		return nil, nil
	}
	x := &Exposure{AfterMaxWait: AfterMaxWaitHold}
	before := len(p.problems)
	var reqNode *yaml.Node
	if v := f.get("requests"); v != nil {
		x.Requests, _ = p.count(v, f.field("requests"), "requests", "500")
		reqNode = v
	}
	if v := f.get("people"); v != nil {
		n, _ := p.count(v, f.field("people"), "people", "3")
		x.People = int(n)
	}
	if v := f.get("max_wait"); v != nil {
		if d, ok := p.duration(v, f.field("max_wait")); ok {
			if d <= 0 {
				p.add(v, f.field("max_wait"), "max_wait must be greater than zero (got %q); write how long a release may wait for its exposure, such as 12h, or remove it to wait until the use is seen", v.Value)
			}
			x.MaxWait = d
		}
	}
	if v := f.get("after_max_wait"); v != nil {
		if s, ok := p.scalar(v, f.field("after_max_wait"), "hold"); ok {
			switch s {
			case AfterMaxWaitHold, AfterMaxWaitPromote:
				x.AfterMaxWait = s
			default:
				p.add(v, f.field("after_max_wait"), "after_max_wait must be hold (keep waiting and say so) or promote (promote anyway); got %q", s)
			}
			if f.get("max_wait") == nil {
				p.add(v, f.field("after_max_wait"), "after_max_wait needs max_wait: say how long a release may wait for its exposure, e.g. max_wait: 12h")
			}
		}
	}
	if v := f.get("prometheus"); v != nil {
		x.Prometheus = p.exposureProm(v, f.field("prometheus"))
		if pr := x.Prometheus; pr != nil {
			switch {
			case pr.Min > 0 && x.Requests > 0 && pr.Min != x.Requests:
				p.add(f.get("prometheus"), f.field("prometheus")+".min", "prometheus.min (%d) and requests (%d) disagree: both say how many requests must be counted; give one of them", pr.Min, x.Requests)
			case pr.Min > 0:
				x.Requests = pr.Min
			default:
				pr.Min = x.Requests
			}
			if x.Requests == 0 {
				p.add(v, f.field("prometheus"), "exposure.prometheus counts requests, but neither requests nor prometheus.min says how many are needed; add requests: 500")
			}
			if reqNode == nil {
				reqNode = v
			}
		}
	}
	if f.get("requests") == nil && f.get("people") == nil && f.get("prometheus") == nil {
		p.add(n, path, "exposure asks for no use: give requests (e.g. requests: 500) and/or people (e.g. people: 3)")
	} else if x.Requests == 0 && x.People == 0 && f.get("prometheus") == nil && len(p.problems) == before {
		p.add(n, path, "exposure asks for 0 requests and 0 people, which every release has; give at least one of them above 0, or remove exposure")
	}
	return x, reqNode
}

// count reads a whole number of 0 or more.
func (p *parser) count(n *yaml.Node, field, what, example string) (int64, bool) {
	s, ok := p.scalar(n, field, example)
	if !ok {
		return 0, false
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	switch {
	case err == nil && v < 0:
		p.add(n, field, "%s must not be negative (got %s); write how many are needed, such as %s", what, s, example)
		return 0, false
	case err != nil:
		p.add(n, field, "%s must be a whole number such as %s; got %q", what, example, s)
		return 0, false
	}
	return v, true
}

func (p *parser) exposureProm(n *yaml.Node, path string) *ExposurePrometheus {
	f, ok := p.mapping(n, n, path, "exposure.prometheus", exposurePromFields)
	if !ok {
		return nil
	}
	pr := &ExposurePrometheus{}
	pr.URL, _ = p.httpURL(f, "url", "http://127.0.0.1:9090", "exposure.prometheus.url is required: the Prometheus server")
	if v := f.get("query"); v == nil {
		p.add(f.at("query"), f.field("query"), `exposure.prometheus.query is required: PromQL returning the requests a version answered, with {version} for the version, e.g. sum(increase(http_requests_total{version="{version}"}[30d]))`)
	} else if s, ok := p.scalar(v, f.field("query"), `'sum(increase(http_requests_total{version="{version}"}[30d]))'`); ok {
		pr.Query = s
		if !strings.Contains(s, VersionPlaceholder) {
			p.add(v, f.field("query"), "exposure.prometheus.query has no {version}: it would count every version's requests as this release's; select the version with {version}, e.g. http_requests_total{version=\"{version}\"}")
		}
	}
	if v := f.get("min"); v != nil {
		pr.Min, _ = p.count(v, f.field("min"), "min", "500")
	}
	return pr
}

// exposureSources checks, once a service's environments are known, that
// each exposure gate can be fed: requests need a router on the
// environment below (or a Prometheus query); a router needs no canary
// there (the canary has its own).
func (p *parser) exposureSources(envs []Environment, nodes []envNodes) {
	for i := range envs {
		nd := nodes[i]
		if envs[i].Router != nil && envs[i].Canary != nil && nd.router != nil {
			p.add(nd.router, nd.path+".router", "an environment with a canary already has a router (canary.router); remove router here, or move it into canary.router")
		}
		x := envs[i].Exposure
		if x == nil || nd.exposure == nil {
			continue
		}
		if i == 0 {
			p.add(nd.exposure, nd.path+".exposure", "the first environment cannot have an exposure gate: it counts use in the environment before this one; put it on a later environment")
			continue
		}
		if x.Requests > 0 && x.Prometheus == nil && envs[i-1].Router == nil {
			p.add(nd.requests, nd.path+".exposure.requests", "exposure.requests needs a way to count requests in %s: give %s a router (router: {listen: 127.0.0.1:8081, upstream: http://127.0.0.1:9081}) or add exposure.prometheus {url, query, min}", envs[i-1].Name, envs[i-1].Name)
		}
	}
}

// envNodes are the nodes of an environment's router and exposure blocks,
// for problems found once all environments are known.
type envNodes struct {
	path             string
	router, exposure *yaml.Node
	requests         *yaml.Node
}
