package github

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestMemoryOfA25MBDelivery measures what receiving a payload at GitHub's
// cap costs: the bytes allocated while one signed 25 MB push is read,
// checked and parsed, and what is still held once it has been answered.
// Run: go test ./internal/github/ -run TestMemoryOfA25MBDelivery -v
func TestMemoryOfA25MBDelivery(t *testing.T) {
	b := setup(t, nil, false, nil)
	push := fixture(t, "push.json")
	// Pad the push with one huge commit list of files, as a monorepo's
	// large push would be, to just under the cap.
	pad := `"modified": ["` + strings.Repeat("x", MaxPayload-len(push)-200) + `"]`
	body := bytes.Replace(push, []byte(`"modified": ["services/web/total.go"]`), []byte(pad), 1)
	require.Less(t, len(body), MaxPayload)
	require.Greater(t, len(body), MaxPayload-1000)
	sig := Sign(secret, body)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	req := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "big")
	req.Header.Set("X-Hub-Signature-256", sig)
	rec := httptest.NewRecorder()
	b.g.ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	allocated := after.TotalAlloc - before.TotalAlloc
	runtime.GC()
	runtime.ReadMemStats(&after)
	held := max(int64(after.HeapAlloc)-int64(before.HeapAlloc), 0)
	mb := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("FIGURE memory to receive a %.1f MB delivery: %.1f MB allocated while reading, checking and parsing it (%.2f× the payload); %.1f MB still held after the answer",
		mb(int64(len(body))), mb(int64(allocated)), float64(allocated)/float64(len(body)), mb(held))
	// The body is read once into a buffer of its size; parsing copies the
	// strings bakery reads out of it (here one huge file name): about two
	// payloads in all.
	require.Less(t, allocated, uint64(5*len(body)/2))
	require.Less(t, held, int64(len(body)/2), "nothing of the payload is kept")
}
