package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// y joins lines into a file, so that a case's line numbers can be read off
// its position in the list.
func y(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// want is one expected problem; msg is a substring of its message.
type want struct {
	line, col int
	field     string
	msg       string
}

// problemsOf parses src, which must be invalid, and returns its problems.
func problemsOf(t *testing.T, src string) []Problem {
	t.Helper()
	cfg, err := Parse("bakery.yaml", []byte(src))
	require.Error(t, err)
	require.Nil(t, cfg)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.NotEmpty(t, verr.Problems)
	return verr.Problems
}

func requireProblems(t *testing.T, src string, wants ...want) {
	t.Helper()
	ps := problemsOf(t, src)
	var got []string
	for _, p := range ps {
		got = append(got, p.String())
	}
	require.Len(t, ps, len(wants), "problems:\n%s", strings.Join(got, "\n"))
	for i, w := range wants {
		p := ps[i]
		require.Equal(t, "bakery.yaml", p.File, "problem %d: %s", i, p)
		require.Equal(t, w.line, p.Line, "line of problem %d: %s", i, p)
		require.Equal(t, w.col, p.Column, "column of problem %d: %s", i, p)
		require.Equal(t, w.field, p.Field, "field of problem %d: %s", i, p)
		require.Contains(t, p.Message, w.msg, "message of problem %d", i)
	}
}

func TestParseValidFile(t *testing.T) {
	t.Parallel()
	dir := filepath.FromSlash("/srv/bakery")
	src := y(
		"server:",
		"  addr: 0.0.0.0:9090",
		"  database: sqlite://state/bakery.db",
		"  banner: {public: true}",
		"services:",
		"  - name: web",
		"    repository: https://github.com/acme/web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		`          command: ["./deploy.sh", "staging"]`,
		"          timeout: 5m",
		"          dir: app",
		`          env: {PORT: "8081", DEBUG: true, EMPTY: }`,
		"      - name: production",
		"        bake: 1h",
		"        deploy:",
		"          command:",
		"            - kubectl",
		"            - apply",
		"          dir: /opt/web",
		"      - name: dr",
		"        bake: 2d",
		"        deploy:",
		"          command: [../bin/deploy, dr]",
		"  - name: worker-2",
		"    environments:",
		"      - name: only",
		"        deploy:",
		"          command: [/usr/local/bin/deploy-worker]",
	)
	cfg, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(src))
	require.NoError(t, err)
	require.Equal(t, &Config{
		Path: filepath.Join(dir, "bakery.yaml"),
		Dir:  dir,
		Server: Server{
			Addr:     "0.0.0.0:9090",
			Database: "sqlite://" + filepath.Join(dir, "state", "bakery.db"),
			Banner:   Banner{Public: true},
			Limits:   DefaultLimits(),
			URL:      "http://127.0.0.1:9090",
		},
		Services: []Service{
			{
				Name:       "web",
				Repository: "https://github.com/acme/web",
				Environments: []Environment{
					{
						Name: "staging",
						Deploy: Deploy{
							Command: []string{filepath.Join(dir, "deploy.sh"), "staging"},
							Timeout: 5 * time.Minute,
							Dir:     filepath.Join(dir, "app"),
							Env:     map[string]string{"PORT": "8081", "DEBUG": "true", "EMPTY": ""},
						},
					},
					{
						Name: "production",
						Bake: time.Hour,
						Deploy: Deploy{
							Command: []string{"kubectl", "apply"},
							Timeout: DefaultTimeout,
							Dir:     filepath.FromSlash("/opt/web"),
						},
					},
					{
						Name: "dr",
						Bake: 48 * time.Hour,
						Deploy: Deploy{
							Command: []string{filepath.Join(filepath.Dir(dir), "bin", "deploy"), "dr"},
							Timeout: DefaultTimeout,
							Dir:     dir,
						},
					},
				},
			},
			{
				Name: "worker-2",
				Environments: []Environment{{
					Name: "only",
					Deploy: Deploy{
						Command: []string{"/usr/local/bin/deploy-worker"},
						Timeout: DefaultTimeout,
						Dir:     dir,
					},
				}},
			},
		},
	}, cfg)
}

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	src := y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [./deploy.sh]",
	)
	cfg, err := Parse(filepath.FromSlash("/etc/bakery/bakery.yaml"), []byte(src))
	require.NoError(t, err)
	dir := filepath.FromSlash("/etc/bakery")
	require.Equal(t, dir, cfg.Dir)
	require.Equal(t, Server{Addr: DefaultAddr, Database: "sqlite://" + filepath.Join(dir, "bakery.db"), Limits: DefaultLimits(), URL: "http://" + DefaultAddr}, cfg.Server)
	env := cfg.Services[0].Environments[0]
	require.Equal(t, Environment{Name: "staging", Deploy: Deploy{
		Command: []string{filepath.Join(dir, "deploy.sh")},
		Timeout: 10 * time.Minute,
		Dir:     dir,
	}}, env)
}

