package engine

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestDutyRestsUntilNudged: a duty that found nothing in hand does not
// look again each second (an idle server wakes for nothing), and a nudge
// makes it look again at once; a duty with work in hand looks each
// second.
func TestDutyRestsUntilNudged(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	var busy atomic.Bool
	var d *duty
	dd := newDuty("test", func() bool { return true }, func(context.Context) {
		runs.Add(1)
		if !busy.Load() {
			d.rest()
		}
	})
	d = &dd
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	defer d.Stop()

	d.kick()
	require.Eventually(t, func() bool { return runs.Load() == 1 }, 10*time.Second, 5*time.Millisecond, "a kick runs the duty")
	// Resting: no look in the next 2.5 s (dutyRest is 5 s; a duty that
	// did not rest would look twice in that time).
	time.Sleep(2500 * time.Millisecond)
	require.Equal(t, int32(1), runs.Load(), "a resting duty does not look each second")

	busy.Store(true)
	d.nudge()
	require.Eventually(t, func() bool { return runs.Load() == 2 }, 10*time.Second, 5*time.Millisecond, "a nudge wakes a resting duty")
	require.Eventually(t, func() bool { return runs.Load() >= 4 }, 10*time.Second, 5*time.Millisecond, "with work in hand it looks every dutyInterval")
}

// TestDutyRestsWhileNotLeading: a process that does not lead does not
// run the duty, and looks whether it leads only every dutyRest, or when
// kicked at its election.
func TestDutyRestsWhileNotLeading(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	var leading atomic.Bool
	dd := newDuty("test", leading.Load, func(context.Context) { runs.Add(1) })
	d := &dd
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d.Start(ctx)
	defer d.Stop()
	time.Sleep(1500 * time.Millisecond)
	require.Zero(t, runs.Load(), "no run while another process leads")
	leading.Store(true)
	d.kick()
	require.Eventually(t, func() bool { return runs.Load() >= 1 }, 10*time.Second, 5*time.Millisecond, "the election's kick runs it")
}
