package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
)

// labelled gives web team=payments and adds api (team=payments) and docs
// (team=growth) with the same environments.
func labelled(cfg *config.Config) {
	cfg.Services[0].Labels = map[string]string{"team": "payments"}
	api, docs := cfg.Services[0], cfg.Services[0]
	api.Name, api.Labels = "api", map[string]string{"team": "payments", "tier": "1"}
	docs.Name, docs.Labels = "docs", map[string]string{"team": "growth"}
	cfg.Services = append(cfg.Services, api, docs)
}

// TestSelectorBrakesAPI: lock, list, status, unlock and skip-bake by
// selector, with the status codes a client acts on.
func TestSelectorBrakesAPI(t *testing.T) {
	t.Parallel()
	b := setup(t, labelled)
	const ip, dep = "192.0.2.1", "deployer-secret"

	// Both a service and a selector: 400 naming the fields.
	rec := b.do(t, ip, dep, "POST", "/api/v1/services/web/environments/production/lock", `{"reason":"x","selector":"team=payments"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	msg, detail := errorOf(t, rec)
	require.Equal(t, "service and selector both given", msg)
	require.Contains(t, detail, `the path names service "web" and the body's "selector" is "team=payments"`)
	// A bad selector: 400 with ParseSelector's words.
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/lock", `{"reason":"x","selector":"team"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	_, detail = errorOf(t, rec)
	require.Contains(t, detail, `selector "team": "team" is not key=value, such as team=payments`)
	// A viewer may not lock.
	rec = b.do(t, ip, "viewer-secret", "POST", "/api/v1/environments/production/lock", `{"reason":"x","selector":"team=payments"}`)
	require.Equal(t, http.StatusForbidden, rec.Code, rec.Body.String())

	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/lock", `{"reason":"freeze","selector":"tier=1, team=payments","expires":"2h"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var l LockView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &l))
	require.Equal(t, "team=payments,tier=1", l.Selector, "stored canonical")
	require.Equal(t, "", l.Service)
	require.NotNil(t, l.Matching)
	require.Equal(t, 1, *l.Matching)
	require.NotNil(t, l.ExpiresAt)
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/lock", `{"reason":"again","selector":"team=payments,tier=1"}`)
	require.Equal(t, http.StatusConflict, rec.Code, rec.Body.String())

	// Matching nothing now is allowed, and said.
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/lock", `{"reason":"soon","selector":"team=search"}`)
	require.Equal(t, http.StatusCreated, rec.Code, rec.Body.String())
	var none LockView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &none))
	require.Equal(t, 0, *none.Matching)
	require.Contains(t, none.Note, "team=search matches 0 service(s) with production now")

	// Lists of locks carry the selector; the matching service's status
	// shows the lock, the others' do not.
	rec = b.do(t, ip, "viewer-secret", "GET", "/api/v1/locks", "")
	require.Equal(t, http.StatusOK, rec.Code)
	var list struct{ Locks []LockView }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &list))
	require.Len(t, list.Locks, 2)
	require.Equal(t, "team=payments,tier=1", list.Locks[0].Selector)
	for svc, locked := range map[string]bool{"api": true, "web": false, "docs": false} {
		rec = b.do(t, ip, "viewer-secret", "GET", "/api/v1/services/"+svc, "")
		require.Equal(t, http.StatusOK, rec.Code)
		var v ServiceView
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		require.Equal(t, locked, v.Environments[1].Locked, svc)
		if locked {
			require.Equal(t, "team=payments,tier=1", v.Environments[1].Locks[0].Selector)
			require.Contains(t, v.Environments[1].Waiting.Message, "locked: team=payments,tier=1/production by deployer: freeze")
		}
	}

	// Unlocking api alone names the selector lock.
	rec = b.do(t, ip, dep, "DELETE", "/api/v1/services/api/environments/production/lock", `{}`)
	require.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	_, detail = errorOf(t, rec)
	require.Contains(t, detail, "bakery unlock --selector team=payments,tier=1 production")
	rec = b.do(t, ip, dep, "DELETE", "/api/v1/services/api/environments/production/lock", `{"selector":"team=payments"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	rec = b.do(t, ip, dep, "DELETE", "/api/v1/environments/production/lock", `{"selector":" tier = 1 ,team=payments","reason":"over"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var rel struct{ Released LockView }
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rel))
	require.Equal(t, l.ID, rel.Released.ID)
	rec = b.do(t, ip, dep, "DELETE", "/api/v1/environments/production/lock", `{"selector":"team=payments,tier=1"}`)
	require.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())

	// Skip-bake by selector.
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/skip-bake", `{"reason":"x"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	msg, _ = errorOf(t, rec)
	require.Equal(t, "missing selector", msg)
	rec = b.do(t, ip, dep, "POST", "/api/v1/services/web/environments/production/skip-bake", `{"reason":"x","selector":"team=payments"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code, rec.Body.String())
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/skip-bake", `{"reason":"x","selector":"team=search"}`)
	require.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/skip-bake", `{"reason":"x","selector":"team=payments"}`)
	require.Equal(t, http.StatusConflict, rec.Code, "nothing waits: %s", rec.Body.String())
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, d, err := b.e.Status(ctx, "web")
		require.NoError(t, err)
		return d.Environments[0].Current != nil
	}, 20e9, 5e6)
	rec = b.do(t, ip, dep, "POST", "/api/v1/environments/production/skip-bake", `{"reason":"config only","selector":"team=payments"}`)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var sk struct {
		Services []SkipBakeResult
		Skipped  int
		Matching int
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &sk))
	require.Equal(t, 1, sk.Skipped)
	require.Equal(t, 2, sk.Matching)
	require.Equal(t, "api", sk.Services[0].Service)
	require.False(t, sk.Services[0].Skipped)
	require.Equal(t, "web", sk.Services[1].Service)
	require.True(t, sk.Services[1].Skipped)
	require.Equal(t, "v1", sk.Services[1].Release.Version)
}
