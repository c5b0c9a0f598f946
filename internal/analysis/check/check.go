// Package check evaluates the checks that watch a release while it bakes:
// an HTTP health endpoint, a Prometheus or Datadog metric held against a
// bound, or a command. Each kind of check lives in its own file; New picks
// the one a Spec asks for.
//
// A check ends in one of three outcomes, and the difference between the last
// two is what keeps SPEC rules 8 and 9:
//
//   - Healthy: the check measured what it was asked to measure, and it is
//     within bounds.
//   - Failing: the check measured something bad. This is a signal about the
//     release, and the caller pulls the brake on it (rule 8).
//   - Inconclusive: the check could not measure. This is no signal at all,
//     and in particular never good news (rule 9): the bake waits.
//
// Which side of that line a broken measurement falls on depends on what was
// being watched:
//
//   - http: the endpoint IS the release. A connection that is refused, a
//     name that does not resolve, a TLS error or no answer within the
//     timeout all mean that the app is down or hanging, so they are Failing,
//     not Inconclusive.
//   - prometheus, datadog: the metrics system is a witness, not the release.
//     When it cannot be reached, rejects the keys or the query, or has no
//     data (an empty result, NaN, only null points, fewer samples than
//     MinSamples), the check is Inconclusive. A value beyond the bound is
//     Failing.
//   - command: the command is the check, written by the team for this
//     purpose. Exit 0 is Healthy; a non-zero exit, a timeout, or a command
//     that cannot be started at all is Failing (a smoke test that does not
//     run must not let a release through, and a broken check should be
//     seen at once rather than hold the bake silently).
//
// For every kind, a check cancelled by its caller (ctx done before its own
// timeout) is Inconclusive: it was interrupted, not answered.
//
// Checkers keep no state between evaluations and are safe for concurrent use.
// They do not keep connections open between evaluations either: an interval
// is seconds to minutes, and a health check should see the app as a new
// client does.
package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

// Outcome of one evaluation.
type Outcome string

const (
	// Healthy means the check measured a value (or a response, or an exit
	// status) within its bound.
	Healthy Outcome = "healthy"
	// Failing means the check measured a value beyond its bound: the release
	// is bad. The caller locks promotion with the Result's Reason (rule 8).
	Failing Outcome = "failing"
	// Inconclusive means the check could not measure: the provider was
	// unreachable, returned no data, or had too few samples. It is never a
	// pass; a bake does not complete on it (rule 9).
	Inconclusive Outcome = "inconclusive"
)

// Result is one evaluation of a check.
type Result struct {
	Outcome Outcome
	// Value is the measured value, when there is one: the metric's value,
	// the HTTP status code, the command's exit status.
	Value *float64
	// Bound is what Value is held against, e.g. "max 0.5", "status 200",
	// "exit 0".
	Bound string
	// Samples is the number of data points behind Value, which MinSamples is
	// held against. See the provider's doc for what it counts.
	Samples int
	// Reason is a sentence a person can act on, starting with the check's
	// name, e.g. `staging-errors: 0.83 > max 0.5 (sum(rate(...)))`, or
	// `staging-errors: Prometheus at http://127.0.0.1:9090 unreachable:
	// connection refused`.
	Reason string
	// At is when the evaluation started.
	At time.Time
}

// Checker evaluates one configured check once.
type Checker interface {
	// Check evaluates the check once, within the Spec's Timeout. It never
	// returns Healthy without having measured.
	Check(ctx context.Context) Result
	// Name is the check's configured name.
	Name() string
}

// Spec is a check as configured. Exactly one of HTTP, Prometheus, Datadog
// and Command is set.
type Spec struct {
	Name string
	// Interval is how often the caller evaluates the check; New only checks
	// that it is not negative.
	Interval time.Duration
	// Timeout bounds one evaluation (default 10s).
	Timeout time.Duration
	// MinSamples is the least number of data points a metric check needs to
	// decide (0 = no minimum). With fewer the result is Inconclusive: no
	// traffic is not a pass. Only prometheus and datadog checks have samples;
	// see their docs for what counts as one.
	MinSamples int

	HTTP       *HTTPSpec
	Prometheus *PrometheusSpec
	Datadog    *DatadogSpec
	Command    *CommandSpec
}

// DefaultTimeout bounds one evaluation of a check whose Spec sets none.
const DefaultTimeout = 10 * time.Second

// New builds the Checker for a spec. It returns an error, naming the check,
// when the spec does not set exactly one provider or the provider's settings
// cannot work.
func New(spec Spec) (Checker, error) {
	c, err := build(spec)
	if err != nil {
		name := spec.Name
		if name == "" {
			name = "(unnamed)"
		}
		return nil, fmt.Errorf("check %s: %w", name, err)
	}
	return c, nil
}

