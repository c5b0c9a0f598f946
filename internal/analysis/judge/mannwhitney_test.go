package judge

import (
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// exactTails computes, by enumerating every way of choosing which len(a)
// of the pooled positions belong to a, the exact null distribution of U
// (midranks for ties, i.e. conditional on the tie pattern) and returns
// P(U <= u) and P(U >= u) for the observed u of a against b. Only for
// small samples: len(a)+len(b) <= 20.
func exactTails(t *testing.T, a, b []float64) (u, lower, upper float64) {
	t.Helper()
	n1, n := len(a), len(a)+len(b)
	require.LessOrEqual(t, n, 20)
	pooled := slices.Concat(a, b)
	slices.Sort(pooled)
	// twiceRank[i] is twice the midrank of pooled[i] (an integer).
	twiceRank := make([]int, n)
	for i := 0; i < n; {
		j := i
		for j < n && pooled[j] == pooled[i] {
			j++
		}
		for k := i; k < j; k++ {
			twiceRank[k] = i + 1 + j // (i+1 + j) / 2 is the midrank of ranks i+1..j
		}
		i = j
	}
	twiceU := func(twiceR1 int) int { return twiceR1 - n1*(n1+1) }

	// Observed: U by counting pairs, independently of ranks.
	obs := 0 // 2U
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				obs += 2
			case x == y:
				obs++
			}
		}
	}
	var total, le, ge int
	for mask := uint32(0); mask < 1<<n; mask++ {
		if bits.OnesCount32(mask) != n1 {
			continue
		}
		r := 0
		for i := range n {
			if mask&(1<<i) != 0 {
				r += twiceRank[i]
			}
		}
		total++
		if tu := twiceU(r); tu <= obs {
			le++
		}
		if tu := twiceU(r); tu >= obs {
			ge++
		}
	}
	return float64(obs) / 2, float64(le) / float64(total), float64(ge) / float64(total)
}

func twoSidedFromTails(lower, upper float64) float64 {
	return math.Min(1, 2*math.Min(lower, upper))
}

// TestMannWhitneyTextbook checks two published small-sample examples, each
// also against the exact distribution enumerated here.
func TestMannWhitneyTextbook(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		a, b     []float64
		wantU    float64
		wantP    float64 // two-sided, exact
		wantOneP float64 // one-sided, H1: a greater than b
	}{
		{
			// Hollander & Wolfe (1973), Nonparametric Statistical
			// Methods, p. 69 (also the example of R's wilcox.test:
			// W = 35, one-sided p-value = 0.1272).
			name:     "Hollander-Wolfe p69",
			a:        []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46},
			b:        []float64{1.15, 0.88, 0.90, 0.74, 1.21},
			wantU:    35,
			wantP:    0.2544,
			wantOneP: 0.1272,
		},
		{
			// Ages of males and females (the example in SciPy's
			// mannwhitneyu documentation): U1 = 17, exact two-sided
			// p = 14/126 = 0.1111.
			name:     "ages male vs female",
			a:        []float64{19, 22, 16, 29, 24},
			b:        []float64{20, 11, 17, 12},
			wantU:    17,
			wantP:    0.1111,
			wantOneP: 0.0556,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, p := MannWhitney(tt.a, tt.b)
			require.Equal(t, tt.wantU, u)
			require.InDelta(t, tt.wantP, p, 5e-5)

			eu, lower, upper := exactTails(t, tt.a, tt.b)
			require.Equal(t, eu, u)
			require.InDelta(t, twoSidedFromTails(lower, upper), p, 1e-12)
			require.InDelta(t, tt.wantOneP, upper, 5e-5)

			_, pg := mannWhitney(tt.a, tt.b, aGreater)
			require.InDelta(t, upper, pg, 1e-12)
			_, pl := mannWhitney(tt.a, tt.b, aLess)
			require.InDelta(t, lower, pl, 1e-12)

			// Swapping the samples mirrors U and keeps p.
			u2, p2 := MannWhitney(tt.b, tt.a)
			require.Equal(t, float64(len(tt.a)*len(tt.b))-u, u2)
			require.InDelta(t, p, p2, 1e-12)
		})
	}
}

