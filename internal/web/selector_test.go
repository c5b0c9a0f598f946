package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
)

// TestSelectorLockOnTheDashboard: a selector lock shows, with its
// selector, on the row and page of each matching service (and in the
// production banner), and not on the others.
func TestSelectorLockOnTheDashboard(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	_, err := f.e.Lock(context.Background(), "ana", engine.LockParams{Selector: "team=payments", Environment: "production", Reason: "card freeze"})
	require.NoError(t, err)

	row := func(body, name string) string {
		i := strings.Index(body, `id="svc-`+name+`"`)
		require.GreaterOrEqual(t, i, 0, name)
		rest := body[i+1:]
		if j := strings.Index(rest, `id="svc-`); j >= 0 {
			rest = rest[:j]
		}
		return rest
	}
	resp, body := f.do(c, "GET", "/", "", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, row(body, "api"), `<span class="lockscope" title="a selector lock: every service whose labels match">team=payments</span> · by <strong>ana</strong>`)
	require.Contains(t, row(body, "api"), "card freeze")
	require.NotContains(t, row(body, "web"), "card freeze", "web (team=frontend) is not held")
	require.Contains(t, body, "production of team=payments (1 services)</strong> locked by ana", "the banner names the selector")

	_, body = f.do(c, "GET", "/?state=locked", "", nil)
	require.Contains(t, body, `id="svc-api"`)
	require.NotContains(t, body, `id="svc-web"`)

	_, body = f.do(c, "GET", "/services/api", "", nil)
	require.Contains(t, body, `<span class="lockscope" title="a selector lock: every service whose labels match">team=payments</span>`)
	require.Contains(t, body, "the services matching team=payments", "the timeline names the selector")
	_, body = f.do(c, "GET", "/services/web", "", nil)
	require.NotContains(t, body, `class="lockscope"`)
}
