package cli

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/readmodel/readmodeltest"
)

// statusWords maps the start of a release's line in `bakery status` back
// to the read model's state.
var statusWords = []struct {
	prefix string
	state  pipeline.ReleaseState
}{
	{"baking since", pipeline.ReleaseBaking}, {"bake skipped", pipeline.ReleaseBakeSkipped}, {"baked", pipeline.ReleaseBaked},
	{"failed bake", pipeline.ReleaseFailedBake}, {"superseded", pipeline.ReleaseSuperseded}, {"rejected", pipeline.ReleaseRejected},
	{"canary in production", pipeline.ReleaseCanary}, {"deploying to production", pipeline.ReleaseDeploying},
	{"deploying to staging", pipeline.ReleaseBelow}, {"waiting for staging", pipeline.ReleaseBelow},
	{"failed in staging", pipeline.ReleaseFailedBelow}, {"failed in production", pipeline.ReleaseFailed},
}

var statusTimes = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// TestStatusAgreesWithDecide: on the shared table of states, what `bakery
// status` prints of production (its releases, their bakes, its wait) is
// what Decide sees.
func TestStatusAgreesWithDecide(t *testing.T) {
	t.Parallel()
	for _, c := range readmodeltest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			v := api.FormatService(readmodeltest.Service(), readmodel.Build(c.State, readmodeltest.Now))
			var out bytes.Buffer
			printStatus(&out, []api.ServiceView{v}, readmodeltest.Now)
			text := out.String()
			var rows []readmodeltest.Row
			inProd := false
			var prodLine string
			for _, line := range strings.Split(text, "\n") {
				switch {
				case strings.HasPrefix(line, "  production "):
					prodLine = line
				case strings.HasPrefix(line, "  releases for "):
					inProd = line == "  releases for production:"
				case inProd && strings.HasPrefix(line, "    "):
					fields := strings.Fields(line)
					words := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), fields[0]))
					row := readmodeltest.Row{Version: fields[0], State: "?" + words}
					for _, w := range statusWords {
						if strings.HasPrefix(words, w.prefix) {
							row.State = string(w.state)
							break
						}
					}
					if ts := statusTimes.FindAllString(words, 2); len(ts) == 2 {
						row.BakeStart, _ = time.Parse(time.RFC3339, ts[0])
						row.BakeEnd, _ = time.Parse(time.RFC3339, ts[1])
					}
					rows = append(rows, row)
				}
			}
			// The running release is on the table line, not in the list.
			if cur := v.Environments[1].Version; cur != nil {
				require.Regexp(t, `^  production\s+`+regexp.QuoteMeta(*cur)+`\s`, prodLine)
				rows = append(rows, readmodeltest.Row{Version: *cur, State: string(pipeline.ReleaseLive)})
			}
			decided := pipeline.Decide(c.State, readmodeltest.Now).Environments[1].Wait
			require.Contains(t, prodLine, termSafe(decided.Message), "the wait is Decide's")
			if !decided.Until.IsZero() {
				require.Contains(t, prodLine, "("+humanDuration(decided.Until.Sub(readmodeltest.Now))+" left)")
			}
			w := readmodeltest.Wait{Kind: string(decided.Kind), Version: decided.Version, Message: decided.Message, Until: decided.Until}
			readmodeltest.Agree(t, c, rows, w, func(s pipeline.ReleaseState) string { return string(s) })
		})
	}
}
