package httpx

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestNewServer(t *testing.T) {
	t.Parallel()
	l := Limits{ReadHeaderTimeout: 1 * time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second,
		IdleTimeout: 4 * time.Second, MaxHeaderBytes: 64 << 10}
	srv := NewServer(http.NotFoundHandler(), ServerOptions{Limits: l})
	require.Equal(t, l.ReadHeaderTimeout, srv.ReadHeaderTimeout)
	require.Equal(t, l.ReadTimeout, srv.ReadTimeout)
	require.Equal(t, l.WriteTimeout, srv.WriteTimeout)
	require.Equal(t, l.IdleTimeout, srv.IdleTimeout)
	require.Equal(t, 64<<10-headerSlop, srv.MaxHeaderBytes, "net/http reads 4 KiB beyond MaxHeaderBytes")
}

func TestLimitListener(t *testing.T) {
	t.Parallel()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ln := LimitListener(inner, 2)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()
	var clients []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", inner.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		clients = append(clients, c)
	}
	first, second := <-accepted, <-accepted
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("a third connection was accepted while two were open")
	case <-time.After(200 * time.Millisecond):
	}
	require.NoError(t, first.Close())
	_ = first.Close()   // a second Close gives no second slot back
	third := <-accepted // the slot is free again
	require.NotNil(t, third)
	select {
	case c := <-accepted:
		c.Close()
		t.Fatal("closing one connection twice freed two slots")
	case <-time.After(100 * time.Millisecond):
	}
	second.Close()
	third.Close()

	// Close ends an Accept that waits for a slot.
	blocked := LimitListener(mustListen(t), 1)
	c, err := net.Dial("tcp", blocked.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	held, err := blocked.Accept()
	require.NoError(t, err)
	defer held.Close()
	done := make(chan error, 1)
	go func() { _, err := blocked.Accept(); done <- err }()
	require.NoError(t, blocked.Close())
	require.ErrorIs(t, <-done, net.ErrClosed)

	require.Same(t, inner, LimitListener(inner, 0), "0: no limit")
}

func mustListen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	return ln
}
