package web

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// next waits for the subscription to have something and takes it.
func next(t *testing.T, s *Subscription) []string {
	t.Helper()
	select {
	case <-s.Ready():
		services, _ := s.Take()
		return services
	case <-time.After(5 * time.Second):
		t.Fatal("no notification within 5s")
		return nil
	}
}

// settle waits until the hub has dispatched everything notified so far:
// a marker service goes through last.
func settle(t *testing.T, h *Hub, s *Subscription) []string {
	t.Helper()
	h.Notify("marker")
	var got []string
	for {
		for _, svc := range next(t, s) {
			if svc == "marker" {
				return got
			}
			got = append(got, svc)
		}
	}
}

func TestHubDelivers(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	a, b := h.Subscribe(), h.Subscribe()
	defer a.Close()
	defer b.Close()
	h.Notify("web")
	require.Equal(t, []string{"web"}, next(t, a))
	require.Equal(t, []string{"web"}, next(t, b))
}

func TestHubCoalesces(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	slow := h.Subscribe()
	defer slow.Close()
	// A client that does not read while a service changes a thousand
	// times gets told once; Notify never waited for it.
	start := time.Now()
	for range 1000 {
		h.Notify("web")
		h.Notify("api")
	}
	require.Less(t, time.Since(start), time.Second, "Notify must not block")
	h.Notify("marker")
	time.Sleep(100 * time.Millisecond) // let the dispatcher run while nobody reads
	var got []string
	for !contains(got, "marker") {
		got = append(got, next(t, slow)...)
	}
	require.LessOrEqual(t, count(got, "web"), 2, "coalesced: %v", got)
	require.LessOrEqual(t, count(got, "api"), 2, "coalesced: %v", got)
	require.Contains(t, got, "web")
	require.Contains(t, got, "api")
}

func TestHubCollapsesWhenTooManyServicesPend(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	s := h.Subscribe()
	defer s.Close()
	for i := range maxPending + 10 {
		s.add(fmt.Sprintf("svc-%d", i), uint64(i+1))
	}
	got, seq := s.Take()
	require.Equal(t, []string{AllServices}, got, "past maxPending services a reload of everything is cheaper")
	require.Equal(t, uint64(maxPending+10), seq)
	s.add("web", 100)
	got, _ = s.Take()
	require.Equal(t, []string{"web"}, got, "and afterwards services come one by one again")
	got, _ = s.Take()
	require.Empty(t, got)
}

func TestHubUnsubscribe(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	a, b := h.Subscribe(), h.Subscribe()
	require.Equal(t, 2, h.Subscribers())
	a.Close()
	require.Equal(t, 1, h.Subscribers())
	h.Notify("web")
	require.Equal(t, []string{"web"}, next(t, b))
	select {
	case <-a.Ready():
		t.Fatal("a closed subscription got a notification")
	case <-time.After(50 * time.Millisecond):
	}
	b.Close()
	b.Close() // twice is fine
	require.Zero(t, h.Subscribers())
	h.Notify("web") // with nobody listening
}

func TestHubSince(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	s := h.Subscribe()
	defer s.Close()
	require.Zero(t, h.Seq())
	got, ok := h.Since(0)
	require.True(t, ok)
	require.Empty(t, got)
	h.Notify("web")
	settle(t, h, s) // web, marker
	at := h.Seq()
	require.Equal(t, uint64(2), at)
	h.Notify("api")
	settle(t, h, s)
	h.Notify("web")
	settle(t, h, s)
	got, ok = h.Since(at)
	require.True(t, ok)
	require.Equal(t, []string{"api", "marker", "web"}, got, "what happened after the page was rendered, once each")
	_, ok = h.Since(h.Seq() + 1)
	require.False(t, ok, "a number from before a restart: reload everything")
	for i := range historySize {
		s.add("x", 0) // keep the subscription busy; broadcast directly
		h.broadcast(fmt.Sprint("svc-", i))
	}
	_, ok = h.Since(at)
	require.False(t, ok, "older than the history: reload everything")
	got, ok = h.Since(h.Seq() - 2)
	require.True(t, ok)
	require.Equal(t, []string{fmt.Sprint("svc-", historySize-2), fmt.Sprint("svc-", historySize-1)}, got)
}

func TestHubFilter(t *testing.T) {
	t.Parallel()
	h := NewHub()
	defer h.Close()
	var calls atomic.Int32
	h.SetFilter(func(ctx context.Context, service string) bool {
		calls.Add(1)
		_, hasDeadline := ctx.Deadline()
		require.True(t, hasDeadline, "the filter runs with a deadline")
		return service != "quiet"
	})
	s := h.Subscribe()
	defer s.Close()
	h.Notify("quiet")
	h.Notify("web")
	got := settle(t, h, s)
	require.Equal(t, []string{"web"}, got)
	require.GreaterOrEqual(t, calls.Load(), int32(3))
}

func TestHubCloseEndsStreams(t *testing.T) {
	t.Parallel()
	h := NewHub()
	s := h.Subscribe()
	defer s.Close()
	h.Close()
	h.Close()
	select {
	case <-h.Done():
	default:
		t.Fatal("Done must be closed after Close")
	}
	h.Notify("web") // after Close: no panic, no block
}

func contains(list []string, s string) bool { return count(list, s) > 0 }

func count(list []string, s string) int {
	n := 0
	for _, v := range list {
		if v == s {
			n++
		}
	}
	return n
}
