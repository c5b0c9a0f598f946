package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestShow(t *testing.T) {
	t.Parallel()
	dir := writeTree(t, map[string]string{
		"bakery.yaml": twoEnvDefaults + `  where:
    - selector: team=core
      environments: [{name: production, windows: {timezone: UTC, allow: ["Mon 09:00-10:00"]}}]
services:
  - name: web
    environments:
      - name: production
        windows: ~
  - name: webb
  - name: broken
    environments: [{name: staging, bake: 1h}]
`,
	})
	path := dir + "/bakery.yaml"

	// web drops the where entry's windows with a null; the other service's
	// problem is returned beside it.
	s, err := Show(path, "web")
	require.NotNil(t, s)
	var verr *ValidationError
	require.ErrorAs(t, err, &verr)
	require.Len(t, verr.Problems, 1)
	require.Contains(t, verr.Problems[0].Message, "the first environment cannot have a bake")
	require.Equal(t, []string{"defaults", "where team=core", "service"}, s.Layers)
	require.Contains(t, s.YAML, "windows: ~ # "+path+":16 (service)")
	require.NotContains(t, s.YAML, "timezone")
	for _, v := range s.Values {
		require.NotEmpty(t, v.File, v.Field)
		require.Positive(t, v.Line, v.Field)
	}

	_, err = Show(path, "wbe")
	require.EqualError(t, err, path+` has no service "wbe"; did you mean web, webb?`)
	_, err = Show(path, "payments")
	require.ErrorContains(t, err, "has 3 services, none with a close name")
	require.False(t, strings.Contains(err.Error(), "did you mean"))
}
