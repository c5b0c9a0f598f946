package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

// exposureWorld is bakery serving the quickstart's real app with staging
// behind bakery's one-upstream router, and production gated on exposure:
// 500 requests and 3 people in staging.
type exposureWorld struct {
	*world
	demo, app  string
	routerPort int
}

func newExposureWorld(t *testing.T) *exposureWorld {
	w := newWorld(t, worldOpts{})
	ew := &exposureWorld{world: w, demo: filepath.Join(w.dir, "demo"), app: filepath.Join(w.dir, "app")}
	out, err := exec.Command("go", "build", "-o", ew.app, "../../examples/quickstart/app").CombinedOutput()
	require.NoError(t, err, "building the quickstart app: %s", out)
	script, err := os.ReadFile("../../examples/quickstart/deploy.sh")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(w.dir, "qs-deploy.sh"), script, 0o755))
	t.Cleanup(func() {
		pids, _ := filepath.Glob(filepath.Join(ew.demo, "*.pid"))
		for _, p := range pids {
			b, _ := os.ReadFile(p)
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	staging, production := freePort(t), freePort(t)
	ew.routerPort = freePort(t)
	cfg := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [`+testInheritEnv+`]
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./qs-deploy.sh", "staging", "%d"]
        router:
          listen: 127.0.0.1:%d
          upstream: http://127.0.0.1:%d
      - name: production
        bake: 1s
        deploy:
          command: ["./qs-deploy.sh", "production", "%d"]
        exposure:
          requests: 500
          people: 3
`, w.addr, staging, ew.routerPort, staging, production)
	require.NoError(t, os.WriteFile(w.config, []byte(cfg), 0o644))
	w.env = append(w.env, "BAKERY_DEMO_DIR="+ew.demo)
	return ew
}

func (ew *exposureWorld) exposure() api.ExposureView {
	ew.t.Helper()
	for _, e := range ew.status("web").Environments {
		if e.Name == "production" && e.Exposure != nil {
			return *e.Exposure
		}
	}
	return api.ExposureView{}
}

func (ew *exposureWorld) productionWait() string {
	ew.t.Helper()
	return ew.status("web").Environments[1].Waiting.Message
}

// load sends n requests through the staging router, 8 at a time: the
// staging users.
func (ew *exposureWorld) load(n int) {
	ew.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", ew.routerPort)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for range next {
				resp, err := client.Get(url)
				if err != nil {
					errs <- err
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("GET %s: %d", url, resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		ew.t.Fatal(err)
	}
}

// simBrowser is a browser simulated in Go: it reads the staging banner
// with the banner token and sends the beacon the banner asks for.
func (ew *exposureWorld) banner(token string) api.BannerView {
	ew.t.Helper()
	var b api.BannerView
	require.Equal(ew.t, http.StatusOK, ew.call(token, "GET", "/api/v1/services/web/environments/staging/banner", nil, &b))
	return b
}

func (ew *exposureWorld) beacon(token, ticket, id string) int {
	ew.t.Helper()
	var out map[string]any
	return ew.call(token, "POST", "/api/v1/services/web/environments/staging/beacon", api.BeaconRequest{Ticket: ticket, ID: id}, &out)
}

// TestExposureGate is the exposure gate on the whole binary: the
// quickstart app behind a staging router, production gated on 500
// requests and 3 people in staging. Three browsers (two simulated, one
// real Chromium running banner.js) move the people count; forged and
// replayed beacons do not. A load generator sends 300 requests, then 300
// more: production follows only after the second batch.
func TestExposureGate(t *testing.T) {
	t.Parallel()
	ew := newExposureWorld(t)
	ew.start()
	var tok struct {
		Token string `json:"token"`
	}
	require.Equal(t, http.StatusCreated, ew.call(adminToken, "POST", "/api/v1/tokens", api.TokenRequest{Name: "web-banner", Role: "banner"}, &tok))
	banner := tok.Token

	var rel map[string]any
	require.Equal(t, http.StatusCreated, ew.call(adminToken, "POST", "/api/v1/services/web/releases",
		api.ReleaseRequest{Version: "v1", Artifact: ew.app, Message: "change v1", Author: "ana"}, &rel))
	ew.eventually(60*time.Second, "v1 runs in staging", func() bool { return ew.version("web", "staging") == "v1" })

	// People. Browser 1 (simulated).
	b1 := ew.banner(banner)
	require.Equal(t, "You are helping bake web v1 — 0 of 3 people so far", b1.Message)
	require.NotNil(t, b1.Beacon)
	require.Equal(t, http.StatusAccepted, ew.beacon(banner, b1.Beacon.Ticket, strings.Repeat("1a", 16)))
	// A replay of its ticket, a forged ticket, and a beacon without the
	// banner credential count nobody.
	require.Equal(t, http.StatusConflict, ew.beacon(banner, b1.Beacon.Ticket, strings.Repeat("ee", 16)), "replayed")
	forged := ew.banner(banner).Beacon.Ticket
	body, sig, _ := strings.Cut(forged, ".")
	require.Equal(t, http.StatusForbidden, ew.beacon(banner, body+"."+strings.Repeat("A", len(sig)), strings.Repeat("ef", 16)), "forged")
	require.Equal(t, http.StatusUnauthorized, ew.beacon("", forged, strings.Repeat("ef", 16)), "no banner credential")
	// Browser 2 (simulated).
	b2 := ew.banner(banner)
	require.Equal(t, http.StatusAccepted, ew.beacon(banner, b2.Beacon.Ticket, strings.Repeat("2b", 16)))
	ew.eventually(20*time.Second, "2 people counted", func() bool { return ew.exposure().People == 2 })

	// Browser 3: real Chromium on a staging page that includes banner.js.
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>web on staging</title></head><body><h1>web</h1>
<script src="http://%s/banner.js" data-service="web" data-environment="staging" data-token="%s"></script></body></html>`, ew.addr, banner)
	}))
	t.Cleanup(page.Close)
	br := newBrowser(t, ew.world)
	br.do(30*time.Second, chromedp.Navigate(page.URL+"/"))
	bannerText := `(document.querySelector("[data-bakery-banner]") && document.querySelector("[data-bakery-banner]").shadowRoot.textContent) || ""`
	br.waitFor(15*time.Second, "the staging banner", bannerText+`.includes("people so far")`)
	require.Contains(t, evalIn[string](br, bannerText), "You are helping bake web v1 — 2 of 3 people so far")
	ew.eventually(20*time.Second, "Chromium's beacon counted", func() bool { return ew.exposure().People == 3 })
	id := evalIn[string](br, `localStorage.getItem("bakery-person")`)
	require.Regexp(t, `^[0-9a-f]{32}$`, id, "a random id, nothing personal")
	// A reload sends no second beacon for the same release, and the
	// banner now says 3 of 3.
	br.do(30*time.Second, chromedp.Reload())
	br.waitFor(15*time.Second, "the banner after reload", bannerText+`.includes("3 of 3 people so far")`)
	require.Equal(t, 3, ew.exposure().People, "3 browsers, 3 people: no forged or replayed beacon counted")

	// Requests: the first 300 are not enough.
	require.Equal(t, "", ew.version("web", "production"))
	ew.load(300)
	ew.eventually(20*time.Second, "300 requests counted", func() bool { return ew.exposure().Requests == 300 })
	require.Equal(t, "", ew.version("web", "production"), "300 of 500 requests: production waits")
	require.Contains(t, ew.productionWait(), "v1 baked 1s; 300 of 500 requests, 3 of 3 people in staging")

	// The second batch completes the gate: production follows.
	ew.load(300)
	ew.eventually(60*time.Second, "v1 reaches production", func() bool { return ew.version("web", "production") == "v1" })
	ev := findEvent(ew.events("web"), "promotion.decided", "production", "v1")
	require.NotNil(t, ev)
	require.Contains(t, ev.Reason, "exposure met")
	require.GreaterOrEqual(t, ew.exposure().Requests, int64(500))
}
