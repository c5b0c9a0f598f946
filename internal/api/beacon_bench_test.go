package api

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/engine"
)

// TestBeaconFigures prints the beacon endpoint's throughput (signed,
// fresh tickets; each beacon from its own address, as browsers would) and
// the memory a replica holds per 10,000 distinct beacon ids between two
// batches (the pending ids and the taken tickets' nonces).
//
// Run: BAKERY_FIGURES=1 go test -run TestBeaconFigures -count=1 -v ./internal/api/
func TestBeaconFigures(t *testing.T) {
	if os.Getenv("BAKERY_FIGURES") == "" {
		t.Skip("set BAKERY_FIGURES=1 to print the beacon figures")
	}
	b := setup(t, peopleGate)
	ctx := context.Background()
	_, err := b.e.CreateRelease(ctx, "test", engine.ReleaseParams{Service: "web", Version: "a1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readBanner(t, b).Beacon != nil }, 20*time.Second, 10*time.Millisecond)
	rel, err := b.e.Records().ReleaseGet(ctx, "web", "a1")
	require.NoError(t, err)
	key, err := b.e.BeaconKey(ctx)
	require.NoError(t, err)

	const n = 10_000
	tickets := make([]string, n)
	for i := range tickets {
		tickets[i], err = issueTicket(key, "web", "staging", rel.ID, b.clock.Now())
		require.NoError(t, err)
	}
	bodies := make([]string, n)
	for i := range bodies {
		bodies[i] = beaconBody(tickets[i], fmt.Sprintf("%032x", i+1))
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for i := range n {
		req := httptest.NewRequest("POST", "/api/v1/services/web/environments/staging/beacon", strings.NewReader(bodies[i]))
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:40000", i>>16&255, i>>8&255, i&255)
		req.Header.Set("Authorization", "Bearer banner-secret")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		b.s.ServeHTTP(rec, req)
		if rec.Code != http.StatusAccepted {
			t.Fatalf("beacon %d: %d %s", i, rec.Code, rec.Body.String())
		}
	}
	elapsed := time.Since(start)
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("FIGURE beacon endpoint: %d beacons in %s = %.0f beacons/s (one goroutine, in process, token check included)", n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
	t.Logf("FIGURE heap growth of the API server after 10,000 beacons from 10,000 addresses (taken nonces for 10 min, limiter entries, ids not yet written; after GC): %.2f MiB",
		float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20)*10_000/n)

	var ns nonces
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		ns.take(fmt.Sprintf("%032x", i), b.clock.Now().Add(BeaconTicketTTL), b.clock.Now())
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("FIGURE memory of 10,000 taken beacon nonces (replay window): %.2f MiB", float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
	runtime.KeepAlive(&ns)
	// They are written with the next batch.
	require.Eventually(t, func() bool { return readBanner(t, b).Exposure.People == n }, 60*time.Second, 50*time.Millisecond)
}
