package engine

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
)

// TestExposureFigures prints the memory a replica holds for 10,000
// distinct beacon ids between two batches (the pending set Beacon fills
// and flush writes).
//
// Run: BAKERY_FIGURES=1 go test -run TestExposureFigures -count=1 -v ./internal/engine/
func TestExposureFigures(t *testing.T) {
	if os.Getenv("BAKERY_FIGURES") == "" {
		t.Skip("set BAKERY_FIGURES=1 to print the exposure figures")
	}
	cfg := &config.Config{Services: []config.Service{{Name: "web", Environments: []config.Environment{
		{Name: "staging"}, {Name: "production", Bake: time.Hour, Exposure: &config.Exposure{People: 3}}}}}}
	e := New(Options{Config: cfg})
	const n = 10_000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range n {
		require.NoError(t, e.Beacon(context.Background(), "web", "staging", 1, fmt.Sprintf("%032x", i+1)))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("FIGURE memory per 10,000 distinct beacon ids pending in a replica between two batches (32-hex-digit ids, their strings included): %.2f MiB",
		float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/(1<<20))
	runtime.KeepAlive(e)
}
