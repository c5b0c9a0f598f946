package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/readmodel/readmodeltest"
)

// TestServiceViewAgreesWithDecide: on the shared table of states, the
// service view as a client decodes it shows production's releases and wait
// exactly as Decide sees them.
func TestServiceViewAgreesWithDecide(t *testing.T) {
	t.Parallel()
	for _, c := range readmodeltest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(serviceView(readmodeltest.Service(), readmodel.Build(c.State, readmodeltest.Now)))
			require.NoError(t, err)
			var v ServiceView
			require.NoError(t, json.Unmarshal(b, &v))
			prod := v.Environments[1]
			var rows []readmodeltest.Row
			for _, q := range prod.Releases {
				rows = append(rows, readmodeltest.Row{Version: q.Version, State: q.State, BakeStart: derefTime(q.BakeStarted), BakeEnd: derefTime(q.BakeUntil)})
			}
			w := readmodeltest.Wait{Kind: prod.Waiting.Kind, Version: prod.Waiting.Version, Message: prod.Waiting.Message, Until: derefTime(prod.Waiting.Until)}
			readmodeltest.Agree(t, c, rows, w, func(s pipeline.ReleaseState) string { return string(s) })
			require.Len(t, v.Environments[0].Releases, 0, "the first environment has no queue")
		})
	}
}

func derefTime(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// TestWatchNamesWhatItWaitsFor: right after a release is created, its
// progress never says production is "up to date" while it is on its way;
// the wait names it.
func TestWatchNamesWhatItWaitsFor(t *testing.T) {
	t.Parallel()
	s, _ := testServer(t)
	ctx := context.Background()
	_, err := s.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v1", Artifact: "img:1"})
	require.NoError(t, err)
	progress := func(version string) ReleaseProgress {
		w := serve(s, "GET", "/api/v1/services/web/releases/"+version, "admin-secret", "")
		require.Equal(t, http.StatusOK, w.Code, w.Body.String())
		var p ReleaseProgress
		require.NoError(t, json.Unmarshal(w.Body.Bytes(), &p))
		return p
	}
	require.Eventually(t, func() bool { return progress("v1").Environments[0].State == "succeeded" }, 20*time.Second, 10*time.Millisecond)
	_, err = s.e.SkipBake(ctx, "ana", "web", "production", "test")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return progress("v1").Done }, 20*time.Second, 10*time.Millisecond)

	_, err = s.e.CreateRelease(ctx, "ci", engine.ReleaseParams{Service: "web", Version: "v2", Artifact: "img:2"})
	require.NoError(t, err)
	p := progress("v2")
	prod := p.Environments[1]
	require.NotContains(t, prod.Message, "up to date")
	require.Contains(t, prod.Message, "v2", "production's wait names the release on its way")
}
