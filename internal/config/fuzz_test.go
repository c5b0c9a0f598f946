package config

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, that every error it returns for
// file contents is a *ValidationError with positioned problems, and that a
// file it accepts satisfies the guarantees documented on the types.
func FuzzParse(f *testing.F) {
	seeds := []string{
		"",
		"services: []\n",
		"services:\n  - name: web\n    environments:\n      - name: staging\n        deploy:\n          command: [./deploy.sh, staging]\n",
		"server:\n  addr: 127.0.0.1:8080\n  database: sqlite://bakery.db\nservices:\n  - name: web\n    repository: https://github.com/acme/web\n    environments:\n      - name: staging\n        deploy:\n          command: [\"./deploy.sh\", \"staging\"]\n          timeout: 10m\n          dir: .\n          env: {PORT: \"8081\"}\n      - name: production\n        bake: 2d\n        deploy:\n          command: [\"./deploy.sh\", \"production\"]\n",
		"services:\n  - name: web\n    environments:\n      - name: staging\n        bake: 1x\n        deploy:\n          command: ./deploy.sh staging\n",
		"services:\n  - name: web\n    environments: x: y\n",
		"services: &s [*s]\n",
		"services: *nope\n",
		"a: &a [x, x]\nb: &b [*a, *a]\nservices: [{name: web, environments: *b}]\n",
		"- just\n- a list\n",
		"services:\n  - name: w\x01eb\n",
		"services:\n  - name: \xffweb\n",
		"---\nservices: []\n---\nservices: []\n",
		"services:\n  - name: web\n    environments:\n      - name: s\n        deploy: {command: [a, '', [b]], env: {BAKERY_X: 1, 1A: 2, A: [3]}}\n",
		"server: {addr: nowhere, database: mysql://root:pw@x/db}\nservices: [{name: Web, environments: []}]\n",
		"services:\n  - <<: {name: web}\n    environments: [{name: a, deploy: {command: [x]}}]\n",
		"services:\n  - name: web\n    environments:\n      - name: staging\n        deploy: {command: [a]}\n      - name: production\n        bake: 1h\n        windows:\n          timezone: America/New_York\n          allow: [\"Mon-Fri 09:00-18:00\", \"Fri 22:00-02:00\"]\n          holidays: [\"2026-12-25\", 2027-01-01]\n        deploy: {command: [b]}\n",
		"services:\n  - name: web\n    environments:\n      - name: production\n        windows: {timezone: Mars/Base, allow: [Mon-Fry 9-18, []], holidays: [2026-02-30], holidays_ical: nope.ics, tz: x}\n        deploy: {command: [b]}\n",
		"services:\n  - name: web\n    environments:\n      - name: production\n        windows: {timezone: Local, allow: [], holidays: 2026-12-25, holidays_ical: .}\n        deploy: {command: [b]}\n",
		"services:\n  - name: web\n    environments:\n      - name: production\n        windows:\n        deploy: {command: [b]}\n",
		"server: {addr: 127.0.0.1:8080}\nservices:\n  - name: web\n    environments:\n      - name: staging\n        deploy: {command: [a]}\n      - name: production\n        deploy: {command: [b]}\n        canary:\n          deploy: {command: [./canary.sh], timeout: 1m}\n          router: {listen: 127.0.0.1:8082, stable: http://127.0.0.1:8092, canary: http://127.0.0.1:8093}\n          set_weight: {command: [./weights.sh]}\n          steps: [{weight: 10, for: 30s}, {weight: 50, for: 30s}]\n          analysis:\n            interval: 10s\n            pass: 95\n            marginal: 75\n            metrics:\n              - {name: errors, router: error_rate, direction: increase, confidence: 0.95, tolerance: 0.1, critical: true, weight: 2, min_samples: 5, max: 0.05, min: 0}\n              - {name: p, prometheus: {url: http://127.0.0.1:9090, canary: a, baseline: b, step: 5s}}\n            checks: [{name: h, http: {url: http://127.0.0.1:8093/healthz}}]\n",
		"services:\n  - name: web\n    environments:\n      - name: production\n        deploy: {command: [b]}\n        canary:\n          router: {listen: ':0', stable: x, canary: x}\n          steps: [{weight: 0, for: -1s}, ~, 7]\n          analysis: {interval: 1ms, pass: 50, marginal: NaN, metrics: [{name: e, router: p99, prometheus: {}}, {name: e}], checks: [{name: e}]}\n",
		"services:\n  - name: web\n    environments:\n      - name: production\n        deploy: {command: [b]}\n        canary: {deploy: {command: [c]}, set_weight: {command: [w]}, steps: [{weight: 100, for: 1s}], analysis: {metrics: [{name: e, router: latency}]}}\n",
		"services:\n  - name: web\n    environments:\n      - name: staging\n        deploy: {command: [a]}\n        router: {listen: 127.0.0.1:8081, upstream: http://127.0.0.1:9081}\n      - name: production\n        bake: 1h\n        deploy: {command: [b]}\n        exposure: {requests: 500, people: 3, max_wait: 12h, after_max_wait: promote}\n",
		"services:\n  - name: web\n    environments:\n      - name: staging\n        deploy: {command: [a]}\n        exposure: {people: -1}\n        router: {listen: ':0', upstream: ftp://x}\n      - name: production\n        deploy: {command: [b]}\n        exposure: {requests: x, after_max_wait: later, prometheus: {url: http://p, query: q, min: 9999999999999999999999}}\n",
	}
	seeds = append(seeds,
		"defaults:\n  labels: {team: a}\n  environments:\n    - {name: staging, deploy: {command: [a]}}\n    - {name: production, bake: 1h, deploy: {command: [b]}}\n  where:\n    - selector: tier=1\n      environments: [{name: production, windows: {timezone: UTC, allow: [\"Mon 09:00-10:00\"]}}]\ntemplates:\n  t: {labels: {tier: \"1\"}, environments: [{name: qa, deploy: {command: [q]}}, {name: production, bake: ~}]}\nservices:\n  - {name: web, use: [t]}\n  - {name: api, environments: [{name: production, bake: 2h}]}\n",
		"include: [\"*.yaml\", \"none/*.yaml\", \"[\"]\ndefaults: {name: x, use: y, where: [{selector: \"=\"}, {labels: {}}], environments: [{bake: 1h}]}\ntemplates: {T: {}, t: ~, u: [1]}\nservices: [{name: web, use: [t, t, nope, [x]]}]\n",
		"x: &d {environments: [{name: s, deploy: {command: [a]}}]}\ndefaults: *d\ntemplates: {a: *d}\nservices: [{name: w, use: a, environments: ~}]\n",
	)
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	// An empty directory: include patterns match nothing, or this file.
	path := filepath.Join(f.TempDir(), "bakery.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(path, data)
		if err != nil {
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Parse returned %T, not a *ValidationError: %v", err, err)
			}
			if cfg != nil {
				t.Fatal("Parse returned both a config and an error")
			}
			if len(verr.Problems) == 0 {
				t.Fatal("ValidationError without problems")
			}
			for _, p := range verr.Problems {
				if p.File != path || p.Message == "" || p.Line < 0 || p.Column < 0 {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			return
		}
		if len(cfg.Services) == 0 {
			t.Fatal("accepted a config without services")
		}
		for _, svc := range cfg.Services {
			if !nameRE.MatchString(svc.Name) || len(svc.Environments) == 0 {
				t.Fatalf("accepted service %#v", svc)
			}
			for i, env := range svc.Environments {
				d := env.Deploy
				if !nameRE.MatchString(env.Name) || env.Bake < 0 || (i == 0 && env.Bake != 0) ||
					len(d.Command) == 0 || d.Timeout <= 0 || d.Dir == "" {
					t.Fatalf("accepted environment %#v", env)
				}
				if env.Window != nil && env.Window.Location() == nil {
					t.Fatalf("accepted a window without a zone in %#v", env)
				}
				for _, arg := range d.Command {
					if arg == "" {
						t.Fatalf("accepted an empty argument in %q", d.Command)
					}
				}
				if c := env.Canary; c != nil {
					checkCanary(t, c)
				}
			}
		}
	})
}

