package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// envScript prints its whole environment, then a secret it was given on
// purpose; as a check it does the same and fails.
const envScript = `#!/bin/sh
env
echo "app secret is $APP_SECRET"
if [ "$1" = check ]; then echo "check sees $APP_SECRET"; exit 1; fi
`

// TestNoSecretReachesAViewer is rule 13: a deploy command and a check that
// print their whole environment, run by a server whose own environment
// holds the bootstrap token, an API key and a database URL with a
// password. A viewer token reads the deployments, their output and the
// event log: none of those values is there; the one secret passed to the
// commands on purpose (inherit_env) is masked as ***.
func TestNoSecretReachesAViewer(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Hour})
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "env.sh"), []byte(envScript), 0o755))
	cfg := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [APP_SECRET]
  mask_env: [APP_SECRET, DD_API_KEY]
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./env.sh"]
      - name: production
        bake: 1h
        checks:
          - name: smoke
            interval: 1s
            command: ["./env.sh", "check"]
        deploy:
          command: ["./env.sh"]
`, w.addr)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	const (
		appSecret = "app-secret-7d1e9b42c0"
		ddKey     = "dd-api-key-44f0a9e1b7"
		dbPass    = "db-pass-3c8e21f6"
	)
	w.env = append(w.env, "APP_SECRET="+appSecret, "DD_API_KEY="+ddKey,
		"OTHER_DATABASE_URL=postgres://app:"+dbPass+"@db.internal:5432/app")
	w.start()

	var tok struct {
		Token string `json:"token"`
	}
	require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/tokens", api.TokenRequest{Name: "reader", Role: "viewer"}, &tok))
	viewer := tok.Token

	w.release("web", "v1")
	w.eventually(30*time.Second, "the failing check locks production", func() bool {
		return findEvent(w.events("web"), "lock.placed", "production", "") != nil
	})

	var deps struct {
		Deployments []api.DeploymentView `json:"deployments"`
	}
	require.Equal(t, 200, w.call(viewer, "GET", "/api/v1/services/web/deployments?environment=staging", nil, &deps))
	require.NotEmpty(t, deps.Deployments)
	var dep api.DeploymentView
	require.Equal(t, 200, w.call(viewer, "GET", fmt.Sprintf("/api/v1/deployments/%d", deps.Deployments[0].ID), nil, &dep))
	require.NotNil(t, dep.Output)
	output := *dep.Output
	require.Contains(t, output, "BAKERY_VERSION=v1", "the command printed its environment")
	require.Contains(t, output, "app secret is ***", "a secret passed on purpose is masked")

	var events map[string]any
	require.Equal(t, 200, w.call(viewer, "GET", "/api/v1/services/web/events", nil, &events))
	evJSON, err := json.Marshal(events)
	require.NoError(t, err)
	var checks map[string]any
	require.Equal(t, 200, w.call(viewer, "GET", "/api/v1/services/web", nil, &checks))
	statusJSON, err := json.Marshal(checks)
	require.NoError(t, err)
	require.Contains(t, string(evJSON)+string(statusJSON), "check sees ***", "the check's output reached the record, masked")

	for what, text := range map[string]string{"deployment output": output, "events": string(evJSON), "status": string(statusJSON)} {
		for _, leaked := range []string{adminToken, appSecret, ddKey, dbPass, "BAKERY_BOOTSTRAP_TOKEN", "DD_API_KEY", "OTHER_DATABASE_URL", "DEPLOY_LOG"} {
			require.False(t, strings.Contains(text, leaked), "%s shows %q to a viewer:\n%s", what, leaked, text)
		}
	}
}
