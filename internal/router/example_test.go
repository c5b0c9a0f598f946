package router_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/bakery-deploy/bakery/internal/router"
)

// A router at 25 % sends every fourth request to the canary.
func Example() {
	answer := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
	}
	stable, canary := answer("v1"), answer("v2")
	defer stable.Close()
	defer canary.Close()
	stableURL, _ := url.Parse(stable.URL)
	canaryURL, _ := url.Parse(canary.URL)

	r, err := router.New(stableURL, canaryURL, router.Options{Service: "web", Environment: "production", TrackHeader: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.CloseIdleConnections()
	r.SetWeight(25)
	front := httptest.NewServer(r)
	defer front.Close()

	for range 8 {
		resp, err := http.Get(front.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.Header.Get(router.TrackHeader), string(body))
	}
	// Output:
	// stable v1
	// stable v1
	// stable v1
	// canary v2
	// stable v1
	// stable v1
	// stable v1
	// canary v2
}

// The judge compares per-second error rates of canary and baseline.
func ExampleErrorRates() {
	t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	samples := []router.Sample{
		{At: t0, Status: 200},
		{At: t0.Add(300 * time.Millisecond), Status: 500},
		// nothing in the second after
		{At: t0.Add(2 * time.Second), Status: 200},
	}
	fmt.Println(router.ErrorRates(samples, time.Second))
	// Output: [0.5 0]
}
