package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWindowOpens is rule 4 with a real clock: production's window is
// closed now and opens at the next whole minute; a baked release waits,
// status says when the window opens, and the moment it opens the release
// is promoted with nobody acting.
func TestWindowOpens(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	opens := now.Truncate(time.Minute).Add(time.Minute)
	if opens.Sub(now) < 15*time.Second {
		opens = opens.Add(time.Minute)
	}
	closes := opens.Add(30 * time.Minute)
	entry := fmt.Sprintf("Daily %s-%s", opens.Format("15:04"), closes.Format("15:04"))
	w := newWorld(t, worldOpts{bake: time.Second, productionWindow: entry})
	w.start()
	w.release("web", "v1")
	w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	w.eventually(10*time.Second, "v1 baked and waiting for the window", func() bool {
		return w.status("web").Environments[1].Waiting.Kind == "window"
	})
	st := w.status("web").Environments[1]
	require.Equal(t, "waiting", st.State)
	require.NotNil(t, st.Waiting.Until)
	require.True(t, opens.Equal(*st.Waiting.Until), "status names the opening: %s, want %s", st.Waiting.Until, opens)
	require.Equal(t, "", w.version("web", "production"))
	// Staging is not held by production's window.
	w.release("web", "v2")
	w.eventually(20*time.Second, "v2 in staging", func() bool { return w.version("web", "staging") == "v2" })

	w.eventually(time.Until(opens)+30*time.Second, "promotion when the window opens", func() bool {
		return w.version("web", "production") != ""
	})
	decided := findEvent(w.events("web"), "promotion.decided", "production", "")
	require.False(t, decided.At.Before(opens), "nothing is promoted before the window opens")
	require.Less(t, decided.At.Sub(opens), 5*time.Second, "promoted at the opening, not at some later sweep")
	require.Equal(t, "v2", decided.Version, "the newest baked release goes")
}
