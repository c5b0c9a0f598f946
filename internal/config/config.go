// Package config loads and validates bakery's YAML configuration file.
//
// The file names the services bakery deploys and, for each, its
// environments in promotion order with the command that deploys to each.
// Validation never stops at the first mistake: Load and Parse walk the whole
// file and return a *ValidationError that lists every problem with its file,
// line, column and field path, so a user can fix them all in one pass.
//
// A minimal file:
//
//	server:
//	  addr: 127.0.0.1:8080
//	  database: sqlite://bakery.db
//	services:
//	  - name: web
//	    environments:
//	      - name: staging
//	        deploy:
//	          command: ["./deploy.sh", "staging"]
//	      - name: production
//	        bake: 1h
//	        deploy:
//	          command: ["./deploy.sh", "production"]
//
// An environment may limit when promotions into it may start with a windows
// block (see package window for the forms of the entries):
//
//	environments:
//	  - name: production
//	    bake: 1h
//	    windows:
//	      timezone: America/New_York      # required; an IANA name
//	      allow: ["Mon-Fri 09:00-18:00"]  # required, one or more entries
//	      holidays: ["2026-12-25"]        # optional dates, closed all day
//	      holidays_ical: holidays.ics     # optional; all-day events are holidays
//	    deploy:
//	      command: ["./deploy.sh", "production"]
//
// The holidays_ical file is read while the configuration is parsed.
//
// The server block may also serve HTTPS, name the reverse proxies whose
// X-Forwarded-* headers are believed, and change the limits on clients
// (every field optional; the defaults are the Default* constants):
//
//	server:
//	  tls:                              # both or neither; read at parse time
//	    cert: tls/cert.pem              # PEM certificate, its chain after it
//	    key: tls/key.pem
//	  hsts: true                        # Strict-Transport-Security on HTTPS responses
//	  trusted_proxies: [127.0.0.1, 10.0.0.0/8]
//	  limits:
//	    read_header_timeout: 10s
//	    read_timeout: 30s               # headers and body
//	    write_timeout: 60s              # not for the dashboard's event stream
//	    idle_timeout: 120s
//	    max_header_bytes: 65536
//	    max_connections: 1024
//	    max_event_streams: 1000
//	    max_event_streams_per_session: 8
//
// An environment may make every promotion into it a canary rollout: the
// release first runs beside the stable version and gets a growing share of
// traffic, step by step, while an analysis compares it with the stable
// version (see the Canary type for what each field means):
//
//	canary:
//	  deploy:                               # required; like an environment's deploy
//	    command: ["./deploy.sh", "production-canary"]
//	  router:                               # router and/or set_weight
//	    listen: 127.0.0.1:8082
//	    stable: http://127.0.0.1:8092
//	    canary: http://127.0.0.1:8093
//	    track_header: false                 # default; true: X-Bakery-Track on responses
//	    response_header_timeout: 30s        # default 30s
//	  set_weight:                           # run with BAKERY_CANARY_WEIGHT
//	    command: ["./weights.sh"]
//	  steps:                                # required, one or more
//	    - {weight: 10, for: 5m}
//	    - {weight: 50, for: 10m}
//	  analysis:                             # required; metrics and/or checks
//	    interval: 30s                       # default 30s
//	    pass: 95                            # default 95
//	    marginal: 75                        # default 75
//	    metrics:
//	      - name: errors
//	        router: error_rate              # error_rate | latency (needs router)
//	        direction: increase             # increase | decrease | either
//	        critical: true
//	      - name: p99
//	        prometheus:
//	          url: http://127.0.0.1:9090
//	          canary: 'histogram_quantile(0.99, ...{track="canary"}...)'
//	          baseline: 'histogram_quantile(0.99, ...{track="stable"}...)'
//	    checks:                             # the same entries as an environment's checks
//	      - name: canary-health
//	        http: {url: "http://127.0.0.1:8093/healthz"}
//
// An environment may ask for proof of use besides bake time (see the
// Exposure type): the release must also have answered requests and been
// used by people in the environment below. Requests are counted by a
// router in front of that environment (router, the canary's router with
// one upstream) or by a Prometheus query; people by the banner's beacons:
//
//	environments:
//	  - name: staging
//	    router: {listen: 127.0.0.1:8081, upstream: http://127.0.0.1:9081}
//	    deploy: {command: ["./deploy.sh", "staging"]}
//	  - name: production
//	    bake: 1h
//	    exposure:
//	      requests: 500                   # or prometheus: {url, query with {version}, min}
//	      people: 3
//	      max_wait: 12h                   # then hold (default) or after_max_wait: promote
//
// Many services share settings through defaults (every service),
// defaults.where (the services a label selector picks), templates (a
// service's use: [a, b]) and include (files of services and templates).
// Each service is the deep merge, lowest first, of defaults < matching
// where entries < its templates in use order < itself: mappings key by
// key, environments by name, other lists replaced whole; see
// docs/CONFIG.md. Problems in an included file or a template name that
// file, its line and the template's field. Show prints one service's
// merge with where each value was set.
//
// Relative paths in the file (a sqlite:// database, a deploy command such as
// ./deploy.sh, a deploy dir, a holidays_ical file, server.tls files) are resolved against the
// directory of the file, not against the directory bakery happens to be
// started from, so the same file works wherever the server runs.
package config

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/analysis/judge"
	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/window"
)

