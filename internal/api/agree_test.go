package api

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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
