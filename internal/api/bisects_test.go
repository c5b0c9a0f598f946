package api

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/analysis/check"
	"github.com/bakery-deploy/bakery/internal/config"
)

// TestBisectAndApprovalInput: bad bisect and approval requests get a
// precise status and a detail that says what to give instead; nothing is
// started or recorded.
func TestBisectAndApprovalInput(t *testing.T) {
	t.Parallel()
	prod := testEnv("production", time.Hour)
	prod.Checks = []check.Spec{{Name: "smoke", Command: &check.CommandSpec{Command: []string{"/bin/true"}}}}
	f := newAPIFixtureWith(t, &config.Config{Services: []config.Service{
		{Name: "web", Environments: []config.Environment{testEnv("staging", 0), prod}},
	}})
	for _, v := range []string{"v1", "v2"} {
		status, e := f.do("POST", "/api/v1/services/web/releases", `{"version":"`+v+`"}`)
		require.Equal(t, http.StatusCreated, status, e.Detail)
	}
	tests := []struct {
		name, method, path, body string
		status                   int
		detail                   string
	}{
		{"missing check", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2"}`, http.StatusBadRequest, "check is missing"},
		{"unknown check", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2","check":"nope"}`, http.StatusBadRequest, `no check named "nope"`},
		{"bad not newer", "POST", "/api/v1/services/web/bisects", `{"good":"v2","bad":"v1","check":"smoke"}`, http.StatusBadRequest, "not newer than the good version"},
		{"unknown version", "POST", "/api/v1/services/web/bisects", `{"good":"v0","bad":"v2","check":"smoke"}`, http.StatusBadRequest, "the good version v0 is not a release of web"},
		{"repeat out of range", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2","check":"smoke","repeat":50}`, http.StatusBadRequest, "give 1 to 20 runs"},
		{"restore", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2","check":"smoke","restore":"later"}`, http.StatusBadRequest, `"before"`},
		{"unknown field", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2","check":"smoke","reapeat":2}`, http.StatusBadRequest, "reapeat"},
		{"unknown service", "POST", "/api/v1/services/nope/bisects", `{"good":"v1","bad":"v2","check":"smoke"}`, http.StatusNotFound, "nope"},
		{"no such bisect", "GET", "/api/v1/services/web/bisects/99", "", http.StatusNotFound, "web has no bisect 99"},
		{"bad id", "GET", "/api/v1/services/web/bisects/x", "", http.StatusBadRequest, "not a positive number"},
		{"approve: no gate or lane", "POST", "/api/v1/services/web/environments/production/releases/v2/approve", `{"reason":"ok"}`, http.StatusBadRequest, "neither a fix lane"},
		{"approve: no reason", "POST", "/api/v1/services/web/environments/production/releases/v2/approve", `{}`, http.StatusBadRequest, "needs a reason"},
		{"fix without reason", "POST", "/api/v1/services/web/releases", `{"version":"v3","fix":true}`, http.StatusBadRequest, "a fix release needs a reason"},
		{"fix reason without fix", "POST", "/api/v1/services/web/releases", `{"version":"v3","fix_reason":"x"}`, http.StatusBadRequest, "fix_reason is given but fix is not"},
	}
	for _, tt := range tests {
		status, e := f.do(tt.method, tt.path, tt.body)
		require.Equal(t, tt.status, status, "%s: %s", tt.name, e.Detail)
		require.Contains(t, e.Detail, tt.detail, tt.name)
	}
	status, body := f.as("eye-secret", "POST", "/api/v1/services/web/bisects", `{"good":"v1","bad":"v2","check":"smoke"}`)
	require.Equal(t, http.StatusForbidden, status, body)
	status, body = f.as("admin-secret", "GET", "/api/v1/services/web/bisects", "")
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `{"bisects": []}`, body, "nothing was started")
}