// checkCanary fails t unless c keeps the promises of the Canary type.
func checkCanary(t *testing.T, c *Canary) {
	t.Helper()
	if len(c.Deploy.Command) == 0 || c.Deploy.Timeout <= 0 || (c.Router == nil && c.SetWeight == nil) || len(c.Steps) == 0 {
		t.Fatalf("accepted canary %#v", c)
	}
	if c.SetWeight != nil && (len(c.SetWeight.Command) == 0 || c.SetWeight.Timeout <= 0) {
		t.Fatalf("accepted set_weight %#v", c.SetWeight)
	}
	if r := c.Router; r != nil && (r.Listen == "" || r.Stable == "" || r.Canary == "" || r.Stable == r.Canary) {
		t.Fatalf("accepted router %#v", r)
	}
	for _, s := range c.Steps {
		if s.Weight < 1 || s.Weight > 100 || s.For <= 0 {
			t.Fatalf("accepted step %#v", s)
		}
	}
	a := c.Analysis
	if a.Interval < time.Second || !(a.Marginal >= 0 && a.Marginal <= a.Pass && a.Pass <= 100) || len(a.Metrics)+len(a.Checks) == 0 {
		t.Fatalf("accepted analysis %#v", a)
	}
	for _, m := range a.Metrics {
		if m.Name == "" || (m.Router == "") == (m.Prometheus == nil) || (m.Router != "" && c.Router == nil) ||
			!slices.Contains(directions, string(m.Direction)) || m.Confidence < 0 || m.Confidence >= 1 ||
			m.Tolerance < 0 || m.Weight < 0 || m.MinSamples < 0 || (m.Max != nil && m.Min != nil && *m.Max < *m.Min) {
			t.Fatalf("accepted metric %#v", m)
		}
		if m.Prometheus != nil && (m.Prometheus.URL == "" || m.Prometheus.Canary == "" || m.Prometheus.Baseline == "" || m.Prometheus.Step <= 0) {
			t.Fatalf("accepted prometheus metric %#v", m.Prometheus)
		}
	}
}
