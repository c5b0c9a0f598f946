package web

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/readmodel/readmodeltest"
)

// TestQueueAgreesWithDecide: on the shared table of states, the service
// page's queue of production (each row's data-state and bake) and the
// production cell's wait are what Decide sees. A failed bake is never
// "baked, waiting".
func TestQueueAgreesWithDecide(t *testing.T) {
	t.Parallel()
	for _, c := range readmodeltest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			svc := readmodeltest.Service()
			m := readmodel.Build(c.State, readmodeltest.Now)
			q := queue(svc, m.Environments[1], readmodeltest.Now)
			var rows []readmodeltest.Row
			waiting := 0
			for _, r := range q.Rows {
				rows = append(rows, readmodeltest.Row{Version: r.Version, State: r.State, BakeStart: r.BakeStart, BakeEnd: r.BakeEnd})
				require.Equal(t, r.Version, r.Short, "tags are never shortened")
				if r.State == "baking" || r.State == "baked" {
					waiting++
				}
			}
			require.Equal(t, waiting, q.Waiting, "the count waiting is the rows waiting")
			require.Equal(t, len(pipeline.Decide(c.State, readmodeltest.Now).Environments[1].Queue), q.Waiting)
			view := api.FormatService(svc, m)
			ev := view.Environments[1]
			w := readmodeltest.Wait{Kind: ev.Waiting.Kind, Version: ev.Waiting.Version, Message: ev.Waiting.Message}
			if ev.Waiting.Until != nil {
				w.Until = *ev.Waiting.Until
			}
			readmodeltest.Agree(t, c, rows, w, queueState)
			if c.WantWait != pipeline.WaitBake && c.WantWait != pipeline.WaitRelease {
				return
			}
			// The cell shows the same bake as the queue row.
			cell := (&Handler{}).cell(svc.Name, 1, view.Environments, nil, readmodeltest.Now)
			if c.WantWait == pipeline.WaitBake {
				for _, r := range q.Rows {
					if r.Version == cell.BakeVersion {
						require.True(t, r.BakeEnd.Equal(cell.BakeEnd), "cell and queue agree on the bake end")
						require.True(t, r.BakeStart.Equal(cell.BakeStart), "cell and queue agree on the bake start")
					}
				}
			}
			if c.WantWait == pipeline.WaitRelease {
				require.Equal(t, "waiting for "+ev.Waiting.Version+" to reach staging", cell.Label)
			}
		})
	}
}
