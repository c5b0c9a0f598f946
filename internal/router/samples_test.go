package router

import (
	"slices"
	"testing"
	"time"
)

func TestErrorRates(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	at := func(d time.Duration, status int) Sample { return Sample{At: t0.Add(d), Status: status} }
	for _, tc := range []struct {
		name    string
		samples []Sample
		bucket  time.Duration
		want    []float64
	}{
		{name: "no samples", samples: nil, bucket: time.Second, want: nil},
		{name: "one bucket, no errors", samples: []Sample{at(0, 200), at(100*time.Millisecond, 204)}, bucket: time.Second, want: []float64{0}},
		{name: "one bucket, a quarter failing", bucket: time.Second, want: []float64{0.25},
			samples: []Sample{at(0, 200), at(1, 500), at(2, 200), at(3, 302)}},
		{name: "5xx and 502 count, 4xx and 499 do not", bucket: time.Second, want: []float64{0.5},
			samples: []Sample{at(0, 404), at(1, StatusClientClosed), at(2, 502), at(3, 503)}},
		{name: "buckets are aligned, not counted from the first sample", bucket: time.Second, want: []float64{1, 0},
			samples: []Sample{at(900*time.Millisecond, 500), at(999*time.Millisecond, 500), at(time.Second, 200)}},
		{name: "buckets without requests are skipped", bucket: time.Second, want: []float64{0.5, 1, 0},
			samples: []Sample{
				at(0, 200), at(500*time.Millisecond, 500), // 10:00:00
				at(3*time.Second+1, 500), // 10:00:03; 01 and 02 had no requests
				at(9*time.Second, 200),   // 10:00:09
			}},
		{name: "minute buckets", bucket: time.Minute, want: []float64{1.0 / 3, 1},
			samples: []Sample{at(0, 200), at(30*time.Second, 200), at(59*time.Second, 500), at(61*time.Second, 500)}},
		{name: "unordered input is put in time order", bucket: time.Second, want: []float64{0.5, 0},
			samples: []Sample{at(2*time.Second, 200), at(0, 500), at(2*time.Second+1, 200), at(1, 200)}},
		{name: "bucket 0 is one bucket", bucket: 0, want: []float64{0.5},
			samples: []Sample{at(0, 200), at(time.Hour, 500)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ErrorRates(tc.samples, tc.bucket)
			if !slices.Equal(got, tc.want) {
				t.Errorf("ErrorRates = %v; want %v", got, tc.want)
			}
		})
	}
}

func TestLatencies(t *testing.T) {
	t.Parallel()
	if got := Latencies(nil); got != nil {
		t.Errorf("Latencies(nil) = %v; want nil", got)
	}
	got := Latencies([]Sample{{Latency: 1500 * time.Millisecond}, {Latency: 250 * time.Microsecond}, {Latency: 0}})
	if want := []float64{1.5, 0.00025, 0}; !slices.Equal(got, want) {
		t.Errorf("Latencies = %v; want %v", got, want)
	}
}

