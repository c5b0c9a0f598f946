package router

import (
	"net/http"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersionCounts: a one-upstream router counts the requests each
// version answered, across a version change, and never a 502 of an
// upstream that is down (missing data is not exposure).
func TestVersionCounts(t *testing.T) {
	t.Parallel()
	up := namedBackend(t, "app")
	r := newRouter(t, up.URL, up.URL, Options{})
	rec := recordings(r)
	f := serve(t, r)

	f.get(t, "/")
	waitFor(t, rec, 1)
	require.Empty(t, r.TakeAnswered(), "nothing is counted before a version is named")

	r.SetVersion("a")
	for range 3 {
		f.get(t, "/")
	}
	waitFor(t, rec, 3)
	r.SetVersion("b")
	f.get(t, "/")
	waitFor(t, rec, 1)
	require.Equal(t, "b", r.Version())
	require.Equal(t, map[string]int64{"a": 3, "b": 1}, r.TakeAnswered())
	require.Empty(t, r.TakeAnswered(), "a take starts again from zero")

	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				f.get(t, "/")
			}
		})
	}
	wg.Wait()
	waitFor(t, rec, 100)
	require.Equal(t, map[string]int64{"b": 100}, r.TakeAnswered())

	down := newRouter(t, "http://127.0.0.1:1", "http://127.0.0.1:1", Options{})
	drec := recordings(down)
	fd := serve(t, down)
	down.SetVersion("a")
	resp := fd.get(t, "/")
	require.Equal(t, http.StatusBadGateway, resp.status)
	waitFor(t, drec, 1)
	require.Empty(t, down.TakeAnswered(), "a 502 is not use")
}
