package router

import (
	"net/http"
	"sync"
	"sync/atomic"
)

// versionCount counts the requests one version answered.
type versionCount struct {
	version string
	n       atomic.Int64
}

// versions is what a Router counts per version for the exposure gate:
// the requests the version it serves answered. Counting costs one atomic
// add per request; a version change swaps the counter, and the old one is
// drained by the next two takes (a request that loaded it just before the
// swap still lands in it).
type versions struct {
	current atomic.Pointer[versionCount]
	mu      sync.Mutex
	retired []*versionCount // drained by the next take
	drained []*versionCount // drained once; drained again, then dropped
}

// SetVersion names the version the router serves from now on (one
// upstream: the environment's current release). Requests it answers are
// counted for that version until the next SetVersion; "" stops counting.
// Only a router used for exposure needs it: without it nothing is counted.
func (r *Router) SetVersion(version string) {
	cur := r.versions.current.Load()
	if cur != nil && cur.version == version {
		return
	}
	var next *versionCount
	if version != "" {
		next = &versionCount{version: version}
	}
	old := r.versions.current.Swap(next)
	if old != nil {
		r.versions.mu.Lock()
		r.versions.retired = append(r.versions.retired, old)
		r.versions.mu.Unlock()
	}
}

// Version is the version SetVersion last named ("" if none).
func (r *Router) Version() string {
	if cur := r.versions.current.Load(); cur != nil {
		return cur.version
	}
	return ""
}

// TakeAnswered returns how many requests each version answered since the
// last call, and starts counting again from zero. Answered means a status
// below 500 that reached the client: a 502 from an upstream that is down,
// or a client that went away (499), is no use of the version.
func (r *Router) TakeAnswered() map[string]int64 {
	out := map[string]int64{}
	add := func(vc *versionCount) {
		if n := vc.n.Swap(0); n > 0 {
			out[vc.version] += n
		}
	}
	r.versions.mu.Lock()
	for _, vc := range r.versions.drained {
		add(vc)
	}
	for _, vc := range r.versions.retired {
		add(vc)
	}
	r.versions.drained, r.versions.retired = r.versions.retired, nil
	r.versions.mu.Unlock()
	if cur := r.versions.current.Load(); cur != nil {
		add(cur)
	}
	return out
}

// countAnswered counts one request's outcome for the current version.
func (r *Router) countAnswered(status int) {
	if status >= http.StatusInternalServerError || status == StatusClientClosed {
		return
	}
	if cur := r.versions.current.Load(); cur != nil {
		cur.n.Add(1)
	}
}