// Defaults applied to settings the file leaves out. They are exported so that
// help texts and other packages can quote them instead of repeating them.
const (
	// DefaultAddr is where the server listens when server.addr is unset:
	// loopback only, so a fresh install is not exposed to the network.
	DefaultAddr = "127.0.0.1:8080"
	// DefaultDatabase is used when server.database is unset: a SQLite file
	// next to the configuration file, which needs no database server.
	DefaultDatabase = "sqlite://bakery.db"
	// DefaultTimeout bounds a deploy command when deploy.timeout is unset, so
	// a hung command cannot block an environment forever.
	DefaultTimeout = 10 * time.Minute
)

// Config is a loaded and validated configuration file. Every relative path in
// it has already been made absolute, so callers can use the values as they
// are, whatever their working directory.
type Config struct {
	// Path is the absolute path of the file that was loaded ("" when parsed
	// from bytes without a path); it is kept for log lines and reloads.
	Path string
	// Dir is the absolute directory of that file; relative paths in the file
	// are relative to it.
	Dir string
	// Files are the files included (include), as problems name them, in
	// the order they were read; a reload reads them all again.
	Files []string
	// Server holds the server's own settings.
	Server Server
	// Services are the services bakery deploys, in file order.
	Services []Service
	// GitHub connects bakery to GitHub (the github block; nil: not
	// connected): webhooks in, deployments and commit statuses out.
	GitHub *GitHub
	// Notifications are where bakery tells what it did (notify package).
	Notifications []Notification
	// Slack is the Slack workspace of Slack destinations and commands;
	// nil when the file has no slack block.
	Slack *Slack
}

