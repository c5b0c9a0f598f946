package github

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/readmodel/readmodeltest"
)

// TestDescribeAgreesWithTheReadModel: the bakery/production status of
// every release in every stored state the surfaces are checked against
// says what the read model's queue says.
func TestDescribeAgreesWithTheReadModel(t *testing.T) {
	t.Parallel()
	want := map[pipeline.ReleaseState]struct{ state, prefix string }{
		pipeline.ReleaseLive:        {StatusSuccess, "in production since "},
		pipeline.ReleaseBaking:      {StatusPending, "baking "},
		pipeline.ReleaseBaked:       {StatusPending, ""},
		pipeline.ReleaseBakeSkipped: {StatusPending, ""},
		pipeline.ReleaseFailedBake:  {StatusFailure, "failed bake in staging"},
		pipeline.ReleaseSuperseded:  {StatusSuccess, "reached production with "},
		pipeline.ReleaseRejected:    {StatusFailure, "rejected"},
		pipeline.ReleaseFailed:      {StatusFailure, "deployment to production failed"},
		pipeline.ReleaseEarlier:     {StatusSuccess, "was in production"},
		pipeline.ReleaseBelow:       {StatusPending, "waiting for staging"},
		pipeline.ReleaseDeploying:   {StatusPending, "deploying to production"},
		pipeline.ReleaseCanary:      {StatusPending, "canary in production: step "},
	}
	for _, c := range readmodeltest.Cases() {
		view := readmodel.Build(c.State, readmodeltest.Now)
		for _, rel := range c.State.Releases {
			rs, ok := c.Want[rel.Version]
			if !ok {
				continue
			}
			var dep *pipeline.Deployment
			for k := range c.State.Deployments {
				d := c.State.Deployments[k]
				if d.Environment == "production" && d.ReleaseID == rel.ID {
					dep = &d
				}
			}
			got := Describe(view, 1, rel, dep)
			w, ok := want[rs]
			require.True(t, ok, "%s: no expectation for %s", c.Name, rs)
			require.Equal(t, w.state, got.State, "%s: %s (%s): %q", c.Name, rel.Version, rs, got.Description)
			require.True(t, strings.HasPrefix(got.Description, w.prefix), "%s: %s (%s): %q", c.Name, rel.Version, rs, got.Description)
			require.LessOrEqual(t, utf8.RuneCountInString(got.Description), maxDescription)
			if rs == pipeline.ReleaseBaking {
				require.Contains(t, got.Description, " of 60 min in staging")
			}
		}
	}
}