// TestMannWhitneyExactMatchesEnumeration compares small random samples,
// with and without ties, to the enumerated exact distribution, for the
// two-sided and both one-sided alternatives.
func TestMannWhitneyExactMatchesEnumeration(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		levels int // values drawn from 0..levels-1; few levels = many ties
	}{
		{name: "no ties", levels: 0},
		{name: "heavy ties", levels: 3},
		{name: "some ties", levels: 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(42, uint64(tt.levels)))
			draw := func(n int) []float64 {
				xs := make([]float64, n)
				for i := range xs {
					if tt.levels == 0 {
						xs[i] = rng.Float64()
					} else {
						xs[i] = float64(rng.IntN(tt.levels))
					}
				}
				return xs
			}
			for range 60 {
				a, b := draw(1+rng.IntN(7)), draw(1+rng.IntN(7))
				eu, lower, upper := exactTails(t, a, b)

				u, p := MannWhitney(a, b)
				require.Equal(t, eu, u, "a=%v b=%v", a, b)
				allEqual := slices.Min(a) == slices.Max(a) && slices.Min(b) == slices.Max(b) && a[0] == b[0]
				if allEqual {
					require.Equal(t, 1.0, p)
					continue
				}
				require.InDelta(t, twoSidedFromTails(lower, upper), p, 1e-9, "a=%v b=%v", a, b)
				_, pg := mannWhitney(a, b, aGreater)
				require.InDelta(t, upper, pg, 1e-9, "greater a=%v b=%v", a, b)
				_, pl := mannWhitney(a, b, aLess)
				require.InDelta(t, lower, pl, 1e-9, "less a=%v b=%v", a, b)
			}
		})
	}
}

// normalApprox is the textbook large-sample p-value: U's mean n1n2/2,
// variance n1n2/12 · ((N+1) − Σ(t³−t)/(N(N−1))) with tie groups of size
// t, continuity correction of 1/2 towards the mean.
func normalApprox(a, b []float64) (u, p float64) {
	n1, n2 := float64(len(a)), float64(len(b))
	for _, x := range a {
		for _, y := range b {
			switch {
			case x > y:
				u++
			case x == y:
				u += 0.5
			}
		}
	}
	counts := map[float64]float64{}
	for _, x := range slices.Concat(a, b) {
		counts[x]++
	}
	tie := 0.0
	for _, c := range counts {
		tie += c*c*c - c
	}
	n := n1 + n2
	mu := n1 * n2 / 2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tie/(n*(n-1))))
	d := math.Max(0, math.Abs(u-mu)-0.5)
	z := d / sigma
	return u, math.Erfc(z / math.Sqrt2)
}

func TestMannWhitneyLargeSample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b []float64
	}{
		{
			// 60 vs 70 integer values with many ties, canary shifted
			// by a little: p is moderate.
			name: "ties, small shift",
			a:    seq(60, func(i int) float64 { return float64(i%13) + 1 }),
			b:    seq(70, func(i int) float64 { return float64((i * 7) % 13) }),
		},
		{
			name: "no ties, large shift",
			a:    seq(80, func(i int) float64 { return float64(i) + 0.25 }),
			b:    seq(90, func(i int) float64 { return float64(i)*0.9 + 12.5 }),
		},
		{
			name: "identical",
			a:    seq(100, func(i int) float64 { return float64(i % 17) }),
			b:    seq(100, func(i int) float64 { return float64(i % 17) }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantU, wantP := normalApprox(tt.a, tt.b)
			u, p := MannWhitney(tt.a, tt.b)
			require.Equal(t, wantU, u)
			require.InDelta(t, wantP, p, 1e-9)
		})
	}

	// A fixed value, so that a change of method shows (computed
	// separately by hand-written formula): 60 vs 70 values above,
	// U = 2360, z = (2360 − 2100 − 0.5) / σ = 1.2153, p = 0.2242.
	u, p := MannWhitney(tests[0].a, tests[0].b)
	require.Equal(t, 2360.0, u)
	require.InDelta(t, 0.2242, p, 5e-5)
}

func TestMannWhitneyEdgeCases(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	tests := []struct {
		name  string
		a, b  []float64
		wantU float64 // NaN: want NaN
		wantP float64
	}{
		{name: "empty a", a: nil, b: []float64{1, 2}, wantU: nan, wantP: nan},
		{name: "only NaN", a: []float64{nan, nan}, b: []float64{1, 2}, wantU: nan, wantP: nan},
		{name: "constant", a: []float64{3, 3, 3}, b: []float64{3, 3}, wantU: 3, wantP: 1},
		{name: "constant large", a: seq(300, func(int) float64 { return 7 }), b: seq(200, func(int) float64 { return 7 }), wantU: 30000, wantP: 1},
		{name: "NaN dropped", a: []float64{1, nan, 2, 3}, b: []float64{4, 5, 6, nan}, wantU: 0, wantP: 0.1},
		{name: "one each", a: []float64{1}, b: []float64{2}, wantU: 0, wantP: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, p := MannWhitney(tt.a, tt.b)
			if math.IsNaN(tt.wantU) {
				require.True(t, math.IsNaN(u), "u = %v", u)
				require.True(t, math.IsNaN(p), "p = %v", p)
				return
			}
			require.Equal(t, tt.wantU, u)
			require.InDelta(t, tt.wantP, p, 1e-12)
		})
	}
}

func seq(n int, f func(i int) float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = f(i)
	}
	return xs
}
