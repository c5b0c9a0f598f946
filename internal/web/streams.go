package web

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"sync"

	"github.com/bakery-deploy/bakery/internal/api"
)

// streamRetryAfter is the Retry-After (seconds) of a refused event stream;
// the page's script tries again by itself.
const streamRetryAfter = 10

// streamLimits counts the open live-update streams, overall and per
// session cookie, so that one client cannot hold the server's connections
// (and the hub's fan-out) with thousands of streams.
type streamLimits struct {
	max, perSession int // 0: no limit

	mu    sync.Mutex
	total int
	open  map[[32]byte]int // by the SHA-256 of the session cookie
}

// acquire takes a stream slot for r's session; release gives it back. A
// refusal says why: 429 for the session's own limit, 503 for the server's.
func (l *streamLimits) acquire(r *http.Request) (release func(), refused *api.Error) {
	var key [32]byte
	if c, err := r.Cookie(CookieName); err == nil {
		key = sha256.Sum256([]byte(c.Value))
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perSession > 0 && l.open[key] >= l.perSession {
		return nil, &api.Error{Status: http.StatusTooManyRequests, Message: "too many live-update streams for this sign-in",
			Detail: fmt.Sprintf("at most %d dashboard tabs per sign-in get live updates (server.limits.max_event_streams_per_session); close some", l.perSession)}
	}
	if l.max > 0 && l.total >= l.max {
		return nil, &api.Error{Status: http.StatusServiceUnavailable, Message: "too many live-update streams",
			Detail: fmt.Sprintf("the server holds at most %d live-update streams (server.limits.max_event_streams); try again later", l.max)}
	}
	l.total++
	l.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[key]--; l.open[key] <= 0 {
				delete(l.open, key)
			}
		})
	}, nil
}

// count is how many streams are open.
func (l *streamLimits) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}
