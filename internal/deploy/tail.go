package deploy

import (
	"strconv"
	"sync"
	"unicode/utf8"
)

// Tail keeps the last N bytes of a command's combined output; safe for
// concurrent use (one writer, many readers). The zero Tail keeps nothing but
// still counts what is written.
type Tail struct {
	mu    sync.Mutex
	max   int
	buf   []byte // ring of max bytes, allocated on the first Write
	next  int    // where the next byte goes in buf
	kept  int    // bytes of buf in use (<= max)
	total int64  // bytes ever written
}

// NewTail returns a Tail that keeps the last max bytes written to it.
func NewTail(max int) *Tail {
	return &Tail{max: max}
}

// Write keeps the end of p. It never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	if t.max <= 0 || len(p) == 0 {
		return len(p), nil
	}
	if t.buf == nil {
		t.buf = make([]byte, t.max)
	}
	q := p
	if len(q) > t.max {
		q = q[len(q)-t.max:]
	}
	n := copy(t.buf[t.next:], q)
	copy(t.buf, q[n:])
	t.next = (t.next + len(q)) % t.max
	t.kept = min(t.kept+len(q), t.max)
	return len(p), nil
}

// String returns the kept bytes. If earlier output was dropped, it starts
// with "…[truncated N bytes]\n". The cut never splits a UTF-8 character:
// the leading bytes of a partly dropped character count as truncated.
func (t *Tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := make([]byte, 0, t.kept)
	if t.kept > 0 {
		start := (t.next - t.kept + t.max) % t.max
		kept = append(kept, t.buf[start:min(start+t.kept, t.max)]...)
		kept = append(kept, t.buf[:t.kept-len(kept)]...)
	}
	dropped := t.total - int64(len(kept))
	if dropped == 0 {
		return string(kept)
	}
	// Skip the continuation bytes of a character whose start was dropped.
	for i := 0; i < utf8.UTFMax-1 && len(kept) > 0 && !utf8.RuneStart(kept[0]); i++ {
		kept = kept[1:]
		dropped++
	}
	return "…[truncated " + strconv.FormatInt(dropped, 10) + " bytes]\n" + string(kept)
}

// Len returns the number of bytes ever written.
func (t *Tail) Len() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total
}
