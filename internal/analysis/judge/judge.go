// Package judge is bakery's canary judge: it compares metric samples of a
// canary release against the baseline (stable) release, metric by metric,
// in the manner of Kayenta, and turns the comparisons into a weighted score
// and a verdict.
//
// Each metric is judged by a Mann-Whitney U test (non-parametric, so it
// needs no assumption about the shape of latency or error-rate
// distributions), a direction saying which change is a regression, an
// effect-size tolerance on the relative change of medians, and optional
// absolute bounds on the canary's median. Missing data is never good news:
// a metric without enough samples is "nodata", and a judgement in which
// every metric, or any critical metric, is nodata is Inconclusive.
package judge

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Direction is which change counts as a regression.
type Direction string

const (
	// Increase: the canary is worse when the metric goes up (error
	// rate, latency).
	Increase Direction = "increase"
	// Decrease: the canary is worse when the metric goes down
	// (throughput, success rate).
	Decrease Direction = "decrease"
	// Either: any significant change is a regression. An empty or
	// unknown Direction is treated as Either.
	Either Direction = "either"
)

// Defaults applied to zero or invalid Metric and Thresholds fields.
const (
	DefaultConfidence = 0.95
	DefaultMinSamples = 3
	DefaultPass       = 95.0
	DefaultMarginal   = 75.0
)

// Metric configures one metric's comparison.
type Metric struct {
	Name string
	// Direction is which way is bad (e.g. error rate: Increase). Empty
	// or unknown means Either.
	Direction Direction
	// Confidence is the confidence level of the test, e.g. 0.95: a
	// difference counts only if p < 1-Confidence. A value outside
	// (0, 1), including the zero value, means DefaultConfidence.
	Confidence float64
	// Tolerance is an effect-size allowance: the canary fails this
	// metric only if it is worse than the baseline by more than
	// Tolerance as a relative change of medians (0.1 = 10%). 0 means any
	// significant change in the bad direction fails (the direction is
	// then the test's: the canary's values tend to be larger/smaller,
	// even if the medians are equal, as with mostly-zero error rates).
	// Negative or NaN means 0.
	Tolerance float64
	// Critical: a failing critical metric fails the whole judgement
	// whatever the score, and a critical metric without data makes the
	// judgement Inconclusive (unless it fails outright).
	Critical bool
	// Weight is the metric's share of the score. Zero, negative or
	// non-finite means 1.
	Weight float64
	// MinSamples: fewer usable samples on either side make this metric
	// "nodata". Zero or negative means DefaultMinSamples.
	MinSamples int
	// Max and Min are optional absolute bounds on the canary's median
	// (threshold checks), applied in addition to the comparison. nil (or
	// NaN) means unset. The bounds themselves are allowed: the metric
	// fails only if the median is > *Max or < *Min.
	Max, Min *float64
}

// Metric outcomes.
const (
	OutcomePass   = "pass"
	OutcomeFail   = "fail"
	OutcomeNoData = "nodata"
)

// MetricResult is the judgement of one metric.
type MetricResult struct {
	Name    string
	Outcome string // "pass" | "fail" | "nodata"
	// Baseline and Canary are the samples used: the finite values given
	// for the metric, in their original order (NaN and ±Inf are dropped).
	Baseline, Canary []float64
	// Medians of the samples used; NaN when that side has no samples.
	BaselineMedian, CanaryMedian float64
	// PValue is the p-value of the Mann-Whitney test that decided the
	// metric: one-sided for Increase (H1: canary larger) and Decrease
	// (H1: canary smaller), two-sided for Either. NaN when not computed
	// (nodata).
	PValue float64
	// EffectSize is the relative change of medians, canary vs baseline:
	// (canary - baseline) / |baseline|. Positive means the canary's
	// median is higher. If the baseline median is 0 it is 0 when the
	// canary's is 0 too, otherwise ±Inf. NaN when not computed.
	EffectSize float64
	// Reason is a sentence: why pass/fail/nodata.
	Reason string
}

// Thresholds are the score thresholds (score 0-100), e.g. Pass 95,
// Marginal 75. The zero value (or a NaN field) means DefaultPass and
// DefaultMarginal; a Marginal above Pass is lowered to Pass.
type Thresholds struct{ Pass, Marginal float64 }

// Verdict is the outcome of a judgement.
type Verdict string

const (
	Pass         Verdict = "pass"
	Marginal     Verdict = "marginal"
	Fail         Verdict = "fail"
	Inconclusive Verdict = "inconclusive"
)

// Judgement is the result of Judge.
type Judgement struct {
	Verdict Verdict
	// Score is 0-100: the weighted share of passing metrics among those
	// with data (pass or fail). 0 when no metric has data.
	Score   float64
	Metrics []MetricResult
	Reason  string
}

