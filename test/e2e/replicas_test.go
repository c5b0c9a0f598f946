package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTwoReplicasOnPostgres runs two servers on one PostgreSQL database:
// exactly one leads at a time, releases sent to either travel the pipeline
// once, and when the leader dies the other takes over (rule 10).
func TestTwoReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{postgres: true, bake: time.Second})
	addrA := w.addr
	a := w.start()
	addrB := freeAddr(t)
	w.addr = addrB
	b := w.start()
	leaders := func() map[string]bool {
		out := map[string]bool{}
		for _, addr := range []string{addrA, addrB} {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				continue // a dead replica
			}
			var h struct {
				Leader bool `json:"leader"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&h)
			resp.Body.Close()
			out[addr] = h.Leader
		}
		return out
	}
	w.eventually(30*time.Second, "one leader", func() bool {
		l := leaders()
		return l[addrA] != l[addrB]
	})

	for i := 1; i <= 4; i++ {
		w.addr = []string{addrA, addrB}[i%2]
		v := fmt.Sprintf("v%d", i)
		w.release("web", v)
		w.eventually(30*time.Second, v+" in staging", func() bool { return w.version("web", "staging") == v })
	}
	w.eventually(40*time.Second, "v4 in production", func() bool { return w.version("web", "production") == "v4" })
	for i := 1; i <= 4; i++ {
		v := fmt.Sprintf("v%d", i)
		require.LessOrEqual(t, w.count("start", "staging", v), 1, "%s deployed to staging twice:\n%s", v, w.deployLog())
		require.LessOrEqual(t, w.count("start", "production", v), 1, "%s deployed to production twice:\n%s", v, w.deployLog())
	}

	// Kill the leader; the other replica takes over within the lease.
	l := leaders()
	leader, follower, survivor := a, addrB, b
	if l[addrB] {
		leader, follower, survivor = b, addrA, a
	}
	require.NoError(t, leader.cmd.Process.Signal(syscall.SIGKILL))
	<-leader.done
	w.server = survivor
	w.addr = follower
	w.eventually(40*time.Second, "the survivor leads", func() bool { return leaders()[follower] })
	w.release("web", "v5")
	w.eventually(40*time.Second, "v5 in production", func() bool { return w.version("web", "production") == "v5" })
}
