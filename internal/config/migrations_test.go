package config

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestMigrationsBlock(t *testing.T) {
	t.Parallel()
	const head = `services:
  - name: web
    environments:
      - name: staging
        deploy: {command: ["./deploy.sh"]}
        migrations:
`
	good := head + `          apply: ["./migrate.sh", "up"]
          database:
            driver: postgres
            url_env: STAGING_DATABASE_URL
            tool: golang-migrate
`
	cfg, err := Parse("/srv/bakery.yaml", []byte(good))
	require.NoError(t, err)
	m := cfg.Services[0].Environments[0].Migrations
	require.NotNil(t, m)
	require.Equal(t, []string{filepath.Join("/srv", "migrate.sh"), "up"}, m.Apply)
	require.Equal(t, &MigrationDatabase{Driver: "postgres", URLEnv: "STAGING_DATABASE_URL", Tool: "golang-migrate"}, m.Database)

	cases := []struct {
		name, body, field, msg string
		line                   int
	}{
		{"bad driver", "          database: {driver: oracle, url_env: X, tool: goose}\n", "services[0].environments[0].migrations.database.driver", `unknown driver "oracle"`, 7},
		{"url in the file", "          database: {driver: mysql, url_env: \"mysql://root:pw@db/x\", tool: goose}\n", "services[0].environments[0].migrations.database.url_env", "never goes in this file", 7},
		{"missing url_env", "          database:\n            driver: mysql\n            tool: goose\n", "services[0].environments[0].migrations.database.url_env", "url_env is required", 8},
		{"table tool without column", "          database: {driver: sqlite, url_env: DB, tool: table, table: versions}\n", "services[0].environments[0].migrations.database.column", "needs column", 7},
		{"apply as a string", "          apply: ./migrate.sh up\n", "services[0].environments[0].migrations.apply", "list of arguments", 7},
		{"unknown key", "          aply: [x]\n", "services[0].environments[0].migrations.aply", `unknown field "aply"`, 7},
	}
	for _, c := range cases {
		_, err := Parse("bakery.yaml", []byte(head+c.body))
		var verr *ValidationError
		require.ErrorAs(t, err, &verr, c.name)
		found := false
		for _, p := range verr.Problems {
			if p.Field == c.field {
				found = true
				require.Contains(t, p.Message, c.msg, c.name)
				require.Equal(t, c.line, p.Line, c.name)
			}
		}
		require.True(t, found, "%s: no problem for %s in %v", c.name, c.field, verr.Problems)
	}
}