// Judge compares canary and baseline samples per metric (keyed by
// Metric.Name) and gives a verdict.
//
// Per metric: NaN and ±Inf samples are dropped; if either side then has
// fewer than MinSamples values the metric is nodata — except that a canary
// with enough samples whose median breaks Max or Min fails even without a
// baseline. Otherwise the metric fails if its median breaks Max or Min, or
// if the Mann-Whitney test is significant (p < 1-Confidence) in the bad
// direction and the relative change of medians is beyond Tolerance; else it
// passes. Identical constant samples give p = 1.
//
// Score = 100 × Σweight(pass) / Σweight(pass+fail).
//
// Verdict, first rule that applies:
//   - Fail if any critical metric fails;
//   - Inconclusive if every metric is nodata (or there are no metrics);
//   - Fail if the score is below th.Marginal;
//   - Inconclusive if any critical metric is nodata;
//   - Marginal if the score is below th.Pass;
//   - Pass.
//
// Missing data is never good news: a judgement is Pass only if every
// critical metric had data and passed. A failure that is certain (a failed
// critical metric, a score below Marginal) wins over missing data.
func Judge(metrics []Metric, baseline, canary map[string][]float64, th Thresholds) Judgement {
	th = th.normalized()
	j := Judgement{Metrics: make([]MetricResult, 0, len(metrics))}

	// Weights are divided by the largest one so that their sums cannot
	// overflow, whatever the configuration.
	maxW := 0.0
	for _, m := range metrics {
		maxW = math.Max(maxW, m.weight())
	}
	var passW, totalW float64
	var criticalFail, criticalNoData []string
	for _, m := range metrics {
		r := judgeMetric(m, baseline[m.Name], canary[m.Name])
		j.Metrics = append(j.Metrics, r)
		w := m.weight() / maxW
		switch r.Outcome {
		case OutcomePass:
			passW += w
			totalW += w
		case OutcomeFail:
			totalW += w
			if m.Critical {
				criticalFail = append(criticalFail, m.Name)
			}
		default:
			if m.Critical {
				criticalNoData = append(criticalNoData, m.Name)
			}
		}
	}
	if totalW > 0 {
		j.Score = 100 * passW / totalW
		if !(j.Score >= 0) { // NaN cannot happen, but never report one
			j.Score = 0
		}
		j.Score = math.Min(100, j.Score)
	}
	score := fmt.Sprintf("score %.1f", j.Score)

	switch {
	case len(criticalFail) > 0:
		j.Verdict = Fail
		j.Reason = fmt.Sprintf("critical %s %s failed (%s)", plural(len(criticalFail), "metric", "metrics"), quoteList(criticalFail), score)
	case totalW == 0:
		j.Verdict = Inconclusive
		if len(metrics) == 0 {
			j.Reason = "no metrics to judge"
		} else {
			j.Reason = "no metric has enough data to judge"
		}
	case j.Score < th.Marginal:
		j.Verdict = Fail
		j.Reason = fmt.Sprintf("%s is below the marginal threshold %g", score, th.Marginal)
	case len(criticalNoData) > 0:
		j.Verdict = Inconclusive
		j.Reason = fmt.Sprintf("critical %s %s %s no data (%s)", plural(len(criticalNoData), "metric", "metrics"), quoteList(criticalNoData), plural(len(criticalNoData), "has", "have"), score)
	case j.Score < th.Pass:
		j.Verdict = Marginal
		j.Reason = fmt.Sprintf("%s is below the pass threshold %g but not below the marginal threshold %g", score, th.Pass, th.Marginal)
	default:
		j.Verdict = Pass
		j.Reason = fmt.Sprintf("%s meets the pass threshold %g", score, th.Pass)
	}
	if n := countOutcome(j.Metrics, OutcomeNoData); n > 0 && j.Verdict != Inconclusive {
		j.Reason += fmt.Sprintf("; %d %s without data not scored", n, plural(n, "metric", "metrics"))
	}
	return j
}