func TestParseOtherDatabases(t *testing.T) {
	t.Parallel()
	for _, db := range []string{
		"postgres://bakery@db.internal/bakery",
		"postgresql://bakery:secret@localhost:5432/bakery?sslmode=disable",
		"sqlite:///var/lib/bakery/bakery.db",
	} {
		src := y(
			"server:",
			"  database: "+db,
			"services:",
			"  - name: web",
			"    environments:",
			"      - name: staging",
			"        deploy:",
			"          command: [deploy]",
		)
		cfg, err := Parse("bakery.yaml", []byte(src))
		require.NoError(t, err, db)
		require.Equal(t, db, cfg.Server.Database)
	}
}

func TestParseRelativePath(t *testing.T) {
	t.Parallel()
	wd, err := os.Getwd()
	require.NoError(t, err)
	src := y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [scripts/deploy.sh]",
	)
	cfg, err := Parse(filepath.Join("conf", "bakery.yaml"), []byte(src))
	require.NoError(t, err)
	require.Equal(t, filepath.Join(wd, "conf", "bakery.yaml"), cfg.Path)
	require.Equal(t, filepath.Join(wd, "conf"), cfg.Dir)
	require.Equal(t, []string{filepath.Join(wd, "conf", "scripts", "deploy.sh")}, cfg.Services[0].Environments[0].Deploy.Command)

	cfg, err = Parse("", []byte(src))
	require.NoError(t, err)
	require.Empty(t, cfg.Path)
	require.Equal(t, wd, cfg.Dir)
}

func TestParseAliases(t *testing.T) {
	t.Parallel()
	src := y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy: &deploy",
		"          command: [./deploy.sh]",
		"          timeout: 1m",
		"      - name: production",
		"        bake: 30s",
		"        deploy: *deploy",
	)
	cfg, err := Parse(filepath.FromSlash("/x/bakery.yaml"), []byte(src))
	require.NoError(t, err)
	envs := cfg.Services[0].Environments
	require.Equal(t, envs[0].Deploy, envs[1].Deploy)
	require.Equal(t, time.Minute, envs[1].Deploy.Timeout)
}

func TestParseAliasToItself(t *testing.T) {
	t.Parallel()
	// The list contains itself; the walk must not follow it forever.
	requireProblems(t, "services: &s [*s]\n",
		want{1, 11, "services[0]", "a service must be a mapping with the fields name, repository, environments, artifact, trigger, labels, use; got a list"})
}

func TestParseAliasBomb(t *testing.T) {
	t.Parallel()
	// 100 services of 100 environments of 100 arguments each, in a few
	// hundred bytes: the walk must stop rather than expand all of it.
	hundred := func(s string) string { return "[" + strings.TrimSuffix(strings.Repeat(s+", ", 100), ", ") + "]" }
	src := y(
		"x:",
		"  cmd: &c "+hundred("a"),
		"  env: &e {name: x, deploy: {command: *c}}",
		"  envs: &es "+hundred("*e"),
		"  svc: &s {name: web, environments: *es}",
		"services: "+hundred("*s"),
	)
	ps := problemsOf(t, src)
	found := false
	for _, p := range ps {
		found = found || strings.Contains(p.Message, "more than 100000 values")
	}
	require.True(t, found, "the expansion limit was not reported")
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "bakery.yaml")
	require.NoError(t, os.WriteFile(path, []byte(y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [./deploy.sh]",
	)), 0o644))
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Equal(t, path, cfg.Path)
	require.Equal(t, dir, cfg.Dir)
	require.Equal(t, "sqlite://"+filepath.Join(dir, "bakery.db"), cfg.Server.Database)
}

func TestLoadMissingFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.yaml")
	cfg, err := Load(path)
	require.Nil(t, cfg)
	require.ErrorIs(t, err, fs.ErrNotExist)
	require.Contains(t, err.Error(), path)
	var verr *ValidationError
	require.False(t, errors.As(err, &verr), "a missing file is not a validation error")
}

func TestLoadInvalidFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bakery.yaml")
	require.NoError(t, os.WriteFile(path, []byte("services: []\n"), 0o644))
	_, err := Load(path)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Equal(t, path, verr.Problems[0].File)
}

func TestProblems(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		src   string
		wants []want
	}{
		{
			name: "malformed YAML",
			src: y(
				"services:",
				"  - name: web",
				"    environments: x: y",
			),
			wants: []want{{3, 0, "", "invalid YAML: mapping values are not allowed in this context"}},
		},
		{
			name:  "malformed YAML on the first line",
			src:   "services: x: y\n",
			wants: []want{{1, 0, "", "invalid YAML: mapping values are not allowed in this context"}},
		},
		{
			name: "control character",
			src: y(
				"services:",
				"  - name: w\x01eb",
			),
			wants: []want{{2, 12, "", "control characters are not allowed; save the file as UTF-8"}},
		},
		{
			name: "invalid UTF-8",
			src: y(
				"services:",
				"  - name: \xffweb",
			),
			wants: []want{{2, 11, "", "invalid YAML: invalid leading UTF-8 octet"}},
		},
		{
			name:  "unknown anchor",
			src:   "services: *nope\n",
			wants: []want{{1, 11, "", "unknown anchor 'nope' referenced; define the anchor with &nope"}},
		},
		{
			name:  "empty file",
			src:   "",
			wants: []want{{1, 1, "services", "at least one service is required"}},
		},
		{
			name:  "only comments",
			src:   "# nothing yet\n",
			wants: []want{{1, 1, "services", "at least one service is required"}},
		},
		{
			name:  "file is a list",
			src:   "- name: web\n",
			wants: []want{{1, 1, "", "the file must be a mapping with the fields server, services"}},
		},
		{
			name: "unknown top-level field",
			src: y(
				"server: {}",
				"service:",
				"  - name: web",
			),
			wants: []want{
				{1, 1, "services", "at least one service is required"},
				{2, 1, "service", `unknown field "service"; known fields are: server, services, github`},
			},
		},
		{
			name:  "no services",
			src:   "services: []\n",
			wants: []want{{1, 11, "services", "at least one service is required"}},
		},
		{
			name:  "services null",
			src:   "services:\n",
			wants: []want{{1, 1, "services", "at least one service is required"}},
		},
		{
			name: "services as a mapping",
			src: y(
				"services:",
				"  web: {}",
			),
			wants: []want{{2, 3, "services", `services must be a list whose entries start with "- name: ..."; got a mapping`}},
		},
		{
			name:  "service is a string",
			src:   "services: [web]\n",
			wants: []want{{1, 12, "services[0]", `a service must be a mapping with the fields name, repository, environments, artifact, trigger, labels, use; got the value "web"`}},
		},
		{
			name: "server field",
			src: y(
				"server:",
				"  address: :8080",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 3, "server.address", `unknown field "address"; known fields are: addr, database, inherit_env, mask_env, banner, tls, hsts, trusted_proxies, limits, url`}},
		},
		{
			name: "server is a list",
			src: y(
				"server: [a]",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{1, 9, "server", "server must be a mapping with the fields addr, database, inherit_env, mask_env, banner, tls, hsts, trusted_proxies, limits, url, insights, retention; got a list"}},
		},
		{
			name: "server banner public not a boolean",
			src: y(
				"server:",
				"  banner: {public: yes please}",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 20, "server.banner.public", `expected true or false; got the value "yes please"`}},
		},
		{
			name: "server banner unknown field",
			src: y(
				"server:",
				"  banner:",
				"    token: abc",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{3, 5, "server.banner.token", `unknown field "token"; known fields are: public`}},
		},
		{
			name: "service field",
			src: y(
				"services:",
				"  - name: web",
				"    repo: https://github.com/acme/web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{3, 5, "services[0].repo", `unknown field "repo"; known fields are: name, repository, environments, artifact, trigger`}},
		},
		{
			name: "environment field",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"      - name: production",
				"        bak: 1h",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{8, 9, "services[0].environments[1].bak", `unknown field "bak"; known fields are: name, bake, deploy`}},
		},
		{
			name: "deploy field",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          cwd: /tmp",
			),
			wants: []want{{7, 11, "services[0].environments[0].deploy.cwd", `unknown field "cwd"; known fields are: command, timeout, dir, env`}},
		},
		{
			name: "field set twice",
			src: y(
				"services:",
				"  - name: web",
				"    name: api",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{3, 5, "services[0].name", `field "name" is set twice (first at line 2)`}},
		},
		{
			name: "merge key",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        <<: {bake: 1h}",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{5, 9, "services[0].environments[0].<<", "merge keys (<<) are not supported"}},
		},
		{
			name: "service name missing",
			src: y(
				"services:",
				"  - environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 5, "services[0].name", "every service needs a name: add name: web"}},
		},
		{
			name: "service name null",
			src: y(
				"services:",
				"  - name:",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 5, "services[0].name", "every service needs a name"}},
		},
		{
			name: "service name invalid",
			src: y(
				"services:",
				"  - name: My Web_App",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 11, "services[0].name", `invalid service name "My Web_App": use 1 to 63 lowercase letters, digits and dashes, starting with a letter or digit, e.g. "my-web-app"`}},
		},
		{
			name: "service name too long",
			src: y(
				"services:",
				"  - name: "+strings.Repeat("a", 64),
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 11, "services[0].name", "invalid service name"}},
		},
		{
			name: "service name is a list",
			src: y(
				"services:",
				"  - name: [web]",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 11, "services[0].name", `expected a single value such as "web"; got a list`}},
		},
		{
			name: "duplicate service",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{7, 11, "services[1].name", `duplicate service name "web": services[0] at line 2 already uses it`}},
		},
		{
			name: "environment name invalid",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: -staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{4, 15, "services[0].environments[0].name", `invalid environment name "-staging"`}},
		},
		{
			name: "duplicate environment",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"      - name: staging",
				"        bake: 1h",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{7, 15, "services[0].environments[1].name", `duplicate environment name "staging": services[0].environments[0] at line 4 already uses it`}},
		},
		{
			name: "same environment names in different services",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"  - name: api",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          timeout: 1m",
			),
			// The only problem is the missing command: "staging" may repeat across services.
			wants: []want{{11, 11, "services[1].environments[0].deploy.command", "deploy.command is required"}},
		},
		{
			name: "no environments",
			src: y(
				"services:",
				"  - name: web",
			),
			wants: []want{{2, 5, "services[0].environments", "at least one environment is required"}},
		},
		{
			name: "empty environments",
			src: y(
				"services:",
				"  - name: web",
				"    environments: []",
			),
			wants: []want{{3, 19, "services[0].environments", "at least one environment is required"}},
		},
		{
			name: "environments as a mapping",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      staging: {}",
			),
			wants: []want{{4, 7, "services[0].environments", "environments must be a list in promotion order"}},
		},
		{
			name: "null environment",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      -",
			),
			wants: []want{
				{4, 8, "services[0].environments[0].name", "every environment needs a name"},
				{4, 8, "services[0].environments[0].deploy.command", "deploy.command is required"},
			},
		},
		{
			name: "invalid bake",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"      - name: production",
				"        bake: 1x",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{8, 15, "services[0].environments[1].bake", `invalid duration "1x"; write a Go duration such as 30s, 10m or 1h`}},
		},
		{
			name: "negative bake",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"      - name: production",
				"        bake: -2d",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{8, 15, "services[0].environments[1].bake", `bake must not be negative (got "-2d")`}},
		},
		{
			name: "bake on the first environment",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        bake: 1h",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{5, 15, "services[0].environments[0].bake", "the first environment cannot have a bake"}},
		},
		{
			name: "timeout without unit",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          timeout: 600",
			),
			wants: []want{{7, 20, "services[0].environments[0].deploy.timeout", `invalid duration "600"`}},
		},
		{
			name: "zero timeout",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          timeout: 0s",
			),
			wants: []want{{7, 20, "services[0].environments[0].deploy.timeout", `timeout must be greater than zero (got "0s"); write a duration such as 10m, or remove it to use the default of 10m`}},
		},
		{
			name: "timeout too long",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          timeout: 999999999d",
			),
			wants: []want{{7, 20, "services[0].environments[0].deploy.timeout", "too long"}},
		},
		{
			name: "deploy missing",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
			),
			wants: []want{{4, 9, "services[0].environments[0].deploy.command", `deploy.command is required: give the command as a list, e.g. ["./deploy.sh", "staging"]`}},
		},
		{
			name: "deploy is a string",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy: ./deploy.sh",
			),
			wants: []want{{5, 17, "services[0].environments[0].deploy", `deploy must be a mapping with the fields command, timeout, dir, env, inherit_env; got the value "./deploy.sh"`}},
		},
		{
			name: "command missing",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          timeout: 1m",
			),
			wants: []want{{6, 11, "services[0].environments[0].deploy.command", "deploy.command is required"}},
		},
		{
			name: "command empty",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: []",
			),
			wants: []want{{6, 20, "services[0].environments[0].deploy.command", "deploy.command is required"}},
		},
		{
			name: "command is a string",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: ./deploy.sh staging",
			),
			wants: []want{{6, 20, "services[0].environments[0].deploy.command", `deploy.command must be a list of arguments (argv), not a shell string: bakery runs the program directly, without a shell; write ["./deploy.sh", "staging"]`}},
		},
		{
			name: "command is a shell pipeline",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				`          command: "make deploy | tee log"`,
			),
			wants: []want{{6, 20, "services[0].environments[0].deploy.command", `this one uses shell syntax, so run it through a shell explicitly: ["sh", "-c", "make deploy | tee log"]`}},
		},
		{
			name: "command with empty element",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				`          command: ["./deploy.sh", ""]`,
			),
			wants: []want{{6, 36, "services[0].environments[0].deploy.command[1]", "command[1] is empty"}},
		},
		{
			name: "command with nested list",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command:",
				"            - ./deploy.sh",
				"            - [a, b]",
			),
			wants: []want{{8, 15, "services[0].environments[0].deploy.command[1]", "command[1] must be a single argument; got a list"}},
		},
		{
			name: "database scheme",
			src: y(
				"server:",
				"  database: mysql://root:hunter2@localhost/bakery",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 13, "server.database", `unsupported database "mysql://": use sqlite://PATH`}},
		},
		{
			name: "database is a path",
			src: y(
				"server:",
				"  database: bakery.db",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 13, "server.database", "database must be a URL: write sqlite://PATH"}},
		},
		{
			name: "sqlite without path",
			src: y(
				"server:",
				"  database: sqlite://",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 13, "server.database", "sqlite:// needs a file path"}},
		},
		{
			name: "addr without port",
			src: y(
				"server:",
				"  addr: localhost",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 9, "server.addr", `invalid address "localhost": write host:port`}},
		},
		{
			name: "addr with bad port",
			src: y(
				"server:",
				"  addr: localhost:99999",
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{2, 9, "server.addr", `invalid port "99999"`}},
		},
		{
			name: "repository not http",
			src: y(
				"services:",
				"  - name: web",
				"    repository: git@github.com:acme/web.git",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
			),
			wants: []want{{3, 17, "services[0].repository", "repository must be an http(s) URL"}},
		},
		{
			name: "env not a mapping",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          env: [PORT=8081]",
			),
			wants: []want{{7, 16, "services[0].environments[0].deploy.env", "env must be a mapping of variable names to values"}},
		},
		{
			name: "env names",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"          env:",
				"            1PORT: a",
				"            BAKERY_VERSION: b",
				"            my-var: c",
				"            PORT: d",
				"            PORT: e",
				"            LIST: [x]",
			),
			wants: []want{
				{8, 13, "services[0].environments[0].deploy.env[\"1PORT\"]", `invalid environment variable name "1PORT"`},
				{9, 13, "services[0].environments[0].deploy.env.BAKERY_VERSION", "reserved prefix BAKERY_"},
				{10, 13, "services[0].environments[0].deploy.env[\"my-var\"]", `invalid environment variable name "my-var"`},
				{12, 13, "services[0].environments[0].deploy.env.PORT", `environment variable "PORT" is set twice (first at line 11)`},
				{13, 19, "services[0].environments[0].deploy.env.LIST", "must be a single value"},
			},
		},
		{
			name: "second document",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: staging",
				"        deploy:",
				"          command: [./deploy.sh]",
				"---",
				"services: []",
			),
			wants: []want{{7, 1, "", "a second YAML document starts here"}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireProblems(t, tc.src, tc.wants...)
		})
	}
}

