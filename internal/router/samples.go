package router

import (
	"cmp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Sample is the outcome of one request, as the client saw it.
type Sample struct {
	// At is when the request finished.
	At time.Time
	// Status is the HTTP status returned to the client: 502 when the
	// backend could not be reached or broke its response off,
	// StatusClientClosed when the client went away first, 101 for a
	// protocol upgrade.
	Status int
	// Latency runs from the moment the router got the request to the end
	// of the response (to the switch, for an upgrade).
	Latency time.Duration
}

// Totals count a track's requests since New, including those whose
// samples have since been dropped.
type Totals struct {
	// Requests is the number of requests routed to the track.
	Requests int64
	// Errors is the number of them answered with a 5xx status, including
	// the router's own 502 when the backend failed.
	Errors int64
}

// recorder keeps one track's samples in a ring buffer, oldest first, and
// its totals. The buffer grows as needed up to max and never shrinks.
type recorder struct {
	max int

	mu   sync.Mutex
	buf  []Sample
	head int // index of the oldest sample
	n    int // number of samples held

	requests, errors atomic.Int64
}

// add records a request with status that started at start and finishes
// now, drops what is older than keep or beyond max, and returns the
// sample. The clock is read under the lock so that samples are stored in
// the order of their At.
func (rc *recorder) add(status int, start time.Time, now func() time.Time, keep time.Duration) Sample {
	rc.requests.Add(1)
	if status >= 500 {
		rc.errors.Add(1)
	}
	rc.mu.Lock()
	at := now()
	s := Sample{At: at, Status: status, Latency: max(at.Sub(start), 0)}
	rc.pruneLocked(at.Add(-keep))
	if rc.n == len(rc.buf) {
		if len(rc.buf) < rc.max {
			rc.growLocked()
		} else {
			// Full: the newest sample takes the oldest one's slot.
			rc.buf[rc.head] = s
			rc.head = (rc.head + 1) % len(rc.buf)
			rc.mu.Unlock()
			return s
		}
	}
	rc.buf[(rc.head+rc.n)%len(rc.buf)] = s
	rc.n++
	rc.mu.Unlock()
	return s
}

// pruneLocked drops the samples older than cutoff.
func (rc *recorder) pruneLocked(cutoff time.Time) {
	for rc.n > 0 && rc.buf[rc.head].At.Before(cutoff) {
		rc.head = (rc.head + 1) % len(rc.buf)
		rc.n--
	}
	if rc.n == 0 {
		rc.head = 0
	}
}

// growLocked doubles the buffer (up to max), unrolling the ring.
func (rc *recorder) growLocked() {
	size := min(max(2*len(rc.buf), 1024), rc.max)
	buf := make([]Sample, size)
	rc.copyLocked(buf, 0, rc.n)
	rc.buf, rc.head = buf, 0
}

// at returns the i-th oldest sample held.
func (rc *recorder) at(i int) *Sample { return &rc.buf[(rc.head+i)%len(rc.buf)] }

// copyLocked copies the samples i..j-1 (oldest first) into dst.
func (rc *recorder) copyLocked(dst []Sample, i, j int) {
	if i >= j {
		return
	}
	start := (rc.head + i) % len(rc.buf)
	n := copy(dst, rc.buf[start:min(start+j-i, len(rc.buf))])
	copy(dst[n:], rc.buf[:j-i-n])
}

// between returns a copy of the samples with from <= At < to, oldest
// first, after dropping those older than keep.
func (rc *recorder) between(from, to, now time.Time, keep time.Duration) []Sample {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.pruneLocked(now.Add(-keep))
	i := sort.Search(rc.n, func(i int) bool { return !rc.at(i).At.Before(from) })
	j := i + sort.Search(rc.n-i, func(k int) bool { return !rc.at(i + k).At.Before(to) })
	if i == j {
		return nil
	}
	out := make([]Sample, j-i)
	rc.copyLocked(out, i, j)
	return out
}

// Samples returns a copy of the samples of track t with from <= At < to,
// oldest first: nil if there are none, or if t is neither Stable nor
// Canary. Samples older than Options.Keep are gone.
func (r *Router) Samples(t Track, from, to time.Time) []Sample {
	tr := r.track(t)
	if tr == nil {
		return nil
	}
	return tr.rec.between(from, to, r.now(), r.keep)
}

// Totals returns the request and error counts of track t since New (zero
// if t is neither Stable nor Canary).
func (r *Router) Totals(t Track) Totals {
	tr := r.track(t)
	if tr == nil {
		return Totals{}
	}
	return Totals{Requests: tr.rec.requests.Load(), Errors: tr.rec.errors.Load()}
}

// track returns the router's state for t, or nil.
func (r *Router) track(t Track) *track {
	switch t {
	case Stable:
		return r.tracks[0]
	case Canary:
		return r.tracks[1]
	}
	return nil
}

// ErrorRates divides samples into buckets of width bucket, aligned on
// multiples of bucket since the zero time (as time.Time.Truncate does: a
// 1-minute bucket starts on the minute), and returns, for each bucket with
// at least one sample, the fraction of its samples with Status >= 500.
// Buckets come in time order; those without samples are skipped, so every
// value is a measurement rather than a 0 that nobody saw. A bucket <= 0
// puts all samples in one bucket. No samples give nil.
func ErrorRates(samples []Sample, bucket time.Duration) []float64 {
	if len(samples) == 0 {
		return nil
	}
	type count struct {
		start        int64 // Unix nanoseconds of the bucket's start
		total, error int
	}
	var counts []count
	ordered := true
	for _, s := range samples {
		var start int64
		if bucket > 0 {
			start = s.At.Truncate(bucket).UnixNano()
		}
		if len(counts) == 0 || counts[len(counts)-1].start != start {
			if len(counts) > 0 && start < counts[len(counts)-1].start {
				ordered = false
			}
			counts = append(counts, count{start: start})
		}
		c := &counts[len(counts)-1]
		c.total++
		if s.Status >= 500 {
			c.error++
		}
	}
	if !ordered {
		// Samples from Router.Samples are in order; others may not be.
		slices.SortStableFunc(counts, func(a, b count) int { return cmp.Compare(a.start, b.start) })
		merged := counts[:1]
		for _, c := range counts[1:] {
			if last := &merged[len(merged)-1]; last.start == c.start {
				last.total += c.total
				last.error += c.error
			} else {
				merged = append(merged, c)
			}
		}
		counts = merged
	}
	rates := make([]float64, len(counts))
	for i, c := range counts {
		rates[i] = float64(c.error) / float64(c.total)
	}
	return rates
}

// Latencies returns each sample's latency in seconds, in the samples'
// order (nil for no samples).
func Latencies(samples []Sample) []float64 {
	if len(samples) == 0 {
		return nil
	}
	out := make([]float64, len(samples))
	for i, s := range samples {
		out[i] = s.Latency.Seconds()
	}
	return out
}
