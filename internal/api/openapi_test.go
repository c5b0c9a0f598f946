package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIDocumentsEveryRoute keeps openapi.json true: every route the
// server registers is documented with its method, and nothing else is.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	t.Parallel()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(openapiJSON, &doc))
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		if !strings.HasPrefix(path, "/api/v1/") || path == "/api/v1/openapi.json" {
			continue
		}
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range (&Server{}).apiRoutes() {
		served[rt.method+" "+rt.pattern] = true
	}
	require.Equal(t, served, documented)
}

func TestRoles(t *testing.T) {
	t.Parallel()
	require.Less(t, RoleBanner.rank(), RoleViewer.rank())
	require.Less(t, RoleViewer.rank(), RoleDeployer.rank())
	require.Less(t, RoleDeployer.rank(), RoleAdmin.rank())
	_, err := ParseRole("root")
	require.ErrorContains(t, err, "use banner, viewer, deployer or admin")
	r, err := ParseRole("deployer")
	require.NoError(t, err)
	require.Equal(t, RoleDeployer, r)
	// Tokens are stored hashed, and two secrets never share a hash.
	a, b := NewTokenSecret(), NewTokenSecret()
	require.NotEqual(t, a, b)
	require.Len(t, HashToken(a), 64)
	require.NotEqual(t, HashToken(a), HashToken(b))
	require.NotContains(t, HashToken(a), a)
}
