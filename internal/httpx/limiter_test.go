package httpx

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

func TestLimiter(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := NewLimiter(LimiterOptions{Limit: 10, Window: time.Minute, Clock: clock})
	for i := 1; i < 10; i++ {
		_, blocked := l.Fail("10.0.0.1")
		require.False(t, blocked, "failure %d", i)
		_, blocked = l.Blocked("10.0.0.1")
		require.False(t, blocked, "below the limit, a try is allowed")
		clock.Add(time.Second)
	}
	after, blocked := l.Fail("10.0.0.1")
	require.True(t, blocked, "the 10th failure blocks")
	require.Equal(t, 51*time.Second, after, "until a minute after the first failure")
	after, blocked = l.Blocked("10.0.0.1")
	require.True(t, blocked)
	require.Equal(t, 51, RetryAfterSeconds(after))
	_, blocked = l.Blocked("10.0.0.2")
	require.False(t, blocked, "another address is unaffected")

	clock.Add(51 * time.Second)
	_, blocked = l.Blocked("10.0.0.1")
	require.False(t, blocked, "the window has passed")
	_, blocked = l.Fail("10.0.0.1")
	require.False(t, blocked, "and counting starts over")
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	clock := testutil.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	l := NewLimiter(LimiterOptions{Limit: 2, Window: time.Minute, MaxKeys: 100, Clock: clock})
	for i := 0; i < 10000; i++ {
		l.Fail(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255))
		clock.Add(time.Millisecond)
		require.LessOrEqual(t, l.Len(), 100)
	}
	// The newest addresses are still tracked, and still blocked once at
	// the limit; the oldest were forgotten.
	_, blocked := l.Fail("10.0.39.15") // i = 9999
	require.True(t, blocked)
	clock.Add(time.Minute)
	l.Fail("10.200.0.1")
	require.Equal(t, 1, l.Len(), "ended windows are forgotten first")
}

func TestRetryAfterSeconds(t *testing.T) {
	t.Parallel()
	require.Equal(t, 1, RetryAfterSeconds(0))
	require.Equal(t, 1, RetryAfterSeconds(200*time.Millisecond))
	require.Equal(t, 2, RetryAfterSeconds(1001*time.Millisecond))
	require.Equal(t, 60, RetryAfterSeconds(time.Minute))
}

func TestClientIPWithoutProxies(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequest("GET", "/", nil)
	r.RemoteAddr = "192.0.2.7:51234"
	require.Equal(t, "192.0.2.7", ClientIP(r))
	r.RemoteAddr = "[2001:db8::1]:443"
	require.Equal(t, "2001:db8::1", ClientIP(r))
	r.RemoteAddr = "pipe"
	require.Equal(t, "pipe", ClientIP(r))
	r.RemoteAddr = "192.0.2.7:1"
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	require.Equal(t, "192.0.2.7", ClientIP(r), "no proxy is trusted by default")
}