// judgeMetric judges one metric.
func judgeMetric(m Metric, baseline, canary []float64) MetricResult {
	r := MetricResult{
		Name:       m.Name,
		Baseline:   finite(baseline),
		Canary:     finite(canary),
		PValue:     math.NaN(),
		EffectSize: math.NaN(),
	}
	r.BaselineMedian = median(r.Baseline)
	r.CanaryMedian = median(r.Canary)

	minN := m.minSamples()
	canaryOK := len(r.Canary) >= minN
	baselineOK := len(r.Baseline) >= minN
	bound := ""
	if canaryOK {
		bound = m.brokenBound(r.CanaryMedian)
	}
	if !canaryOK || !baselineOK {
		var missing []string
		if !baselineOK {
			missing = append(missing, fmt.Sprintf("baseline has %d usable %s", len(r.Baseline), plural(len(r.Baseline), "sample", "samples")))
		}
		if !canaryOK {
			missing = append(missing, fmt.Sprintf("canary has %d usable %s", len(r.Canary), plural(len(r.Canary), "sample", "samples")))
		}
		need := fmt.Sprintf("%s, need at least %d", strings.Join(missing, " and "), minN)
		if bound != "" {
			r.Outcome = OutcomeFail
			r.Reason = fmt.Sprintf("%s (no comparison: %s)", bound, need)
			return r
		}
		r.Outcome = OutcomeNoData
		r.Reason = "not enough data: " + need
		return r
	}

	r.EffectSize = effectSize(r.BaselineMedian, r.CanaryMedian)
	alpha := 1 - m.confidence()
	tol := m.tolerance()
	dir := m.direction()

	var alt alternative
	var worse string // the bad change, for sentences
	switch dir {
	case Increase:
		alt, worse = aGreater, "increase"
	case Decrease:
		alt, worse = aLess, "decrease"
	default:
		alt, worse = twoSided, "change"
	}
	_, r.PValue = mannWhitney(r.Canary, r.Baseline, alt)
	sided := "one-sided"
	if alt == twoSided {
		sided = "two-sided"
	}
	test := fmt.Sprintf("%s Mann-Whitney p=%.4g", sided, r.PValue)
	medians := fmt.Sprintf("medians canary %.4g, baseline %.4g (%s)", r.CanaryMedian, r.BaselineMedian, describeEffect(r.EffectSize))

	significant := r.PValue < alpha
	beyond := true
	if tol > 0 {
		switch dir {
		case Increase:
			beyond = r.EffectSize > tol
		case Decrease:
			beyond = r.EffectSize < -tol
		default:
			beyond = math.Abs(r.EffectSize) > tol
		}
	}

	switch {
	case bound != "" && significant && beyond:
		r.Outcome = OutcomeFail
		r.Reason = fmt.Sprintf("%s, and a significant %s (%s, %s < %.4g)", bound, worse, medians, test, alpha)
	case bound != "":
		r.Outcome = OutcomeFail
		r.Reason = fmt.Sprintf("%s (%s, %s)", bound, medians, test)
	case significant && beyond:
		r.Outcome = OutcomeFail
		if tol > 0 {
			r.Reason = fmt.Sprintf("significant %s beyond the %s tolerance: %s (%s < %.4g)", worse, percent(tol), medians, test, alpha)
		} else {
			r.Reason = fmt.Sprintf("significant %s: %s (%s < %.4g)", worse, medians, test, alpha)
		}
	case significant:
		r.Outcome = OutcomePass
		r.Reason = fmt.Sprintf("significant %s within the %s tolerance: %s (%s < %.4g)", worse, percent(tol), medians, test, alpha)
	default:
		r.Outcome = OutcomePass
		r.Reason = fmt.Sprintf("no significant %s: %s (%s ≥ %.4g)", worse, medians, test, alpha)
	}
	return r
}

// brokenBound describes the Max/Min bound the canary median breaks, or "".
func (m Metric) brokenBound(canaryMedian float64) string {
	if m.Max != nil && !math.IsNaN(*m.Max) && canaryMedian > *m.Max {
		return fmt.Sprintf("canary median %.4g is above the maximum %g", canaryMedian, *m.Max)
	}
	if m.Min != nil && !math.IsNaN(*m.Min) && canaryMedian < *m.Min {
		return fmt.Sprintf("canary median %.4g is below the minimum %g", canaryMedian, *m.Min)
	}
	return ""
}

func (m Metric) direction() Direction {
	switch m.Direction {
	case Increase, Decrease:
		return m.Direction
	}
	return Either
}

func (m Metric) confidence() float64 {
	if m.Confidence > 0 && m.Confidence < 1 {
		return m.Confidence
	}
	return DefaultConfidence
}

func (m Metric) tolerance() float64 {
	if m.Tolerance > 0 { // false for NaN
		return m.Tolerance
	}
	return 0
}

func (m Metric) weight() float64 {
	if m.Weight > 0 && !math.IsInf(m.Weight, 1) {
		return m.Weight
	}
	return 1
}

func (m Metric) minSamples() int {
	if m.MinSamples > 0 {
		return m.MinSamples
	}
	return DefaultMinSamples
}

func (th Thresholds) normalized() Thresholds {
	if math.IsNaN(th.Pass) || math.IsNaN(th.Marginal) || (th.Pass == 0 && th.Marginal == 0) {
		return Thresholds{Pass: DefaultPass, Marginal: DefaultMarginal}
	}
	if th.Marginal > th.Pass {
		th.Marginal = th.Pass
	}
	return th
}

// finite returns a copy of xs without NaN and ±Inf.
func finite(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			out = append(out, x)
		}
	}
	return out
}

// median of finite values; NaN for an empty slice.
func median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	// Halve first so that two huge values do not overflow to Inf.
	return s[n/2-1]/2 + s[n/2]/2
}

// effectSize is the relative change of medians, canary vs baseline.
func effectSize(baseline, canary float64) float64 {
	if baseline == 0 {
		switch {
		case canary > 0:
			return math.Inf(1)
		case canary < 0:
			return math.Inf(-1)
		}
		return 0
	}
	return (canary - baseline) / math.Abs(baseline)
}

func describeEffect(e float64) string {
	switch {
	case math.IsInf(e, 1):
		return "up from zero"
	case math.IsInf(e, -1):
		return "down from zero"
	case e > 0:
		return percent(e) + " higher"
	case e < 0:
		return percent(-e) + " lower"
	}
	return "no change"
}

func percent(f float64) string {
	return fmt.Sprintf("%.4g%%", 100*f)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

func countOutcome(rs []MetricResult, outcome string) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == outcome {
			n++
		}
	}
	return n
}
