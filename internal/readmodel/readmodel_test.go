package readmodel_test

import (
	"testing"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/readmodel/readmodeltest"
)

// TestAgreesWithDecide: on the shared table of states, the read model's
// production queue and wait are Decide's.
func TestAgreesWithDecide(t *testing.T) {
	t.Parallel()
	for _, c := range readmodeltest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			m := readmodel.Build(c.State, readmodeltest.Now)
			prod := m.Environments[1]
			var rows []readmodeltest.Row
			for _, q := range prod.Releases {
				rows = append(rows, readmodeltest.Row{Version: q.Release.Version, State: string(q.State), BakeStart: q.BakeStart, BakeEnd: q.BakeEnd})
			}
			w := readmodeltest.Wait{Kind: string(prod.Wait.Kind), Version: prod.Wait.Version, Message: prod.Wait.Message, Until: prod.Wait.Until}
			readmodeltest.Agree(t, c, rows, w, func(s pipeline.ReleaseState) string { return string(s) })
		})
	}
}