func TestParseEmptyTrailingDocument(t *testing.T) {
	t.Parallel()
	src := y(
		"---",
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy:",
		"          command: [./deploy.sh]",
		"---",
	)
	_, err := Parse("bakery.yaml", []byte(src))
	require.NoError(t, err)
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	src := y(
		"server:",                          // 1
		"  addr: nowhere",                  // 2
		"  database: mysql://x",            // 3
		"services:",                        // 4
		"  - name: Web",                    // 5
		"    environments:",                // 6
		"      - name: staging",            // 7
		"        bake: 1h",                 // 8
		"        deploy:",                  // 9
		"          command: ./deploy.sh",   // 10
		"      - name: production",         // 11
		"        bak: 1h",                  // 12
		"        deploy:",                  // 13
		"          command: [./deploy.sh]", // 14
		"          timeout: soon",          // 15
		"  - name: api",                    // 16
		"    environments: []",             // 17
	)
	ps := problemsOf(t, src)
	type pos struct {
		Line  int
		Field string
	}
	var got []pos
	for _, p := range ps {
		got = append(got, pos{p.Line, p.Field})
	}
	require.Equal(t, []pos{
		{2, "server.addr"},
		{3, "server.database"},
		{5, "services[0].name"},
		{8, "services[0].environments[0].bake"},
		{10, "services[0].environments[0].deploy.command"},
		{12, "services[0].environments[1].bak"},
		{15, "services[0].environments[1].deploy.timeout"},
		{17, "services[1].environments"},
	}, got)

	_, err := Parse("bakery.yaml", []byte(src))
	lines := strings.Split(err.Error(), "\n")
	require.Len(t, lines, len(ps))
	require.Equal(t, `bakery.yaml:2:9: server.addr: invalid address "nowhere": write host:port, such as 127.0.0.1:8080, or :8080 to listen on all interfaces`, lines[0])
}