func build(spec Spec) (Checker, error) {
	if strings.TrimSpace(spec.Name) == "" {
		return nil, errors.New("a check needs a name")
	}
	if spec.Interval < 0 {
		return nil, fmt.Errorf("interval %s is negative", spec.Interval)
	}
	if spec.Timeout < 0 {
		return nil, fmt.Errorf("timeout %s is negative", spec.Timeout)
	}
	if spec.Timeout == 0 {
		spec.Timeout = DefaultTimeout
	}
	if spec.MinSamples < 0 {
		return nil, fmt.Errorf("min_samples %d is negative", spec.MinSamples)
	}
	var kinds []string
	if spec.HTTP != nil {
		kinds = append(kinds, "http")
	}
	if spec.Prometheus != nil {
		kinds = append(kinds, "prometheus")
	}
	if spec.Datadog != nil {
		kinds = append(kinds, "datadog")
	}
	if spec.Command != nil {
		kinds = append(kinds, "command")
	}
	switch len(kinds) {
	case 0:
		return nil, errors.New("set one of http, prometheus, datadog or command")
	case 1:
	default:
		return nil, fmt.Errorf("set only one of http, prometheus, datadog or command, not %s", strings.Join(kinds, " and "))
	}
	if spec.MinSamples > 1 && (spec.HTTP != nil || spec.Command != nil) {
		return nil, fmt.Errorf("min_samples applies to prometheus and datadog checks only, not to %s checks", kinds[0])
	}
	switch {
	case spec.HTTP != nil:
		return newHTTP(spec)
	case spec.Prometheus != nil:
		return newPrometheus(spec)
	case spec.Datadog != nil:
		return newDatadog(spec)
	default:
		return newCommand(spec)
	}
}

// bounds is the max/min pair of a metric check.
type bounds struct{ max, min *float64 }

func newBounds(maxV, minV *float64) (bounds, error) {
	switch {
	case maxV == nil && minV == nil:
		return bounds{}, errors.New("set max, min or both: a metric check without a bound can never fail")
	case maxV != nil && math.IsNaN(*maxV), minV != nil && math.IsNaN(*minV):
		return bounds{}, errors.New("a bound cannot be NaN")
	case maxV != nil && minV != nil && *minV > *maxV:
		return bounds{}, fmt.Errorf("min %s is above max %s: no value could pass", formatValue(*minV), formatValue(*maxV))
	}
	b := bounds{}
	if maxV != nil {
		v := *maxV
		b.max = &v
	}
	if minV != nil {
		v := *minV
		b.min = &v
	}
	return b, nil
}

// String is the bound as shown in a Result, e.g. "max 0.5" or
// "min 1, max 5".
func (b bounds) String() string {
	var parts []string
	if b.min != nil {
		parts = append(parts, "min "+formatValue(*b.min))
	}
	if b.max != nil {
		parts = append(parts, "max "+formatValue(*b.max))
	}
	return strings.Join(parts, ", ")
}

// verdict is what judge decided.
type verdict struct {
	outcome Outcome
	index   int    // of the value to report
	lowest  bool   // the reported value is the lowest one (else the highest)
	text    string // e.g. "0.83 > max 0.5"
}

// judge holds the values of several series (or points) against the
// bounds: the highest value against max and the lowest against min, so that
// one bad series (one instance, one endpoint) is enough to fail the check.
// The value reported is the one that broke a bound; otherwise the highest
// when there is a max, else the lowest. values must not be empty.
func (b bounds) judge(values []float64) verdict {
	hi, lo := 0, 0
	for i, v := range values {
		if v > values[hi] {
			hi = i
		}
		if v < values[lo] {
			lo = i
		}
	}
	switch {
	case b.max != nil && values[hi] > *b.max:
		return verdict{Failing, hi, false, formatValue(values[hi]) + " > max " + formatValue(*b.max)}
	case b.min != nil && values[lo] < *b.min:
		return verdict{Failing, lo, true, formatValue(values[lo]) + " < min " + formatValue(*b.min)}
	case b.max != nil:
		return verdict{Healthy, hi, false, formatValue(values[hi]) + " within " + b.String()}
	}
	return verdict{Healthy, lo, true, formatValue(values[lo]) + " within " + b.String()}
}

// extreme names the end of several series or points a value is at.
func extreme(lowest bool) string {
	if lowest {
		return "lowest"
	}
	return "highest"
}

// formatValue prints a measured value or a bound briefly: whole numbers
// without decimals, others with four significant digits.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func ptr(v float64) *float64 { return &v }

// result starts a Result for the check named name, with a reason built from
// format and args behind the name.
func result(name string, at time.Time, o Outcome, format string, args ...any) Result {
	return Result{Outcome: o, At: at, Reason: name + ": " + fmt.Sprintf(format, args...)}
}

// cancelled reports whether the caller's ctx ended the evaluation (as
// opposed to the check's own timeout), and says so as a Reason fragment.
func cancelled(parent context.Context) (string, bool) {
	if parent.Err() == nil {
		return "", false
	}
	cause := context.Cause(parent)
	return fmt.Sprintf("evaluation interrupted before it had an answer (%v)", cause), true
}

// describeNetError shortens an error from an HTTP request to what a person
// needs: "connection refused", "no answer within 10s", "cannot resolve
// host x", or the error itself.
func describeNetError(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	case errors.As(err, &dnsErr):
		return fmt.Sprintf("cannot resolve host %s (%s)", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return fmt.Sprintf("no answer within %s", timeout)
	}
	return err.Error()
}

// clip shortens s to at most n bytes (on a character boundary) for a
// Reason, marking the cut.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
