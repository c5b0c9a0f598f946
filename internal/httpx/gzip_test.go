package httpx

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestGzip(t *testing.T) {
	t.Parallel()
	body := strings.Repeat(`{"service":"svc-00001","state":"idle"},`, 500)
	h := Gzip(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/json":
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "99999")
			_, _ = io.WriteString(w, body)
		case "/png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, body)
		case "/stream":
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, "data: x\n\n")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	get := func(path, accept string) *http.Response {
		req := httptest.NewRequest("GET", path, nil)
		if accept != "" {
			req.Header.Set("Accept-Encoding", accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Result()
	}

	resp := get("/json", "br, gzip;q=0.8")
	require.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	require.Empty(t, resp.Header.Get("Content-Length"), "the length of the uncompressed body is dropped")
	require.Contains(t, resp.Header.Values("Vary"), "Accept-Encoding")
	zr, err := gzip.NewReader(resp.Body)
	require.NoError(t, err)
	plain, err := io.ReadAll(zr)
	require.NoError(t, err)
	require.Equal(t, body, string(plain), "the body decompresses to what the handler wrote")

	for _, tc := range []struct{ name, path, accept string }{
		{"client does not accept gzip", "/json", ""},
		{"client refuses gzip", "/json", "gzip;q=0, identity"},
		{"already compressed type", "/png", "gzip"},
		{"event stream", "/stream", "gzip"},
		{"no content", "/empty", "gzip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := get(tc.path, tc.accept)
			require.Empty(t, resp.Header.Get("Content-Encoding"))
		})
	}
}
