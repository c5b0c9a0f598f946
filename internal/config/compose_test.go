package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeFiles writes name → contents under a new directory and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	return dir
}

// loadIn loads bakery.yaml of dir from inside dir, so problems name files
// as relative paths (services/base.yaml).
func loadIn(t *testing.T, dir string) (*Config, error) {
	t.Helper()
	return Load(filepath.Join(dir, "bakery.yaml"))
}

// problemStrings are the problems of err with dir taken out of file names.
func problemStrings(t *testing.T, dir string, err error) []string {
	t.Helper()
	var verr *ValidationError
	require.True(t, errors.As(err, &verr), "want a *ValidationError, got %v", err)
	var out []string
	for _, p := range verr.Problems {
		out = append(out, strings.ReplaceAll(p.String(), dir+string(filepath.Separator), ""))
	}
	return out
}

const twoEnvDefaults = `defaults:
  labels: {team: core}
  environments:
    - name: staging
      deploy: {command: [./deploy.sh, staging], timeout: 1m}
    - name: production
      bake: 1h
      deploy: {command: [./deploy.sh, production], timeout: 2m}
`

func TestMergeOrder(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		src    string
		assert func(t *testing.T, cfg *Config)
	}{{
		name: "defaults alone make a whole service",
		src:  twoEnvDefaults + "services:\n  - name: web\n",
		assert: func(t *testing.T, cfg *Config) {
			s := cfg.Services[0]
			require.Equal(t, []string{"staging", "production"}, envNames(s))
			require.Equal(t, time.Hour, s.Environments[1].Bake)
			require.Equal(t, map[string]string{"team": "core"}, s.Labels)
		},
	}, {
		name: "template over defaults, service over template, key by key",
		src: twoEnvDefaults + `templates:
  slow:
    labels: {tier: "1"}
    environments:
      - name: production
        bake: 4h
services:
  - name: web
    use: slow
    environments:
      - name: production
        deploy: {timeout: 5m}
  - name: api
    use: [slow]
    labels: {team: payments}
`,
		assert: func(t *testing.T, cfg *Config) {
			web, api := cfg.Services[0], cfg.Services[1]
			require.Equal(t, []string{"staging", "production"}, envNames(web))
			require.Equal(t, 4*time.Hour, web.Environments[1].Bake, "template's bake over defaults'")
			require.Equal(t, 5*time.Minute, web.Environments[1].Deploy.Timeout, "service's timeout over defaults'")
			require.Equal(t, "production", web.Environments[1].Deploy.Command[1], "command kept from defaults")
			require.Equal(t, map[string]string{"team": "core", "tier": "1"}, web.Labels)
			require.Equal(t, map[string]string{"team": "payments", "tier": "1"}, api.Labels)
			require.Equal(t, 4*time.Hour, api.Environments[1].Bake)
		},
	}, {
		name: "templates in use order, the later one wins",
		src: twoEnvDefaults + `templates:
  a: {environments: [{name: production, bake: 2h}], artifact: "a:{sha}"}
  b: {environments: [{name: production, bake: 3h}]}
services:
  - {name: ab, use: [a, b]}
  - {name: ba, use: [b, a]}
`,
		assert: func(t *testing.T, cfg *Config) {
			require.Equal(t, 3*time.Hour, cfg.Services[0].Environments[1].Bake)
			require.Equal(t, 2*time.Hour, cfg.Services[1].Environments[1].Bake)
			require.Equal(t, "a:{sha}", cfg.Services[0].Artifact)
		},
	}, {
		name: "where after defaults, before templates, by the merged labels",
		src: twoEnvDefaults + `  where:
    - selector: tier=1
      environments:
        - name: production
          bake: 6h
          windows: {timezone: UTC, allow: ["Mon-Fri 09:00-17:00"]}
templates:
  tier1: {labels: {tier: "1"}}
  fast: {labels: {tier: "1"}, environments: [{name: production, bake: 10m}]}
services:
  - {name: plain}
  - {name: by-template, use: tier1}
  - {name: by-label, labels: {tier: "1"}}
  - {name: template-wins, use: fast}
`,
		assert: func(t *testing.T, cfg *Config) {
			byName := map[string]Service{}
			for _, s := range cfg.Services {
				byName[s.Name] = s
			}
			require.Equal(t, time.Hour, byName["plain"].Environments[1].Bake)
			require.Nil(t, byName["plain"].Environments[1].Window)
			require.Equal(t, 6*time.Hour, byName["by-template"].Environments[1].Bake)
			require.NotNil(t, byName["by-template"].Environments[1].Window)
			require.Equal(t, 6*time.Hour, byName["by-label"].Environments[1].Bake)
			require.Equal(t, 10*time.Minute, byName["template-wins"].Environments[1].Bake, "a template is above where")
			require.NotNil(t, byName["template-wins"].Environments[1].Window, "and keeps where's windows")
		},
	}, {
		name: "environments by name: the higher layer's order, lower-only ones in place",
		src: twoEnvDefaults + `services:
  - name: only-prod
    environments: [{name: production, bake: 2h}]
  - name: with-canary
    environments:
      - name: staging
      - name: canary
        bake: 5m
        deploy: {command: [./deploy.sh, canary]}
      - name: production
  - name: reordered
    environments: [{name: production, bake: ~}, {name: staging}, {name: qa, deploy: {command: [x]}}]
`,
		assert: func(t *testing.T, cfg *Config) {
			require.Equal(t, []string{"staging", "production"}, envNames(cfg.Services[0]))
			require.Equal(t, 2*time.Hour, cfg.Services[0].Environments[1].Bake)
			require.Equal(t, []string{"staging", "canary", "production"}, envNames(cfg.Services[1]))
			require.Equal(t, time.Hour, cfg.Services[1].Environments[2].Bake)
			require.Equal(t, []string{"production", "staging", "qa"}, envNames(cfg.Services[2]))
		},
	}, {
		name: "other lists are replaced whole, and null drops an inherited value",
		src: `defaults:
  environments:
    - name: staging
      deploy: {command: [./deploy.sh, staging, --all], env: {A: "1", B: "2"}}
    - name: production
      bake: 1h
      windows: {timezone: UTC, allow: ["Mon 09:00-10:00"]}
      checks: [{name: up, http: {url: "http://127.0.0.1:1/a"}}, {name: up2, http: {url: "http://127.0.0.1:1/b"}}]
      deploy: {command: [./deploy.sh, production]}
services:
  - name: web
    environments:
      - name: staging
        deploy: {command: [./other.sh], env: {B: "3"}}
      - name: production
        windows: ~
        checks: [{name: only, http: {url: "http://127.0.0.1:1/c"}}]
`,
		assert: func(t *testing.T, cfg *Config) {
			s := cfg.Services[0]
			require.Len(t, s.Environments[0].Deploy.Command, 1, "command replaced, not appended")
			require.Equal(t, map[string]string{"A": "1", "B": "3"}, s.Environments[0].Deploy.Env, "env is a mapping: merged")
			require.Nil(t, s.Environments[1].Window, "windows: ~ drops the defaults' window")
			require.Len(t, s.Environments[1].Checks, 1, "checks replaced, not appended")
			require.Equal(t, "only", s.Environments[1].Checks[0].Name)
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Parse("bakery.yaml", []byte(tc.src))
			require.NoError(t, err)
			tc.assert(t, cfg)
		})
	}
}