// TestKeepAndMaxSamples drives real requests on a fake clock: samples
// older than Keep are dropped, and beyond MaxSamples the oldest go first.
func TestKeepAndMaxSamples(t *testing.T) {
	t.Parallel()
	stable := namedBackend(t, "stable")
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clk := &clock{now: t0}
	r := newRouter(t, stable.URL, "http://127.0.0.1:1", Options{Keep: 10 * time.Minute, MaxSamples: 5, Now: clk.Now})
	rec := recordings(r)
	f := serve(t, r)
	send := func(n int) {
		t.Helper()
		for range n {
			f.get(t, "/")
		}
		waitFor(t, rec, n) // recorded at the current fake time
	}
	ats := func(from, to time.Time) []time.Duration {
		var out []time.Duration
		for _, s := range r.Samples(Stable, from, to) {
			out = append(out, s.At.Sub(t0))
		}
		return out
	}
	everything := func() []time.Duration { return ats(t0.Add(-time.Hour), t0.Add(time.Hour)) }

	send(3) // at t0
	clk.Advance(6 * time.Minute)
	send(2) // at t0+6m
	if got, want := everything(), []time.Duration{0, 0, 0, 6 * time.Minute, 6 * time.Minute}; !slices.Equal(got, want) {
		t.Fatalf("samples at %v; want %v", got, want)
	}
	// from <= At < to: the samples at t0+6m are not before t0+6m.
	if got := ats(t0, t0.Add(6*time.Minute)); len(got) != 3 {
		t.Errorf("Samples(t0, t0+6m) has %d samples; want the 3 at t0", len(got))
	}
	if got := ats(t0.Add(6*time.Minute), t0.Add(6*time.Minute+1)); len(got) != 2 {
		t.Errorf("Samples(t0+6m, t0+6m+1ns) has %d samples; want the 2 at t0+6m", len(got))
	}
	if got := ats(t0.Add(time.Minute), t0.Add(2*time.Minute)); got != nil {
		t.Errorf("Samples of a minute without requests = %v; want nil", got)
	}

	// At t0+10m01s, the samples at t0 are older than Keep: reading drops
	// them even without new traffic.
	clk.Advance(4*time.Minute + time.Second)
	if got, want := everything(), []time.Duration{6 * time.Minute, 6 * time.Minute}; !slices.Equal(got, want) {
		t.Fatalf("after Keep passed, samples at %v; want %v", got, want)
	}

	// Over MaxSamples, the oldest are dropped first.
	tNew := 10*time.Minute + time.Second
	send(4)
	if got, want := everything(), []time.Duration{6 * time.Minute, tNew, tNew, tNew, tNew}; !slices.Equal(got, want) {
		t.Fatalf("over MaxSamples, samples at %v; want %v", got, want)
	}
	clk.Advance(time.Minute)
	send(5)
	if got := everything(); len(got) != 5 || got[0] != tNew+time.Minute {
		t.Fatalf("samples at %v; want the 5 newest at %v", got, tNew+time.Minute)
	}
	// The totals count everything since New.
	if got := r.Totals(Stable); got != (Totals{Requests: 14}) {
		t.Errorf("Totals(Stable) = %+v; want 14 requests", got)
	}
	// On a fake clock that did not move during requests, latency is 0.
	for _, s := range r.Samples(Stable, t0, t0.Add(time.Hour)) {
		if s.Latency != 0 {
			t.Errorf("latency %v on a clock that stood still; want 0", s.Latency)
		}
	}
}

// TestRecorderRing checks the ring buffer across growth and wrap-around
// against a plain slice.
func TestRecorderRing(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	const max = 3000 // grows 1024 → 2048 → 3000, then wraps
	rc := &recorder{max: max}
	var want []Sample
	for i := range 7000 {
		now := t0.Add(time.Duration(i) * time.Second)
		s := rc.add(200+i%3, now, func() time.Time { return now }, 24*time.Hour)
		want = append(want, s)
		if len(want) > max {
			want = want[1:]
		}
		if i%997 == 0 || i == 6999 {
			got := rc.between(t0, t0.Add(24*time.Hour), now, 24*time.Hour)
			if !slices.Equal(got, want) {
				t.Fatalf("after %d samples, the recorder holds %d (first %v); want %d (first %v)", i+1, len(got), got[0].At, len(want), want[0].At)
			}
		}
	}
	// A window in the middle, straddling the ring's seam.
	last := t0.Add(6999 * time.Second)
	from, to := t0.Add(5000*time.Second), t0.Add(5100*time.Second)
	got := rc.between(from, to, last, 24*time.Hour)
	if len(got) != 100 || !got[0].At.Equal(from) || !got[99].At.Equal(to.Add(-time.Second)) {
		t.Errorf("between(t0+5000s, t0+5100s) has %d samples; want the 100 from %v", len(got), from)
	}
}
