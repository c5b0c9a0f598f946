package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// figureCheck fails from the release number in the failfrom file on
// (versions are vN), after a second.
const figureCheck = `#!/bin/sh
dir=%[1]q
v=$(cat "$dir/staging.version")
sleep 1
if [ "${v#v}" -ge "$(cat "$dir/failfrom")" ]; then echo "v$(cat "$dir/failfrom") broke it"; exit 1; fi
`

// TestBisectFigures measures how many probes and how much wall time a
// bisect takes to find the culprit among 8, 32 and 128 releases, with a
// deploy command and a check that take 1 s each (--repeat 1), for three
// positions of the culprit each. It prints FIGURE lines for
// docs/PERFORMANCE.md. It takes about three minutes, so it runs only with
// BAKERY_FIGURES=1.
func TestBisectFigures(t *testing.T) {
	if os.Getenv("BAKERY_FIGURES") == "" {
		t.Skip("set BAKERY_FIGURES=1 to measure bisect figures (about three minutes)")
	}
	for _, n := range []int{8, 32, 128} {
		w := newBisectWorld(t, false)
		require.NoError(t, os.WriteFile(filepath.Join(w.dir, "check.sh"), []byte(fmt.Sprintf(figureCheck, w.dir)), 0o755))
		w.start()
		// v1 is the good version; v2..v(n+1) are the n releases.
		for i := 1; i <= n+1; i++ {
			w.release("web", fmt.Sprintf("v%d", i))
		}
		last := fmt.Sprintf("v%d", n+1)
		w.eventually(60*time.Second, last+" in staging", func() bool { return w.version("web", "staging") == last })
		require.NoError(t, os.WriteFile(filepath.Join(w.dir, "deploy-sleep"), []byte("1"), 0o644))
		var walls []time.Duration
		for _, at := range []int{n / 3, n / 2, n * 5 / 6} {
			failFrom := 2 + at // the at-th release of the range (0-based)
			require.NoError(t, os.WriteFile(filepath.Join(w.dir, "failfrom"), []byte(fmt.Sprint(failFrom)), 0o644))
			var out struct {
				Bisect api.BisectView `json:"bisect"`
			}
			start := time.Now()
			require.Equal(t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/services/web/bisects",
				api.BisectRequest{Good: "v1", Bad: last, Check: "smoke", Repeat: 1}, &out))
			path := fmt.Sprintf("/api/v1/services/web/bisects/%d", out.Bisect.ID)
			w.eventually(10*time.Minute, "the bisect ends", func() bool {
				require.Equal(t, 200, w.call(adminToken, "GET", path, nil, &out))
				return out.Bisect.State != "running"
			})
			found := time.Since(start)
			w.eventually(time.Minute, "staging back", func() bool {
				return w.version("web", "staging") == last && w.status("web").Environments[0].Deployment == nil
			})
			require.Equal(t, fmt.Sprintf("v%d", failFrom), out.Bisect.Culprit, out.Bisect.Result)
			require.LessOrEqual(t, len(out.Bisect.Tried), pipeline.MaxBisectProbes(n))
			walls = append(walls, found)
			t.Logf("FIGURE bisect among %d releases, culprit v%d: %d probes, %d deploys (incl. the return), culprit named after %s, staging back after %s",
				n, failFrom, len(out.Bisect.Tried), out.Bisect.Deploys, found.Round(10*time.Millisecond), time.Since(start).Round(10*time.Millisecond))
		}
		sort.Slice(walls, func(a, b int) bool { return walls[a] < walls[b] })
		t.Logf("FIGURE bisect among %d releases: median time to the culprit %s (bound %d probes)", n, walls[1].Round(10*time.Millisecond), pipeline.MaxBisectProbes(n))
	}
}