// Server holds where bakery listens and where it keeps its state.
type Server struct {
	// Addr is the host:port to listen on; default DefaultAddr.
	Addr string
	// Database is the URL of the state database; default DefaultDatabase. A
	// sqlite:// URL with a relative path is made absolute against Config.Dir,
	// e.g. "sqlite:///abs/dir/bakery.db".
	Database string
	// InheritEnv names variables of bakery's own environment that every
	// command (deploy, check, migration, canary) gets, on top of
	// deploy.BaseEnv: e.g. AWS_PROFILE, KUBECONFIG. Nothing else of the
	// server's environment reaches a command. It is already merged into
	// every Deploy.InheritEnv.
	InheritEnv []string
	// MaskEnv names more variables whose values are secrets, masked in
	// stored output and events like the ones bakery knows by itself
	// (migrations.database.url_env, a Datadog check's keys).
	MaskEnv []string
	// Banner configures the banner endpoint apps' pages read.
	Banner Banner
	// TLS, if set, makes the server serve HTTPS with this certificate
	// (server.tls); nil: plain HTTP, e.g. behind a reverse proxy that
	// terminates TLS.
	TLS *TLS
	// HSTS adds Strict-Transport-Security to every HTTPS response
	// (server.hsts), so browsers never use plain HTTP for the host again.
	HSTS bool
	// TrustedProxies are the reverse proxies whose X-Forwarded-For,
	// X-Forwarded-Proto and X-Forwarded-Host are believed
	// (server.trusted_proxies); from any other address those headers are
	// ignored.
	TrustedProxies []netip.Prefix
	// Limits bound slow, idle and greedy clients (server.limits); every
	// field is set, from DefaultLimits where the file leaves it out. The
	// built-in canary routers use the connection, header and idle limits
	// too.
	Limits httpx.Limits
	// URL is the address people open the dashboard at (server.url), for
	// the links bakery sends out (GitHub statuses, Slack messages,
	// webhooks); without a trailing slash. Default: http(s)://Addr, with
	// 127.0.0.1 for a wildcard host.
	URL string
	// Insights configures the delivery insights (server.insights).
	Insights Insights
	// Retention is how long events and deployment output are kept
	// (server.retention); zero fields keep them for ever (the default).
	Retention Retention
}

// Banner configures GET /api/v1/services/{service}/environments/{env}/banner.
type Banner struct {
	// Public serves the banner without a token, with only the counts
	// (environment names and how many newer changes; no versions). Off by
	// default: then the banner needs a token with role banner or higher.
	Public bool
}

// Service is one deployable thing and the chain of environments its
// releases are promoted through.
type Service struct {
	// Name identifies the service in the API, the CLI and the database.
	Name string
	// Repository is an optional http(s) URL used to link commits in the UI.
	Repository string
	// Environments are in promotion order: a release reaches Environments[i]
	// only after it has baked in Environments[i-1]. There is at least one.
	Environments []Environment
	// Artifact is the template of the artifact reference of releases
	// bakery creates itself (from a GitHub webhook): {sha}, {short_sha},
	// {branch} and {service} are replaced. "" leaves it empty.
	Artifact string
	// Trigger says which GitHub events create this service's releases
	// (nil: none).
	Trigger *Trigger
	// Labels, from the service's labels block, are what selectors pick
	// services by (labels.go); nil when there are none.
	Labels map[string]string
}

// Environment is one stage of a service's pipeline.
type Environment struct {
	// Name identifies the environment within its service.
	Name string
	// Bake is how long a release must have spent in the previous
	// environment before it may be deployed to this one; 0 when unset. It is
	// never set on the first environment, which has nothing before it.
	Bake time.Duration
	// Deploy says how to deploy a release to this environment.
	Deploy Deploy
	// Window is when promotions into this environment may start, from the
	// environment's windows block; nil when there is none, which means at
	// any time. A nil *window.Schedule reports itself always open, so
	// callers may use it without checking for nil.
	Window *window.Schedule
	// Migrations is the schema migration step before each deploy into
	// this environment; nil: none.
	Migrations *Migrations
	// Checks must stay healthy in the environment before this one while a
	// release bakes there, before it may enter this one.
	Checks []check.Spec
	// Canary, if set, makes every automatic promotion into this
	// environment a canary rollout: the release is first put beside the
	// stable version and given a growing share of traffic, step by step,
	// while an analysis judges it against the stable version.
	Canary *Canary
	// CulpritFinding, if set, starts a bisect when its check fails a bake
	// with more than one release since the version this environment runs.
	CulpritFinding *CulpritFinding
	// Fix, if set, is the fix lane: fix releases pass this environment's
	// locks after a shorter bake and approvals.
	Fix *FixLane
	// Approval, if set, makes baked releases wait for approvals.
	Approval *Approval
	// Router, if set, is bakery's one-upstream router in front of this
	// environment (router), counting the requests each version answers
	// for the exposure gate of the environment above. Never set with
	// Canary, which has a router of its own.
	Router *EnvRouter
	// Exposure, if set, is the use a release must also have seen in the
	// environment below before it may enter this one (exposure).
	Exposure *Exposure
}

