package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// TestViewerErrorsNameNoPathsHostsOrUsers: what a viewer reads about a
// failure — a deployment's error and the event log, an application
// database that cannot be read — names no absolute path (only its base
// name), no host, port, user or password of that database. (The server's
// log has the full error.)
func TestViewerErrorsNameNoPathsHostsOrUsers(t *testing.T) {
	t.Setenv("BAKERY_TEST_APPDB_URL", "postgres://appuser:hunter2@127.0.0.1:1/appdb?connect_timeout=2&sslmode=disable")
	staging := testEnv("staging", 0)
	staging.Deploy.Command = []string{"/nonexistent/bakery-secret-dir/deploy.sh"}
	production := testEnv("production", time.Hour)
	production.Migrations = &config.Migrations{Database: &config.MigrationDatabase{
		Driver: "postgres", URLEnv: "BAKERY_TEST_APPDB_URL", Tool: "golang-migrate"}}
	f := newAPIFixtureWith(t, &config.Config{Services: []config.Service{
		{Name: "web", Environments: []config.Environment{staging, production}}}})

	status, e := f.do("POST", "/api/v1/services/web/releases", `{"version":"v1","artifact":"a"}`)
	require.Equal(t, http.StatusCreated, status, "%+v", e)

	var id int64
	require.Eventually(t, func() bool {
		_, body := f.as("eye-secret", "GET", "/api/v1/services/web/deployments", "")
		var out struct {
			Deployments []DeploymentView `json:"deployments"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &out), body)
		for _, d := range out.Deployments {
			if d.State == "failed" {
				id = d.ID
				return true
			}
		}
		return false
	}, 20*time.Second, 20*time.Millisecond)

	requireClean := func(body string, secrets ...string) {
		t.Helper()
		for _, s := range secrets {
			require.NotContains(t, body, s, body)
		}
	}
	status, body := f.as("eye-secret", "GET", fmt.Sprintf("/api/v1/deployments/%d", id), "")
	require.Equal(t, http.StatusOK, status, body)
	var dep DeploymentView
	require.NoError(t, json.Unmarshal([]byte(body), &dep), body)
	require.Contains(t, dep.Error, "deploy.sh", body)
	requireClean(dep.Error, "/nonexistent", "bakery-secret-dir")
	_, body = f.as("eye-secret", "GET", "/api/v1/services/web/events", "")
	require.Contains(t, body, "deploy.sh")
	requireClean(body, "/nonexistent", "bakery-secret-dir")

	status, body = f.as("eye-secret", "GET", "/api/v1/services/web/migrations", "")
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "unreachable", body)
	requireClean(body, "appuser", "hunter2", "127.0.0.1", ":1/", "postgres://")
}