func envNames(s Service) []string {
	var out []string
	for _, e := range s.Environments {
		out = append(out, e.Name)
	}
	return out
}

func TestComposeProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string // whole problems, in order
	}{{
		name: "a bad value in a template of an included file names that file, the template's field and the services",
		files: map[string]string{
			"bakery.yaml": "include: [\"services/*.yaml\"]\n" + twoEnvDefaults,
			"services/base.yaml": `templates:
  base:
    environments:
      - name: production
        bake: 3 parsecs
`,
			"services/web.yaml": "services:\n  - {name: web, use: base}\n  - {name: api, use: base}\n",
		},
		want: []string{`services/base.yaml:5:15: templates.base.environments[production].bake: invalid duration "3 parsecs"; write a Go duration such as 30s, 10m or 1h (applied to services web, api)`},
	}, {
		name: "a bad value in defaults and one in a service of an included file",
		files: map[string]string{
			"bakery.yaml":       "include: [services/*.yaml]\ndefaults:\n  environments:\n    - name: staging\n      deploy: {command: [a], timeout: soon}\n",
			"services/web.yaml": "services:\n  - name: web\n    environments:\n      - name: staging\n        bake: 1h\n",
		},
		want: []string{
			`bakery.yaml:5:39: defaults.environments[staging].deploy.timeout: invalid duration "soon"; write a Go duration such as 30s, 10m or 1h (applied to service web)`,
			`services/web.yaml:5:15: services[0].environments[staging].bake: the first environment cannot have a bake`,
		},
	}, {
		name: "unknown template names the service's field and the templates",
		files: map[string]string{
			"bakery.yaml": twoEnvDefaults + "templates:\n  web: {}\n  worker: {}\nservices:\n  - {name: api, use: [web, wrker]}\n",
		},
		want: []string{`bakery.yaml:13:28: services[0].use[1]: unknown template "wrker"; the templates are: web, worker`},
	}, {
		name: "duplicate service names across files name both",
		files: map[string]string{
			"bakery.yaml": "include: [a.yaml, b.yaml]\n" + twoEnvDefaults + "services:\n  - name: web\n",
			"a.yaml":      "services:\n  - name: api\n",
			"b.yaml":      "services:\n  - name: db\n  - name: api\n",
		},
		want: []string{`b.yaml:3:11: services[1].name: duplicate service name "api": services[0] at a.yaml:2 already uses it`},
	}, {
		name: "include cycles are refused",
		files: map[string]string{
			"bakery.yaml": "include: [inc/a.yaml]\n" + twoEnvDefaults + "services: [{name: web}]\n",
			"inc/a.yaml":  "include: [b.yaml]\n",
			"inc/b.yaml":  "include: [a.yaml]\n",
		},
		want: []string{`inc/b.yaml:1:11: include[0]: inc/a.yaml is already being read (inc/b.yaml includes it again, a cycle)`},
	}, {
		name: "a glob matching nothing is an error naming the pattern",
		files: map[string]string{
			"bakery.yaml": "include: [\"servics/*.yaml\"]\n" + twoEnvDefaults + "services: [{name: web}]\n",
		},
		want: []string{`bakery.yaml:1:11: include[0]: the pattern "servics/*.yaml" matches no file`},
	}, {
		name: "keys only the main file holds are refused in an included file",
		files: map[string]string{
			"bakery.yaml": "include: [more.yaml]\n" + twoEnvDefaults + "services: [{name: web}]\n",
			"more.yaml":   "server: {addr: \":1\"}\ndefaults: {}\nservice: []\n",
		},
		want: []string{
			`more.yaml:1:1: server: server can only be set in the main configuration file`,
			`more.yaml:2:1: defaults: defaults can only be set in the main configuration file`,
			`more.yaml:3:1: service: unknown field "service"; known fields are: services, templates, include`,
		},
	}, {
		name: "fragment fields: name is not inherited, where needs a selector and sets no labels",
		files: map[string]string{
			"bakery.yaml": `defaults:
  name: x
  where:
    - environments: []
    - selector: "tier=="
    - selector: tier=1
      labels: {a: b}
templates:
  t: {use: u, enviroments: []}
services: [{name: web, environments: [{name: staging, deploy: {command: [a]}}]}]
`,
		},
		want: []string{
			`bakery.yaml:2:3: defaults.name: name is not inherited`,
			`bakery.yaml:4:7: defaults.where[0].selector: every where entry needs a selector`,
			`bakery.yaml:5:17: defaults.where[1].selector: selector "tier=="`,
			`bakery.yaml:7:7: defaults.where[2].labels: a where entry cannot set labels`,
			`bakery.yaml:9:7: templates.t.use: template t cannot use templates`,
			`bakery.yaml:9:15: templates.t.enviroments: unknown field "enviroments"`,
		},
	}, {
		name: "a problem every service inherits is told once",
		files: map[string]string{
			"bakery.yaml": "defaults:\n  environments: [{name: staging, deploy: {command: [a], dir: [x]}}]\nservices: [{name: a}, {name: b}, {name: c}, {name: d}, {name: e}]\n",
		},
		want: []string{`bakery.yaml:2:62: defaults.environments[staging].deploy.dir: expected a single value such as "."; got a list (applied to services a, b, c and 2 more)`},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTree(t, tc.files)
			_, err := loadIn(t, dir)
			require.Error(t, err)
			got := problemStrings(t, dir, err)
			require.Len(t, got, len(tc.want), "problems:\n%s", strings.Join(got, "\n"))
			for i, w := range tc.want {
				require.True(t, strings.HasPrefix(got[i], w) || (strings.Contains(w, "(applied") && got[i] == w),
					"problem %d:\n got %s\nwant %s", i, got[i], w)
			}
		})
	}
}

