package judge

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// normal returns n deterministic samples from N(mean, sd²).
func normal(seed uint64, n int, mean, sd float64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x6a7564676521))
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean + sd*rng.NormFloat64()
	}
	return xs
}

func repeat(v float64, n int) []float64 {
	return seq(n, func(int) float64 { return v })
}

func ptr(f float64) *float64 { return &f }

var defaultTh = Thresholds{Pass: 95, Marginal: 75}

// TestJudgeMetric judges one metric per case and checks its result.
func TestJudgeMetric(t *testing.T) {
	t.Parallel()
	steady := normal(1, 30, 100, 5)
	tests := []struct {
		name             string
		metric           Metric
		baseline, canary []float64
		want             string // outcome
		pValue           func(t *testing.T, p float64)
		reason           string // substring of Reason
	}{
		{
			name:     "identical",
			metric:   Metric{Direction: Either},
			baseline: steady, canary: slices.Clone(steady),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.InDelta(t, 1, p, 1e-12) },
			reason: "no significant change",
		},
		{
			name:     "identical, one-sided",
			metric:   Metric{Direction: Increase},
			baseline: steady, canary: slices.Clone(steady),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Greater(t, p, 0.4) },
		},
		{
			name:     "shifted up",
			metric:   Metric{Direction: Increase},
			baseline: steady, canary: normal(2, 30, 150, 5),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
			reason: "significant increase",
		},
		{
			name:     "shifted up, either direction",
			metric:   Metric{},
			baseline: steady, canary: normal(2, 30, 150, 5),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
			reason: "two-sided",
		},
		{
			name:     "noisy, overlapping",
			metric:   Metric{Direction: Increase},
			baseline: normal(3, 30, 100, 30), canary: normal(4, 30, 103, 30),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Greater(t, p, 0.05) },
		},
		{
			name:     "empty canary",
			metric:   Metric{Direction: Increase},
			baseline: steady, canary: nil,
			want:   OutcomeNoData,
			pValue: func(t *testing.T, p float64) { require.True(t, math.IsNaN(p)) },
			reason: "canary has 0 usable samples, need at least 3",
		},
		{
			name:     "too few baseline samples",
			metric:   Metric{Direction: Increase, MinSamples: 10},
			baseline: steady[:9], canary: steady,
			want:   OutcomeNoData,
			pValue: func(t *testing.T, p float64) { require.True(t, math.IsNaN(p)) },
			reason: "baseline has 9 usable samples, need at least 10",
		},
		{
			name:     "NaN and Inf only",
			metric:   Metric{Direction: Increase},
			baseline: steady, canary: []float64{math.NaN(), math.Inf(1), math.Inf(-1), math.NaN()},
			want:   OutcomeNoData,
			pValue: func(t *testing.T, p float64) { require.True(t, math.IsNaN(p)) },
		},
		{
			name:     "constant",
			metric:   Metric{Direction: Increase},
			baseline: repeat(5, 20), canary: repeat(5, 20),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Equal(t, 1.0, p) },
		},
		{
			name:     "latency goes down: fine",
			metric:   Metric{Direction: Increase},
			baseline: steady, canary: normal(5, 30, 60, 5),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Greater(t, p, 0.99) },
			reason: "no significant increase",
		},
		{
			name:     "throughput goes down: fails",
			metric:   Metric{Direction: Decrease},
			baseline: steady, canary: normal(5, 30, 60, 5),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
			reason: "significant decrease",
		},
		{
			name:     "throughput goes up: fine",
			metric:   Metric{Direction: Decrease},
			baseline: steady, canary: normal(2, 30, 150, 5),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Greater(t, p, 0.99) },
		},
		{
			name:     "significant 5% increase within 10% tolerance",
			metric:   Metric{Direction: Increase, Tolerance: 0.1},
			baseline: normal(6, 40, 100, 1), canary: normal(7, 40, 105, 1),
			want:   OutcomePass,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
			reason: "within the 10% tolerance",
		},
		{
			name:     "significant 5% increase, no tolerance",
			metric:   Metric{Direction: Increase},
			baseline: normal(6, 40, 100, 1), canary: normal(7, 40, 105, 1),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
		},
		{
			name:     "significant 15% increase beyond 10% tolerance",
			metric:   Metric{Direction: Increase, Tolerance: 0.1},
			baseline: normal(6, 40, 100, 1), canary: normal(7, 40, 115, 1),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 1e-6) },
			reason: "beyond the 10% tolerance",
		},
		{
			name:     "15% decrease beyond tolerance, either direction",
			metric:   Metric{Direction: Either, Tolerance: 0.1},
			baseline: normal(6, 40, 100, 1), canary: normal(7, 40, 85, 1),
			want: OutcomeFail,
		},
		{
			// Medians are both 0, but 8 of 20 canary intervals have
			// errors: with no tolerance that is a failure.
			name:     "mostly-zero error rate",
			metric:   Metric{Direction: Increase},
			baseline: repeat(0, 20), canary: append(repeat(0, 12), 0.1, 0.3, 0.2, 0.1, 0.5, 0.2, 0.1, 0.4),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Less(t, p, 0.01) },
		},
		{
			name:     "error rate up from zero, tolerance",
			metric:   Metric{Direction: Increase, Tolerance: 0.5},
			baseline: repeat(0, 20), canary: normal(8, 20, 1, 0.1),
			want:   OutcomeFail,
			reason: "up from zero",
		},
		{
			// Hollander & Wolfe's example: one-sided p = 0.1272.
			name:     "textbook sample, confidence 0.95",
			metric:   Metric{Direction: Increase, Confidence: 0.95},
			baseline: []float64{1.15, 0.88, 0.90, 0.74, 1.21},
			canary:   []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46},
			want:     OutcomePass,
			pValue:   func(t *testing.T, p float64) { require.InDelta(t, 0.1272, p, 5e-5) },
			reason:   "one-sided Mann-Whitney p=0.1272",
		},
		{
			name:     "textbook sample, confidence 0.8",
			metric:   Metric{Direction: Increase, Confidence: 0.8},
			baseline: []float64{1.15, 0.88, 0.90, 0.74, 1.21},
			canary:   []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46},
			want:     OutcomeFail,
			pValue:   func(t *testing.T, p float64) { require.InDelta(t, 0.1272, p, 5e-5) },
		},
		{
			name:     "Max bound broken without a significant change",
			metric:   Metric{Direction: Increase, Max: ptr(90)},
			baseline: steady, canary: slices.Clone(steady),
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.Greater(t, p, 0.4) },
			reason: "above the maximum 90",
		},
		{
			name:     "Max bound held",
			metric:   Metric{Direction: Increase, Max: ptr(110)},
			baseline: steady, canary: slices.Clone(steady),
			want: OutcomePass,
		},
		{
			name:     "Min bound broken",
			metric:   Metric{Direction: Increase, Min: ptr(120)},
			baseline: steady, canary: slices.Clone(steady),
			want:   OutcomeFail,
			reason: "below the minimum 120",
		},
		{
			name:     "Max bound broken, baseline missing",
			metric:   Metric{Direction: Increase, Max: ptr(0.5)},
			baseline: nil, canary: []float64{0.9, 0.8, 0.95, 0.7},
			want:   OutcomeFail,
			pValue: func(t *testing.T, p float64) { require.True(t, math.IsNaN(p)) },
			reason: "no comparison: baseline has 0 usable samples",
		},
		{
			name:     "Max bound held, baseline missing",
			metric:   Metric{Direction: Increase, Max: ptr(0.5)},
			baseline: nil, canary: []float64{0.1, 0.2, 0.1},
			want: OutcomeNoData,
		},
		{
			name:     "NaN samples dropped",
			metric:   Metric{Direction: Increase},
			baseline: append(slices.Clone(steady), math.NaN(), math.Inf(1)),
			canary:   append(normal(2, 30, 150, 5), math.NaN()),
			want:     OutcomeFail,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := tt.metric
			m.Name = "m"
			j := Judge([]Metric{m}, map[string][]float64{"m": tt.baseline}, map[string][]float64{"m": tt.canary}, defaultTh)
			require.Len(t, j.Metrics, 1)
			r := j.Metrics[0]
			require.Equal(t, "m", r.Name)
			require.Equal(t, tt.want, r.Outcome, r.Reason)
			require.NotEmpty(t, r.Reason)
			if tt.pValue != nil {
				tt.pValue(t, r.PValue)
			}
			if tt.reason != "" {
				require.Contains(t, r.Reason, tt.reason)
			}
			require.Equal(t, finite(tt.baseline), r.Baseline)
			require.Equal(t, finite(tt.canary), r.Canary)
			if r.Outcome != OutcomeNoData && len(r.Baseline) > 0 {
				require.Equal(t, median(r.Baseline), r.BaselineMedian)
				require.Equal(t, median(r.Canary), r.CanaryMedian)
				require.Equal(t, effectSize(r.BaselineMedian, r.CanaryMedian), r.EffectSize)
			}
			// The single metric decides the verdict.
			want := map[string]Verdict{OutcomePass: Pass, OutcomeFail: Fail, OutcomeNoData: Inconclusive}[r.Outcome]
			require.Equal(t, want, j.Verdict, j.Reason)
		})
	}
}

func TestEffectSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		baseline, canary, want float64
	}{
		{100, 110, 0.1},
		{100, 90, -0.1},
		{-100, -90, 0.1}, // higher is positive, also for negative values
		{0, 0, 0},
		{0, 1, math.Inf(1)},
		{0, -1, math.Inf(-1)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%g→%g", tt.baseline, tt.canary), func(t *testing.T) {
			t.Parallel()
			require.InDelta(t, tt.want, effectSize(tt.baseline, tt.canary), 1e-12)
		})
	}
}

// TestJudgeVerdict checks scores and verdicts over several metrics.
func TestJudgeVerdict(t *testing.T) {
	t.Parallel()
	steady := normal(1, 30, 100, 5)
	worse := normal(2, 30, 150, 5)
	type sample int
	const (
		good sample = iota // canary like the baseline: the metric passes
		bad                // canary much higher: an Increase metric fails
		none               // no canary data: nodata
	)
	type m struct {
		critical bool
		weight   float64
		data     sample
	}
	many := func(n int, x m) []m {
		out := make([]m, n)
		for i := range out {
			out[i] = x
		}
		return out
	}
	tests := []struct {
		name    string
		metrics []m
		th      Thresholds
		want    Verdict
		score   float64
		reason  string
	}{
		{name: "all pass", metrics: many(3, m{data: good}), want: Pass, score: 100},
		{name: "no metrics", metrics: nil, want: Inconclusive, score: 0, reason: "no metrics"},
		{name: "all nodata", metrics: many(3, m{data: none}), want: Inconclusive, score: 0, reason: "no metric has enough data"},
		{
			name:    "critical failure overrides a high score",
			metrics: append(many(19, m{data: good}), m{critical: true, data: bad}),
			want:    Fail, score: 95, reason: `critical metric "m19" failed`,
		},
		{
			name:    "non-critical failure, same score",
			metrics: append(many(19, m{data: good}), m{data: bad}),
			want:    Pass, score: 95,
		},
		{
			name:    "weights: heavy pass, light fail",
			metrics: []m{{weight: 3, data: good}, {weight: 1, data: bad}},
			want:    Marginal, score: 75,
		},
		{
			name:    "weights: light pass, heavy fail",
			metrics: []m{{weight: 1, data: good}, {weight: 3, data: bad}},
			want:    Fail, score: 25, reason: "below the marginal threshold 75",
		},
		{
			name:    "zero weight means 1",
			metrics: []m{{weight: 0, data: good}, {weight: 1, data: bad}},
			want:    Fail, score: 50,
		},
		{
			name:    "nodata is not scored",
			metrics: []m{{data: good}, {data: good}, {data: none}},
			want:    Pass, score: 100, reason: "1 metric without data",
		},
		{
			name:    "critical nodata is inconclusive, not pass",
			metrics: []m{{data: good}, {data: good}, {critical: true, data: none}},
			want:    Inconclusive, score: 100, reason: `critical metric "m2" has no data`,
		},
		{
			name:    "critical nodata, but the score fails anyway",
			metrics: []m{{data: bad}, {data: bad}, {critical: true, data: none}},
			want:    Fail, score: 0,
		},
		{
			name:    "critical pass",
			metrics: []m{{critical: true, data: good}, {data: good}},
			want:    Pass, score: 100,
		},
		{
			name:    "zero thresholds mean the defaults",
			metrics: []m{{weight: 4, data: good}, {weight: 1, data: bad}},
			th:      Thresholds{},
			want:    Marginal, score: 80,
		},
		{
			name:    "custom thresholds",
			metrics: []m{{weight: 4, data: good}, {weight: 1, data: bad}},
			th:      Thresholds{Pass: 80, Marginal: 50},
			want:    Pass, score: 80,
		},
		{
			name:    "marginal above pass: no marginal band",
			metrics: []m{{weight: 4, data: good}, {weight: 1, data: bad}},
			th:      Thresholds{Pass: 90, Marginal: 99},
			want:    Fail, score: 80,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var metrics []Metric
			baseline, canary := map[string][]float64{}, map[string][]float64{}
			for i, x := range tt.metrics {
				name := fmt.Sprintf("m%d", i)
				metrics = append(metrics, Metric{Name: name, Direction: Increase, Critical: x.critical, Weight: x.weight})
				baseline[name] = steady
				switch x.data {
				case good:
					canary[name] = steady
				case bad:
					canary[name] = worse
				}
			}
			th := tt.th
			if th == (Thresholds{}) && tt.name != "zero thresholds mean the defaults" {
				th = defaultTh
			}
			j := Judge(metrics, baseline, canary, th)
			require.Equal(t, tt.want, j.Verdict, j.Reason)
			require.InDelta(t, tt.score, j.Score, 1e-9)
			require.Len(t, j.Metrics, len(metrics))
			require.NotEmpty(t, j.Reason)
			if tt.reason != "" {
				require.Contains(t, j.Reason, tt.reason)
			}
		})
	}
}