func TestProblemString(t *testing.T) {
	t.Parallel()
	p := Problem{File: "bakery.yaml", Line: 12, Column: 9, Field: "services[0].environments[1].bake",
		Message: `invalid duration "1x"; write a Go duration such as 30s, 10m or 1h`}
	require.Equal(t, `bakery.yaml:12:9: services[0].environments[1].bake: invalid duration "1x"; write a Go duration such as 30s, 10m or 1h`, p.String())
	require.Equal(t, "bakery.yaml:3: invalid YAML: x", Problem{File: "bakery.yaml", Line: 3, Message: "invalid YAML: x"}.String())
	require.Equal(t, "bakery.yaml: invalid YAML: x", Problem{File: "bakery.yaml", Message: "invalid YAML: x"}.String())
	require.Equal(t, "4:2: server: bad", Problem{Line: 4, Column: 2, Field: "server", Message: "bad"}.String())
}

func TestParseDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"30s":   30 * time.Second,
		"1h30m": 90 * time.Minute,
		"2d":    48 * time.Hour,
		"0d":    0,
		"+1d":   24 * time.Hour,
		"-1d":   -24 * time.Hour,
		"-1h":   -time.Hour,
	} {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "1.5d", "1d12h", "2 d", "1x", "600", "99999999999999999999d"} {
		_, err := parseDuration(in)
		require.Error(t, err, in)
	}
}

func TestLookups(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(y(
		"services:",
		"  - name: web",
		"    environments:",
		"      - name: staging",
		"        deploy: {command: [a]}",
		"      - name: production",
		"        deploy: {command: [b]}",
	)))
	require.NoError(t, err)

	svc, ok := cfg.Service("web")
	require.True(t, ok)
	require.Same(t, &cfg.Services[0], svc)
	_, ok = cfg.Service("api")
	require.False(t, ok)

	env, i, ok := svc.Environment("production")
	require.True(t, ok)
	require.Equal(t, 1, i)
	require.Same(t, &svc.Environments[1], env)
	env, i, ok = svc.Environment("qa")
	require.False(t, ok)
	require.Nil(t, env)
	require.Equal(t, -1, i)

	var none *Config
	_, ok = none.Service("web")
	require.False(t, ok)
}

func TestQuickstartExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "examples", "quickstart", "bakery.yaml")
	if _, err := os.Stat(path); err != nil {
		t.Skip("examples/quickstart/bakery.yaml is not present")
	}
	// The shipped example must always be valid.
	cfg, err := Load(path)
	require.NoError(t, err)
	require.NotEmpty(t, cfg.Services)
}