func TestIncludeGlobs(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"bakery.yaml":           "include: [\"services/*.yaml\", services/b.yaml, \"teams/*/bakery.yaml\"]\n" + twoEnvDefaults + "services: [{name: main}]\n",
		"services/b.yaml":       "services: [{name: b1}, {name: b2}]\n",
		"services/a.yaml":       "templates: {t: {artifact: \"x:{sha}\"}}\nservices: [{name: a1, use: t}]\n",
		"services/readme.txt":   "not yaml: [",
		"teams/pay/bakery.yaml": "include: [more/*.yaml]\nservices: [{name: pay}]\n",
		"teams/pay/more/x.yaml": "services: [{name: pay-x, use: t}]\n",
	})
	cfg, err := loadIn(t, dir)
	require.NoError(t, err)
	var names []string
	for _, s := range cfg.Services {
		names = append(names, s.Name)
	}
	// Each file's own services first, then those of the files it
	// includes, patterns in order and each pattern's matches sorted.
	require.Equal(t, []string{"main", "a1", "b1", "b2", "pay", "pay-x"}, names)
	require.Equal(t, "x:{sha}", cfg.Services[5].Artifact, "a template of another included file is usable")
	require.Len(t, cfg.Files, 4, "b.yaml matched twice is read once: %v", cfg.Files)
}