// floats decodes b as little-endian float64s (any bit pattern, so NaN,
// ±Inf and subnormals included), at most max of them.
func floats(b []byte, max int) []float64 {
	var out []float64
	for len(b) >= 8 && len(out) < max {
		out = append(out, math.Float64frombits(binary.LittleEndian.Uint64(b)))
		b = b[8:]
	}
	return out
}

func f64bytes(xs ...float64) []byte {
	b := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// FuzzJudge: Judge never panics, the score is within [0, 100], the verdict
// is one of the four, every metric has a valid outcome, and a Pass never
// hides a critical metric without a passing result.
func FuzzJudge(f *testing.F) {
	f.Add(f64bytes(1, 2, 3, 4, 5), f64bytes(1, 2, 3, 4, 5), uint8(0), 0.95, 0.0, 1.0, false, 95.0, 75.0, math.NaN(), math.NaN(), uint8(3))
	f.Add(f64bytes(1, 2, 3, 4, 5), f64bytes(10, 20, 30, 40, 50), uint8(1), 0.99, 0.1, 2.0, true, 95.0, 75.0, 30.0, math.NaN(), uint8(1))
	f.Add(f64bytes(0, 0, 0, 0), f64bytes(0, 0, 1, math.NaN(), math.Inf(1)), uint8(2), 0.0, -1.0, -3.0, true, 0.0, 0.0, math.NaN(), 0.5, uint8(0))
	f.Add(f64bytes(5, 5, 5), f64bytes(5, 5, 5), uint8(7), math.NaN(), math.Inf(1), math.Inf(1), false, math.NaN(), math.Inf(-1), math.Inf(1), math.Inf(-1), uint8(255))
	f.Add([]byte{}, f64bytes(1e308, -1e308, math.MaxFloat64, 5e-324), uint8(1), 1.0, math.NaN(), 1e308, true, 100.0, 100.0, 0.0, 0.0, uint8(2))
	f.Fuzz(func(t *testing.T, base, can []byte, dir uint8, confidence, tolerance, weight float64, critical bool, pass, marginal, max, min float64, nMetrics uint8) {
		directions := []Direction{Increase, Decrease, Either, "", "sideways"}
		b, c := floats(base, 40), floats(can, 40)
		var metrics []Metric
		baseline, canary := map[string][]float64{}, map[string][]float64{}
		n := int(nMetrics % 6)
		for i := range n {
			m := Metric{
				Name:       fmt.Sprintf("m%d", i%4), // duplicates on purpose
				Direction:  directions[(int(dir)+i)%len(directions)],
				Confidence: confidence,
				Tolerance:  tolerance,
				Critical:   critical && i%2 == 0,
				Weight:     weight * float64(i),
				MinSamples: i - 1,
			}
			if !math.IsNaN(max) {
				m.Max = &max
			}
			if !math.IsNaN(min) && i%2 == 1 {
				m.Min = &min
			}
			metrics = append(metrics, m)
			baseline[m.Name] = b[:len(b)*(i+1)/n]
			canary[m.Name] = c[len(c)*i/(n+1):]
		}
		j := Judge(metrics, baseline, canary, Thresholds{Pass: pass, Marginal: marginal})

		require.Contains(t, []Verdict{Pass, Marginal, Fail, Inconclusive}, j.Verdict)
		require.False(t, math.IsNaN(j.Score))
		require.GreaterOrEqual(t, j.Score, 0.0)
		require.LessOrEqual(t, j.Score, 100.0)
		require.NotEmpty(t, j.Reason)
		require.Len(t, j.Metrics, len(metrics))
		for i, r := range j.Metrics {
			require.Contains(t, []string{OutcomePass, OutcomeFail, OutcomeNoData}, r.Outcome)
			require.NotEmpty(t, r.Reason)
			if !math.IsNaN(r.PValue) {
				require.GreaterOrEqual(t, r.PValue, 0.0)
				require.LessOrEqual(t, r.PValue, 1.0)
			} else {
				require.NotEqual(t, OutcomePass, r.Outcome)
			}
			if j.Verdict == Pass && metrics[i].Critical {
				require.Equal(t, OutcomePass, r.Outcome)
			}
			for _, x := range slices.Concat(r.Baseline, r.Canary) {
				require.False(t, math.IsNaN(x) || math.IsInf(x, 0))
			}
		}

		u, p := MannWhitney(b, c)
		if !math.IsNaN(p) {
			require.GreaterOrEqual(t, p, 0.0)
			require.LessOrEqual(t, p, 1.0)
			require.GreaterOrEqual(t, u, 0.0)
			require.LessOrEqual(t, u, float64(len(dropNaN(b))*len(dropNaN(c))))
		}
	})
}

// BenchmarkJudge: 10 metrics × 200 samples per side.
func BenchmarkJudge(b *testing.B) {
	const metricsN, samples = 10, 200
	var metrics []Metric
	baseline, canary := map[string][]float64{}, map[string][]float64{}
	for i := range metricsN {
		name := fmt.Sprintf("metric-%d", i)
		metrics = append(metrics, Metric{Name: name, Direction: []Direction{Increase, Decrease, Either}[i%3], Tolerance: 0.05, Critical: i == 0})
		baseline[name] = normal(uint64(2*i), samples, 100, 10)
		canary[name] = normal(uint64(2*i+1), samples, 100+float64(i), 10)
	}
	b.ReportAllocs()
	for b.Loop() {
		Judge(metrics, baseline, canary, defaultTh)
	}
}
