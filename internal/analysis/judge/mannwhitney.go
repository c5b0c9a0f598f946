package judge

import (
	"math"

	"github.com/aclements/go-moremath/stats"
)

// alternative is the alternative hypothesis of a Mann-Whitney test of
// sample a against sample b.
type alternative int

const (
	twoSided alternative = iota // a and b differ in location
	aGreater                    // a tends to be larger than b
	aLess                       // a tends to be smaller than b
)

// MannWhitney returns the Mann-Whitney U statistic of sample a against
// sample b and the two-sided p-value of the test that both samples come
// from the same distribution.
//
// u counts the pairs (x from a, y from b) with x > y, ties counting one
// half; it lies in [0, len(a)*len(b)] and the U of b against a is
// len(a)*len(b) - u.
//
// For small samples the p-value is exact: up to 50 values per side
// without ties, up to 25 per side with ties (the exact distribution
// conditional on the tie pattern). Larger samples use the normal
// approximation with tie and continuity corrections. The two-sided p is
// twice the smaller one-sided p, capped at 1 (with ties the exact
// distribution is not symmetric, so both tails are computed).
//
// NaN values are dropped (they cannot be ranked); ±Inf are ranked like
// any other value. If either sample is empty after that, u and p are
// NaN. If every value on both sides is equal, there is no evidence of a
// difference: p is 1 and u is len(a)*len(b)/2.
func MannWhitney(a, b []float64) (u float64, p float64) {
	return mannWhitney(dropNaN(a), dropNaN(b), twoSided)
}

// mannWhitney runs the test for the given alternative. a and b must not
// contain NaN.
//
// Every tail is computed as a lower tail (go-moremath's LocationLess, the
// CDF at the observed U), the upper tail by swapping the samples: U of b
// is n1·n2 − U of a for every arrangement, so P(U_b ≤ n1·n2 − u) is
// exactly P(U_a ≥ u). go-moremath's own LocationGreater and
// LocationDiffers are not used: with ties they evaluate the CDF at U−1
// and assume a symmetric distribution, and the exact conditional
// distribution with ties is neither integer-valued nor symmetric, so both
// can be off by the mass of a few arrangements (checked against
// enumeration in the tests).
func mannWhitney(a, b []float64, alt alternative) (u float64, p float64) {
	n1, n2 := len(a), len(b)
	if n1 == 0 || n2 == 0 {
		return math.NaN(), math.NaN()
	}
	nn := float64(n1) * float64(n2)
	lowerTail := func(x, y []float64) (u, p float64, ok bool) {
		res, err := stats.MannWhitneyUTest(x, y, stats.LocationLess)
		if err != nil {
			return 0, 0, false
		}
		return res.U, clamp01(res.P), true
	}
	var lower, upper float64
	var ok bool
	switch alt {
	case aLess:
		u, p, ok = lowerTail(a, b)
	case aGreater:
		var ub float64
		ub, p, ok = lowerTail(b, a)
		u = nn - ub
	default:
		u, lower, ok = lowerTail(a, b)
		if ok {
			_, upper, ok = lowerTail(b, a)
		}
		p = math.Min(1, 2*math.Min(lower, upper))
	}
	if !ok {
		// The samples are non-empty and NaN-free, so the only failure
		// is "all values are equal": no evidence of any difference.
		return nn / 2, 1
	}
	return u, p
}

func clamp01(p float64) float64 {
	switch {
	case math.IsNaN(p):
		return p
	case p < 0:
		return 0
	case p > 1:
		return 1
	}
	return p
}

func dropNaN(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}
