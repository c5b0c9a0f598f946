package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
)

// TestOverviewSearchAndStates: ?q= shows the services whose name contains
// it, ?selector= those whose labels match, ?state= those in the state, the counts at the top cover every
// service, and the rows fragment the page refreshes from keeps the same
// filter.
func TestOverviewSearchAndStates(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	c := f.client()
	f.signIn(c, "eye")
	_, err := f.e.Lock(context.Background(), "ana", engine.LockParams{Service: "api", Environment: "production", Reason: "incident"})
	require.NoError(t, err)

	rows := func(body string) []string {
		var out []string
		for _, name := range []string{"web", "api"} {
			if strings.Contains(body, `id="svc-`+name+`"`) {
				out = append(out, name)
			}
		}
		return out
	}
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"", []string{"web", "api"}},
		{"?q=WE", []string{"web"}},
		{"?q=nothing", nil},
		{"?state=locked", []string{"api"}},
		{"?state=locked&q=web", nil},
		{"?state=baking", nil},
		{"?state=bogus", []string{"web", "api"}},
		{"?selector=team=payments", []string{"api"}},
		{"?selector=team=payments,tier=2", nil},
		{"?selector=team%3Dfrontend&q=w", []string{"web"}},
		{"?selector=team", nil},
	} {
		resp, body := f.do(c, "GET", "/"+tc.query, "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.query)
		require.Equal(t, tc.want, rows(body), tc.query)
		if !strings.Contains(tc.query, "selector") {
			require.Contains(t, body, `id="state-locked" data-count="1"`, "the counts cover every service (%s)", tc.query)
		}
		if tc.want == nil {
			require.Contains(t, body, "No services match.", tc.query)
		}
		resp, body = f.do(c, "GET", "/ui/fragments/services"+tc.query, "", nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, tc.query)
		require.Equal(t, tc.want, rows(body), "the fragment keeps the filter (%s)", tc.query)
	}
	_, body := f.do(c, "GET", "/?selector=team", "", nil)
	require.Contains(t, body, `id="selector-error"`, "a selector that cannot be read says why")
	require.Contains(t, body, "is not key=value")
	_, body = f.do(c, "GET", "/?q="+url.QueryEscape("we"), "", nil)
	require.Contains(t, body, `value="we"`, "the search box shows the search")
	require.Contains(t, body, "1 of 2 services, page 1 of 1")
}
