package httpx

import (
	"math"
	"sync"
	"time"
)

// Clock is the time the limiter counts in; tests move a fake one instead
// of sleeping. pipeline.Clock and *engine.Engine satisfy it.
type Clock interface {
	Now() time.Time
}

// Limiter counts failed attempts (bad tokens, failed sign-ins) per client
// address. Once an address has failed Limit times within Window of its
// first counted failure, it is blocked — every attempt from it, right or
// wrong, is refused — until that window ends. Successes are neither
// counted nor refused before the limit is reached.
//
// Memory is bounded: at most MaxKeys addresses are tracked. When that many
// are, ended windows are forgotten first, then the oldest windows.
type Limiter struct {
	limit   int
	window  time.Duration
	maxKeys int
	clock   Clock

	mu      sync.Mutex
	entries map[string]*failures
}

type failures struct {
	start time.Time
	count int
}

// LimiterOptions configures a Limiter; zero fields take the defaults.
type LimiterOptions struct {
	Limit   int           // default 10
	Window  time.Duration // default 1 minute
	MaxKeys int           // default 10,000
	Clock   Clock         // default the system clock
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// NewLimiter makes a limiter.
func NewLimiter(o LimiterOptions) *Limiter {
	if o.Limit <= 0 {
		o.Limit = 10
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 10000
	}
	if o.Clock == nil {
		o.Clock = systemClock{}
	}
	return &Limiter{limit: o.Limit, window: o.Window, maxKeys: o.MaxKeys, clock: o.Clock, entries: map[string]*failures{}}
}

// Blocked reports whether key may not try now, and for how long.
func (l *Limiter) Blocked(key string) (retryAfter time.Duration, blocked bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.entries[key]
	if !ok {
		return 0, false
	}
	if l.ended(f, now) {
		delete(l.entries, key)
		return 0, false
	}
	if f.count < l.limit {
		return 0, false
	}
	return f.start.Add(l.window).Sub(now), true
}

// Fail counts a failed attempt by key. It reports whether key is blocked
// now (this failure reached the limit), and for how long.
func (l *Limiter) Fail(key string) (retryAfter time.Duration, blocked bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.entries[key]
	if ok && l.ended(f, now) {
		ok = false
	}
	if !ok {
		if _, tracked := l.entries[key]; !tracked && len(l.entries) >= l.maxKeys {
			l.evict(now)
		}
		f = &failures{start: now}
		l.entries[key] = f
	}
	f.count++
	if f.count < l.limit {
		return 0, false
	}
	return f.start.Add(l.window).Sub(now), true
}

// Len is how many addresses are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

func (l *Limiter) ended(f *failures, now time.Time) bool { return !now.Before(f.start.Add(l.window)) }

// evict makes room for one more key: ended windows go first; if none has
// ended, the oldest window goes (its address has the least time left to be
// blocked anyway).
func (l *Limiter) evict(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, f := range l.entries {
		if l.ended(f, now) {
			delete(l.entries, k)
			continue
		}
		if oldest == "" || f.start.Before(oldestAt) {
			oldest, oldestAt = k, f.start
		}
	}
	if len(l.entries) >= l.maxKeys && oldest != "" {
		delete(l.entries, oldest)
	}
}

// RetryAfterSeconds is a Retry-After header value for d: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}
