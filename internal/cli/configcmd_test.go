package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// showFiles is a configuration of a main file with defaults and a where
// entry, and an included file with a template and the service web.
var showFiles = map[string]string{
	"bakery.yaml": `include: ["services/*.yaml"]
defaults:
  labels: {team: core}
  environments:
    - name: staging
      deploy:
        command: [./deploy.sh, staging]
        env: {TOKEN: "${DEPLOY_TOKEN}"}
    - name: production
      bake: 1h
      deploy: {command: [./deploy.sh, production]}
  where:
    - selector: tier=1
      environments:
        - name: production
          windows: {timezone: America/New_York, allow: ["Mon-Fri 09:00-18:00"]}
`,
	"services/base.yaml": `templates:
  base:
    labels: {tier: "1"}
    environments:
      - name: production
        bake: 2h
services:
  - name: web
    use: base
    environments:
      - name: production
        deploy: {timeout: 5m}
  - name: worker
`,
}

// TestConfigShow runs the real bakery config show on files on disk: every
// value says the file, line and layer that set it, secrets stay as
// written, and an unknown service names the close ones.
func TestConfigShow(t *testing.T) {
	dir := t.TempDir()
	for name, src := range showFiles {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	t.Setenv("DEPLOY_TOKEN", "s3cret-value")
	t.Chdir(dir)

	out := run(t, "http://127.0.0.1:1", "config", "show", "web", "--config", "bakery.yaml")
	require.Equal(t, `# service web: defaults < where tier=1 < template base < service, lowest first; each value says where it was set
name: web # services/base.yaml:8 (service)
labels:
  team: core # bakery.yaml:3 (defaults)
  tier: "1" # services/base.yaml:3 (template base)
environments:
  - name: staging # bakery.yaml:5 (defaults)
    deploy:
      command: [./deploy.sh, staging] # bakery.yaml:7 (defaults)
      env:
        TOKEN: "${DEPLOY_TOKEN}" # bakery.yaml:8 (defaults)
  - name: production # services/base.yaml:11 (service)
    bake: 2h # services/base.yaml:6 (template base)
    deploy:
      command: [./deploy.sh, production] # bakery.yaml:11 (defaults)
      timeout: 5m # services/base.yaml:12 (service)
    windows:
      timezone: America/New_York # bakery.yaml:16 (where tier=1)
      allow: ["Mon-Fri 09:00-18:00"] # bakery.yaml:16 (where tier=1)
`, out)
	require.NotContains(t, out, "s3cret-value")

	// worker has no labels of tier 1: no where entry, no template.
	out = run(t, "http://127.0.0.1:1", "config", "show", "worker", "--config", "bakery.yaml")
	require.Contains(t, out, "# service worker: defaults < service,")
	require.NotContains(t, out, "windows")

	out = run(t, "http://127.0.0.1:1", "config", "show", "web", "--config", "bakery.yaml", "--json")
	var got struct {
		Service string
		Layers  []string
		Config  map[string]any
		Values  []struct {
			Field, File, From string
			Line              int
			Value             any
		}
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got), out)
	require.Equal(t, []string{"defaults", "where tier=1", "template base", "service"}, got.Layers)
	found := false
	for _, v := range got.Values {
		if v.Field == "environments[production].bake" {
			found = true
			require.Equal(t, "2h", v.Value)
			require.Equal(t, filepath.Join("services", "base.yaml"), v.File)
			require.Equal(t, 6, v.Line)
			require.Equal(t, "template base", v.From)
		}
	}
	require.True(t, found, "no environments[production].bake in %+v", got.Values)

	out = run(t, "http://127.0.0.1:1", "config", "show", "wrker", "--config", "bakery.yaml")
	require.Equal(t, "bakery: bakery.yaml has no service \"wrker\"; did you mean worker?\n", out)
}

// TestConfigShowHelp: the help names the layers and the comment format.
func TestConfigShowHelp(t *testing.T) {
	t.Parallel()
	out := run(t, "http://127.0.0.1:1", "config", "show", "--help")
	for _, s := range []string{"(template NAME)", "(where SELECTOR)", "never resolved", "--json"} {
		require.True(t, strings.Contains(out, s), "help lacks %q:\n%s", s, out)
	}
}

// TestReloadRereadsIncludedFiles: a reload (SIGHUP) reads the included
// files again: a service added in a new file, and a template changed in
// another, are in force afterwards.
func TestReloadRereadsIncludedFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	write("bakery.yaml", `include: ["services/*.yaml"]
defaults:
  environments:
    - {name: staging, deploy: {command: [/bin/true]}}
    - {name: production, bake: 1h, deploy: {command: [/bin/true]}}
`)
	write("services/base.yaml", "templates: {slow: {environments: [{name: production, bake: 2h}]}}\nservices: [{name: web, use: slow}]\n")
	path := filepath.Join(dir, "bakery.yaml")
	cfg, err := config.Load(path)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := start(ctx, cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer s.stop()

	write("services/base.yaml", "templates: {slow: {environments: [{name: production, bake: 3h}]}}\nservices: [{name: web, use: slow}]\n")
	write("services/more.yaml", "services: [{name: api, use: slow}]\n")
	s.reload(ctx, path)
	got := s.e.Config()
	require.Len(t, got.Services, 2)
	require.Equal(t, "api", got.Services[1].Name)
	require.Equal(t, 3*time.Hour, got.Services[0].Environments[1].Bake)

	// A problem in an included file keeps the configuration in force.
	write("services/more.yaml", "services: [{name: api, use: fast}]\n")
	s.reload(ctx, path)
	require.Len(t, s.e.Config().Services, 2)
}

// TestValidateCountsIncludedFiles: validate reads the included files and
// names a problem in one with its file and line.
func TestValidateCountsIncludedFiles(t *testing.T) {
	dir := t.TempDir()
	for name, src := range showFiles {
		path := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(src), 0o644))
	}
	t.Chdir(dir)
	out := run(t, "http://127.0.0.1:1", "validate", "--config", "bakery.yaml")
	require.Equal(t, "bakery.yaml is valid: 2 service(s), 4 environment(s) from 1 included file(s) and this one\n", out)

	require.NoError(t, os.WriteFile(filepath.Join(dir, "services", "bad.yaml"), []byte("services:\n  - {name: api, use: bse}\n"), 0o644))
	out = run(t, "http://127.0.0.1:1", "validate", "--config", "bakery.yaml")
	require.Equal(t, filepath.Join("services", "bad.yaml")+`:2:22: services[0].use: unknown template "bse"; the templates are: base`+"\n"+
		"bakery: bakery.yaml has 1 problem(s)\n", out)
}
