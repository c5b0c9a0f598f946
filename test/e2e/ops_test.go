package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// TestSecretsFromFilesAndHealthcheck runs the server as a container or a
// systemd unit would: the bootstrap token from BAKERY_BOOTSTRAP_TOKEN_FILE,
// a masked secret from DEPLOY_SECRET_FILE (server.mask_env names
// DEPLOY_SECRET), which the deploy script reads and prints: the stored
// output shows *** instead. `bakery healthcheck` answers 0 while the server
// serves and 1 once it is gone, and `bakery validate` finds the file
// through BAKERY_CONFIG.
func TestSecretsFromFilesAndHealthcheck(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	secrets := t.TempDir()
	tokenFile := filepath.Join(secrets, "bootstrap")
	require.NoError(t, os.WriteFile(tokenFile, []byte(adminToken+"\n"), 0o600))
	const secretValue = "hunter2-Zm9yIHRlc3RzIG9ubHk"
	secretFile := filepath.Join(secrets, "deploy-secret")
	require.NoError(t, os.WriteFile(secretFile, []byte(secretValue+"\n"), 0o600))

	cfg, err := os.ReadFile(w.config)
	require.NoError(t, err)
	src := strings.Replace(string(cfg), "  inherit_env: [", "  mask_env: [DEPLOY_SECRET]\n  inherit_env: [DEPLOY_SECRET_FILE, ", 1)
	require.NoError(t, os.WriteFile(w.config, []byte(src), 0o644))
	script := strings.Replace(deployScript, `echo "deploying`, `echo "using key $(cat "$DEPLOY_SECRET_FILE")"`+"\n"+`echo "deploying`, 1)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "deploy.sh"), []byte(script), 0o755))
	for i, e := range w.env {
		if strings.HasPrefix(e, "BAKERY_BOOTSTRAP_TOKEN=") {
			w.env[i] = "BAKERY_BOOTSTRAP_TOKEN_FILE=" + tokenFile
		}
	}
	w.env = append(w.env, "DEPLOY_SECRET_FILE="+secretFile)

	out, stderr, err := w.bakery([]string{"BAKERY_CONFIG=" + w.config}, "validate")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "is valid")

	w.start()
	out, stderr, err = w.bakery(nil, "healthcheck", "--server", "http://"+w.addr)
	require.NoError(t, err, stderr)
	require.Equal(t, "healthy\n", out)

	// The admin token from the file works, for the CLI too from a file.
	cliToken := filepath.Join(secrets, "cli-token")
	require.NoError(t, os.WriteFile(cliToken, []byte(adminToken), 0o600))
	out, stderr, err = w.bakery([]string{"BAKERY_TOKEN=", "BAKERY_TOKEN_FILE=" + cliToken}, "token", "list")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "bootstrap")

	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	deps := w.deployments("web", "staging")
	require.Len(t, deps, 1)
	var dep api.DeploymentView
	require.Equal(t, 200, w.call(adminToken, "GET", fmt.Sprintf("/api/v1/deployments/%d", deps[0].ID), nil, &dep))
	require.NotNil(t, dep.Output)
	require.Contains(t, *dep.Output, "using key ***")
	require.NotContains(t, *dep.Output, secretValue, "a secret read from a _FILE is masked like one from the environment")

	w.stop()
	_, stderr, err = w.bakery(nil, "healthcheck", "--server", "http://"+w.addr, "--timeout", "1s")
	require.Error(t, err)
	require.Contains(t, stderr, "unhealthy")
}

// TestSchemaDownThroughTheBinary: with the server stopped, `bakery schema
// down` takes the newest migration back (refused while the server runs),
// and the next start applies it again and carries on with the history.
func TestSchemaDownThroughTheBinary(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	w.start()
	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in production", func() bool { return w.version("web", "production") == "v1" })

	_, stderr, err := w.bakery(nil, "schema", "down", "--db", w.db)
	require.Error(t, err)
	require.Contains(t, stderr, "in use by a running bakery server")

	w.stop()
	out, stderr, err := w.bakery(nil, "schema", "down", "--db", w.db)
	require.NoError(t, err, stderr)
	require.Contains(t, out, "took migration "+newestMigration(t)+" back")
	_, stderr, err = w.bakery(nil, "schema", "down", "--db", w.db)
	require.Error(t, err)
	require.Contains(t, stderr, "only the newest version can be taken back")

	w.start()
	require.Equal(t, "v1", w.version("web", "production"), "the history survived the round trip")
	w.release("web", "v2")
	w.eventually(20*time.Second, "v2 in production", func() bool { return w.version("web", "production") == "v2" })
}

// newestMigration is the name of bakery's newest SQLite migration, the one
// schema down takes back.
func newestMigration(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "..", "internal", "store", "sqlstore", "migrations", "sqlite"))
	require.NoError(t, err)
	newest := ""
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".sql") && !strings.HasSuffix(n, ".down.sql") && n > newest {
			newest = n
		}
	}
	require.NotEmpty(t, newest)
	return newest
}
