package deploy

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTailKeepsEverythingBelowMax(t *testing.T) {
	tail := NewTail(16)
	assert.Equal(t, "", tail.String())
	n, err := tail.Write([]byte("hello "))
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	_, _ = tail.Write([]byte("world"))
	assert.Equal(t, "hello world", tail.String())
	assert.Equal(t, int64(11), tail.Len())

	_, _ = tail.Write([]byte("!!!!!"))
	assert.Equal(t, "hello world!!!!!", tail.String(), "exactly max bytes is not truncated")
}

func TestTailTruncates(t *testing.T) {
	tail := NewTail(10)
	_, _ = tail.Write([]byte("0123456789"))
	_, _ = tail.Write([]byte("abcd"))
	assert.Equal(t, "…[truncated 4 bytes]\n456789abcd", tail.String())
	assert.Equal(t, int64(14), tail.Len())

	n, _ := tail.Write([]byte("a write longer than the tail itself"))
	assert.Equal(t, 35, n, "Write reports the whole of p as written")
	assert.Equal(t, "…[truncated 39 bytes]\nail itself", tail.String())
	assert.Equal(t, int64(49), tail.Len())
}

func TestTailMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, max := range []int{1, 7, 64, 1000} {
		tail := NewTail(max)
		var all bytes.Buffer
		for range 500 {
			p := make([]byte, r.IntN(3*max+1))
			for i := range p {
				p[i] = byte('a' + r.IntN(26))
			}
			_, _ = tail.Write(p)
			all.Write(p)

			want := all.String()
			if len(want) > max {
				want = fmt.Sprintf("…[truncated %d bytes]\n%s", len(want)-max, want[len(want)-max:])
			}
			require.Equal(t, want, tail.String(), "max %d after %d bytes", max, all.Len())
			require.Equal(t, int64(all.Len()), tail.Len())
		}
	}
}

func TestTailDoesNotSplitCharacters(t *testing.T) {
	tail := NewTail(5)
	_, _ = tail.Write([]byte("ab€€")) // € is 3 bytes: the kept 5 start inside the first €
	assert.Equal(t, "…[truncated 5 bytes]\n€", tail.String())
	assert.Equal(t, int64(8), tail.Len())
}

func TestTailZeroKeepsNothing(t *testing.T) {
	for _, tail := range []*Tail{NewTail(0), new(Tail)} {
		_, _ = tail.Write([]byte("abc"))
		assert.Equal(t, "…[truncated 3 bytes]\n", tail.String())
		assert.Equal(t, int64(3), tail.Len())
	}
}

func TestTailConcurrentReaders(t *testing.T) {
	const lines = 2000
	var all strings.Builder
	for i := range lines {
		fmt.Fprintf(&all, "line %05d\n", i)
	}
	full := all.String()

	tail := NewTail(100)
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				s := tail.String()
				if i := strings.Index(s, "]\n"); strings.HasPrefix(s, "…[truncated") && i >= 0 {
					s = s[i+2:]
				}
				if !strings.Contains(full, s) {
					t.Errorf("String() returned output that was never written: %q", s)
					return
				}
				_ = tail.Len()
			}
		})
	}
	for i := range lines {
		_, _ = fmt.Fprintf(tail, "line %05d\n", i)
	}
	close(done)
	wg.Wait()
	assert.Equal(t, int64(len(full)), tail.Len())
	assert.True(t, strings.HasSuffix(tail.String(), full[len(full)-100:]))
}