// Canary is a canary rollout into one environment.
type Canary struct {
	// Deploy puts the release beside the stable version (the canary
	// instances); it gets the same BAKERY_* variables as a deploy. When the
	// canary is promoted, the environment's own Deploy command replaces the
	// stable version.
	Deploy Deploy
	// Router, if set, is bakery's built-in HTTP router: a reverse proxy
	// listening on Router.Listen that splits requests between the stable
	// and canary URLs by the canary's weight.
	Router *Router
	// SetWeight, if set, is a command run with BAKERY_CANARY_WEIGHT=0..100
	// whenever the canary's weight changes, for real routers (load
	// balancer weights, a service mesh). At least one of Router and
	// SetWeight is set.
	SetWeight *Deploy
	// Cleanup, if set, is a command run once the canary has ended (its
	// weight back at 0), with BAKERY_CANARY_OUTCOME=promoted, aborted or
	// cancelled: e.g. to stop or scale down the canary instances.
	Cleanup *Deploy
	// Steps are the canary's traffic weights in order; there is at least
	// one. After the last step's time is up (and its judgement passed) the
	// canary is promoted.
	Steps []CanaryStep
	// Analysis judges the canary against the stable version while it runs.
	Analysis Analysis
}

// Router is the built-in router of a canary environment.
type Router struct {
	// Listen is the host:port the router listens on.
	Listen string
	// Stable and Canary are the http(s) base URLs of the stable version
	// and of the canary instances.
	Stable, Canary string
	// TrackHeader, when set (track_header: true), makes every response
	// carry X-Bakery-Track: stable or canary. It is off by default: it
	// tells any client which version answered, so a client could retry
	// until it reaches the canary (or avoid it).
	TrackHeader bool
	// ResponseHeaderTimeout is how long a backend may take to start its
	// response before the router answers 502 (response_header_timeout;
	// default DefaultResponseHeaderTimeout).
	ResponseHeaderTimeout time.Duration
}

// DefaultResponseHeaderTimeout is how long the built-in router waits for
// a backend's response headers when canary.router.response_header_timeout
// is unset.
const DefaultResponseHeaderTimeout = 30 * time.Second

// CanaryStep is one step of a canary rollout.
type CanaryStep struct {
	// Weight is the canary's share of traffic, 1-100 percent.
	Weight int
	// For is how long the step lasts at least (> 0).
	For time.Duration
}

// Analysis is how a canary is judged.
type Analysis struct {
	// Interval is how often the canary is judged (default 30s, at least 1s).
	Interval time.Duration
	// Pass and Marginal are the judge's score thresholds, 0-100
	// (defaults 95 and 75; Marginal <= Pass).
	Pass, Marginal float64
	// Metrics are compared between canary and baseline by the judge.
	Metrics []AnalysisMetric
	// Checks are threshold checks evaluated at every judgement: a failing
	// one aborts the canary, an inconclusive one holds it at its step.
	Checks []check.Spec
}

// DefaultAnalysisInterval is how often a canary is judged when its
// analysis sets no interval.
const DefaultAnalysisInterval = 30 * time.Second

// AnalysisMetric is one metric the judge compares, and where its samples
// come from: exactly one of Router and Prometheus is set.
type AnalysisMetric struct {
	// Metric is the judge's configuration of the metric (name, direction,
	// confidence, tolerance, critical, weight, min_samples, max, min).
	judge.Metric
	// Router names a measurement of the built-in router: RouterErrorRate
	// or RouterLatency. Requires the canary's Router.
	Router string
	// Prometheus reads the samples with PromQL range queries.
	Prometheus *PrometheusMetric
}

