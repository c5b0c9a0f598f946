package web

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// TestBisectPanel: the service page shows the newest bisect with its
// probes; a deployer gets a cancel button that works, a viewer none; a fix
// release carries its badge in the queue.
func TestBisectPanel(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	for _, v := range []string{"v1", "v2"} {
		_, err := f.e.CreateRelease(ctx, "dev", engine.ReleaseParams{Service: "web", Version: v})
		require.NoError(t, err)
	}
	_, err := f.e.CreateRelease(ctx, "dev", engine.ReleaseParams{Service: "web", Version: "fix1", Fix: true, FixReason: "INC-7 revert"})
	require.NoError(t, err)
	var b pipeline.Bisect
	require.NoError(t, f.e.Store().InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		var err error
		b, err = tx.BisectInsert(ctx, &pipeline.Bisect{Service: "web", Environment: "staging", Good: "v1", Bad: "v2", Check: "smoke",
			Repeat: 3, State: pipeline.BisectRunning, StartedBy: "dev", CreatedAt: f.e.Now()})
		if err != nil {
			return err
		}
		b.Tried = []pipeline.BisectProbe{{Version: "v2", Outcome: "failing", Runs: []string{"failing", "failing", "failing"}, Evidence: "exit 3: GET /checkout 500"}}
		b.Probe, b.UpdatedAt = "v1", f.e.Now()
		b, err = tx.BisectUpdate(ctx, &b)
		return err
	}))

	eye := f.client()
	f.signIn(eye, "eye")
	_, page := f.do(eye, "GET", "/services/web", "", nil)
	require.Contains(t, page, `id="bisect-panel"`)
	require.Contains(t, page, `data-bisect-state="running"`)
	require.Contains(t, page, `data-version="v2" data-outcome="failing"`)
	require.Contains(t, page, "exit 3: GET /checkout 500")
	require.Contains(t, page, `data-probe="v1"`)
	require.NotContains(t, page, `id="cancel-bisect"`, "a viewer gets no cancel button")

	dev := f.client()
	csrf := f.signIn(dev, "dev")
	_, page = f.do(dev, "GET", "/services/web", "", nil)
	require.Contains(t, page, `id="cancel-bisect"`)
	cancelURL := fmt.Sprintf("/api/v1/services/web/bisects/%d/cancel", b.ID)
	require.Contains(t, page, `data-url="`+cancelURL+`"`)
	require.Contains(t, page, `title="fix: INC-7 revert">fix</span>`, "the fix release's badge")
	resp, body := f.do(dev, "POST", cancelURL, `{"reason":"not now"}`, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	_, page = f.do(dev, "GET", "/services/web", "", nil)
	require.Contains(t, page, `data-bisect-state="cancelled"`)
	require.NotContains(t, page, `id="cancel-bisect"`)
	require.Contains(t, page, "not now")
	resp, body = f.do(dev, "POST", cancelURL, `{"reason":"again"}`, map[string]string{CSRFHeader: csrf})
	require.Equal(t, http.StatusConflict, resp.StatusCode, body)
}
