package engine

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

func TestSecretEnvNames(t *testing.T) {
	t.Parallel()
	dd := func(name, api, app string) check.Spec {
		return check.Spec{Name: name, Datadog: &check.DatadogSpec{APIKeyEnv: api, AppKeyEnv: app}}
	}
	cfg := &config.Config{Server: config.Server{MaskEnv: []string{"GITHUB_TOKEN"}}, Services: []config.Service{{
		Name: "web", Environments: []config.Environment{
			{Name: "staging", Migrations: &config.Migrations{Database: &config.MigrationDatabase{URLEnv: "STAGING_DATABASE_URL"}}},
			{Name: "production", Checks: []check.Spec{dd("errors", "DD_API_KEY", "DD_APP_KEY")},
				Canary: &config.Canary{Analysis: config.Analysis{Checks: []check.Spec{dd("canary", "CANARY_DD_API", "CANARY_DD_APP")}}}},
		},
	}}}
	require.ElementsMatch(t, []string{"GITHUB_TOKEN", "STAGING_DATABASE_URL", "DD_API_KEY", "DD_APP_KEY", "CANARY_DD_API", "CANARY_DD_APP"},
		secretEnvNames(cfg))
}

// TestSecretsMaskedOnTheRecord is rule 13 in the engine: a deploy command
// that prints a secret it was given and fails with it, and a lock whose
// reason someone pasted the secret into — none of it stores the value,
// on either database. A reload with a new value masks the new one.
func TestSecretsMaskedOnTheRecord(t *testing.T) {
	// Not parallel: it sets a variable of the test process.
	const value = "engine-secret-5e1f0c2a"
	t.Setenv("BAKERY_ENGINE_TEST_SECRET", value)
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			cfg := testConfig()
			cfg.Server.MaskEnv = []string{"BAKERY_ENGINE_TEST_SECRET"}
			staging := &cfg.Services[0].Environments[0]
			staging.Deploy.Command = []string{"/bin/sh", "-c", `echo "using $BAKERY_ENGINE_TEST_SECRET"; echo "failed with $BAKERY_ENGINE_TEST_SECRET" >&2; exit 3`}
			staging.Deploy.InheritEnv = []string{"BAKERY_ENGINE_TEST_SECRET"}
			b := setup(t, db, cfg)
			ctx := context.Background()
			_, err := b.e.CreateRelease(ctx, "ci", ReleaseParams{Service: "web", Version: "v1", Message: "carries " + value})
			require.NoError(t, err)
			b.settle(t, "web")
			_, err = b.e.Lock(ctx, "ana", LockParams{Service: "web", Environment: "production", Reason: "oops I pasted " + value})
			require.NoError(t, err)

			deps := b.deploymentsOf(t, "web", "staging", "v1")
			require.Len(t, deps, 1)
			dep, err := b.st.DeploymentGet(ctx, deps[0].ID)
			require.NoError(t, err)
			require.Equal(t, pipeline.DeploymentFailed, dep.State)
			require.Contains(t, dep.Output, "using ***")
			require.Contains(t, dep.Output, "failed with ***")
			require.NotContains(t, dep.Output+dep.Error, value)

			events, err := b.st.EventList(ctx, &store.EventListParams{Service: "web"})
			require.NoError(t, err)
			raw, err := json.Marshal(events)
			require.NoError(t, err)
			require.NotContains(t, string(raw), value)
			require.Contains(t, string(raw), "oops I pasted ***")

			// A reload reads the variables again.
			const next = "engine-secret-rotated-77aa"
			t.Setenv("BAKERY_ENGINE_TEST_SECRET", next)
			b.e.SetConfig(ctx, cfg)
			require.Equal(t, "*** and ***", b.e.Masker().Mask(next+" and "+next))
			_, err = b.e.Unlock(ctx, "ana", "web", "production", "rotated "+next)
			require.NoError(t, err)
			events, err = b.st.EventList(ctx, &store.EventListParams{Service: "web"})
			require.NoError(t, err)
			var unlock *pipeline.Event
			for i := range events {
				if events[i].Type == pipeline.EventLockReleased {
					unlock = &events[i]
				}
			}
			require.NotNil(t, unlock)
			require.Equal(t, "rotated ***", unlock.Reason)
		})
	}
}