// Router measurements available to canary analysis.
const (
	// RouterErrorRate: the share of requests answered 5xx (or not
	// answered) per second, one sample per second with traffic.
	RouterErrorRate = "error_rate"
	// RouterLatency: each request's latency in seconds.
	RouterLatency = "latency"
)

// PrometheusMetric reads a metric's canary and baseline samples from
// Prometheus: the values of a range query over the judged period.
type PrometheusMetric struct {
	URL string
	// Canary and Baseline are PromQL queries returning one series each,
	// e.g. rate(...{track="canary"}[30s]) and the same for "stable".
	Canary, Baseline string
	// Step is the range query's resolution (default 5s).
	Step time.Duration
}

// Deploy is the command that deploys a release to one environment. The
// command is an argv list that is executed directly, never through a shell,
// so release data cannot be interpreted as shell syntax.
type Deploy struct {
	// Command is the program and its arguments; never empty and without
	// empty elements. A relative Command[0] that contains a "/" (such as
	// ./deploy.sh) has been made absolute against Config.Dir; a bare name
	// (such as kubectl) is left for the executor to look up in PATH.
	Command []string
	// Timeout bounds one run of the command; default DefaultTimeout, always
	// greater than zero.
	Timeout time.Duration
	// Dir is the absolute working directory of the command; default
	// Config.Dir.
	Dir string
	// Env holds extra environment variables for the command; nil when unset.
	// Keys match [A-Za-z_][A-Za-z0-9_]* and never start with BAKERY_, which
	// is reserved for the variables bakery itself passes.
	Env map[string]string
	// InheritEnv names the variables of bakery's own environment the command
	// gets besides deploy.BaseEnv: the deploy block's inherit_env followed
	// by server.inherit_env.
	InheritEnv []string
}

// Load reads and validates the configuration file at path. A file that
// cannot be read is a plain error naming the path; a file with problems is a
// *ValidationError listing all of them.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	return Parse(path, data)
}

// Parse validates data as the contents of the configuration file at path.
// The path is used in problem messages and to resolve relative paths in the
// file: Config.Dir is the absolute form of filepath.Dir(path), so a relative
// path is taken relative to the working directory, and "" means the working
// directory itself. Parse reads the holidays_ical files the data names and
// the files its include patterns match (relative to the directory of path);
// a file it cannot read or parse is a problem like any other. A file with
// problems yields a *ValidationError listing all of them and a nil *Config.
func Parse(path string, data []byte) (*Config, error) {
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("cannot resolve the directory of configuration file %s: %w", path, err)
	}
	cfg := &Config{Dir: dir}
	if path != "" {
		if cfg.Path, err = filepath.Abs(path); err != nil {
			return nil, fmt.Errorf("cannot resolve configuration file path %s: %w", path, err)
		}
	}
	p := &parser{file: path, dir: dir}
	p.parse(data, cfg)
	if len(p.problems) > 0 {
		return nil, &ValidationError{Problems: sortProblems(p.problems, append([]string{p.file}, p.fileList...)...)}
	}
	return cfg, nil
}

// Service returns the service called name, so callers that receive a name
// from the API or CLI can find its configuration. The pointer refers into
// c.Services.
func (c *Config) Service(name string) (*Service, bool) {
	if c == nil {
		return nil, false
	}
	for i := range c.Services {
		if c.Services[i].Name == name {
			return &c.Services[i], true
		}
	}
	return nil, false
}

// Environment returns the environment called name and its index in the
// promotion order, which callers need to find the environment before it.
// The pointer refers into s.Environments; the index is -1 when not found.
func (s *Service) Environment(name string) (*Environment, int, bool) {
	if s == nil {
		return nil, -1, false
	}
	for i := range s.Environments {
		if s.Environments[i].Name == name {
			return &s.Environments[i], i, true
		}
	}
	return nil, -1, false
}
