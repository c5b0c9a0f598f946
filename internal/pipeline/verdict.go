package pipeline

// MetricsVerdict is the judge's verdict on a canary's metrics (the
// comparison of its samples with stable's), before its threshold checks
// are taken into account.
type MetricsVerdict struct {
	Verdict Verdict
	Score   float64
	Reason  string
}

// CheckOutcome is one of a canary's threshold checks, as it came out:
// Outcome is CheckHealthy, CheckFailing or CheckInconclusive.
type CheckOutcome struct {
	Outcome string
	Reason  string
}

// ComposeVerdict is a canary judgement's verdict, score and reason from the
// judge's verdict on its metrics (nil when the canary has no metrics) and
// its checks' outcomes, taken in order. A failing check fails the canary,
// whatever the metrics say (the last failing check names the reason); an
// inconclusive check makes a passing or marginal verdict inconclusive
// (missing data is not good news, rule 9), never a failing one passing. The
// score is the metrics' score (100 without metrics): checks do not score.
func ComposeVerdict(metrics *MetricsVerdict, checks []CheckOutcome) (Verdict, float64, string) {
	verdict, score, reason := VerdictPass, 100.0, "every check is healthy"
	if metrics != nil {
		verdict, score, reason = metrics.Verdict, metrics.Score, metrics.Reason
	}
	for _, c := range checks {
		switch c.Outcome {
		case CheckFailing:
			verdict, reason = VerdictFail, "check "+c.Reason
		case CheckInconclusive:
			if verdict == VerdictPass || verdict == VerdictMarginal {
				verdict, reason = VerdictInconclusive, "check "+c.Reason
			}
		}
	}
	return verdict, score, reason
}
