package pipeline

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestComposeVerdict(t *testing.T) {
	t.Parallel()
	healthy := CheckOutcome{Outcome: CheckHealthy, Reason: "health answered 200"}
	failing := CheckOutcome{Outcome: CheckFailing, Reason: "health answered 500, expected 200"}
	failing2 := CheckOutcome{Outcome: CheckFailing, Reason: "errors 7 > 5"}
	unknown := CheckOutcome{Outcome: CheckInconclusive, Reason: "errors: no data"}
	pass := &MetricsVerdict{Verdict: VerdictPass, Score: 96, Reason: "every metric passed"}
	marginal := &MetricsVerdict{Verdict: VerdictMarginal, Score: 70, Reason: "latency is marginal"}
	fail := &MetricsVerdict{Verdict: VerdictFail, Score: 20, Reason: "latency failed"}
	noData := &MetricsVerdict{Verdict: VerdictInconclusive, Score: 0, Reason: "latency: no data"}

	for _, tc := range []struct {
		name    string
		metrics *MetricsVerdict
		checks  []CheckOutcome
		verdict Verdict
		score   float64
		reason  string
	}{
		{"nothing to judge passes", nil, nil, VerdictPass, 100, "every check is healthy"},
		{"healthy checks alone pass", nil, []CheckOutcome{healthy, healthy}, VerdictPass, 100, "every check is healthy"},
		{"metrics alone", pass, nil, VerdictPass, 96, "every metric passed"},
		{"healthy checks keep the metrics' verdict", marginal, []CheckOutcome{healthy}, VerdictMarginal, 70, "latency is marginal"},
		{"a failing check fails passing metrics", pass, []CheckOutcome{healthy, failing}, VerdictFail, 96, "check " + failing.Reason},
		{"a failing check fails without metrics", nil, []CheckOutcome{failing}, VerdictFail, 100, "check " + failing.Reason},
		{"the last failing check names the reason", pass, []CheckOutcome{failing, failing2}, VerdictFail, 96, "check " + failing2.Reason},
		{"an inconclusive check makes a pass inconclusive", pass, []CheckOutcome{unknown}, VerdictInconclusive, 96, "check " + unknown.Reason},
		{"an inconclusive check makes a marginal inconclusive", marginal, []CheckOutcome{unknown}, VerdictInconclusive, 70, "check " + unknown.Reason},
		{"an inconclusive check never softens a failure", fail, []CheckOutcome{unknown}, VerdictFail, 20, "latency failed"},
		{"an inconclusive check after a failing one keeps the failure", nil, []CheckOutcome{failing, unknown}, VerdictFail, 100, "check " + failing.Reason},
		{"a failing check after an inconclusive one fails", nil, []CheckOutcome{unknown, failing}, VerdictFail, 100, "check " + failing.Reason},
		{"inconclusive metrics stay inconclusive with healthy checks", noData, []CheckOutcome{healthy}, VerdictInconclusive, 0, "latency: no data"},
		{"inconclusive metrics keep their reason over an inconclusive check", noData, []CheckOutcome{unknown}, VerdictInconclusive, 0, "latency: no data"},
		{"inconclusive metrics fail on a failing check", noData, []CheckOutcome{failing}, VerdictFail, 0, "check " + failing.Reason},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v, score, reason := ComposeVerdict(tc.metrics, tc.checks)
			require.Equal(t, tc.verdict, v)
			require.Equal(t, tc.score, score)
			require.Equal(t, tc.reason, reason)
		})
	}
}
