package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
)

const stagingBanner = "/api/v1/services/web/environments/staging/banner"

func peopleGate(c *config.Config) {
	c.Services[0].Environments[1].Exposure = &config.Exposure{People: 3, AfterMaxWait: config.AfterMaxWaitHold}
}

// readBanner reads the staging banner with the banner token.
func readBanner(t *testing.T, b *testBundle) BannerView {
	t.Helper()
	rec := b.do(t, "192.0.2.1", "banner-secret", "GET", stagingBanner, "")
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var v BannerView
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
	return v
}

func beaconBody(ticket, id string) string {
	return fmt.Sprintf(`{"ticket": %q, "id": %q}`, ticket, id)
}

// TestBeacon: a signed, fresh, unused ticket counts a person once; forged,
// changed, foreign, replayed and expired tickets count nobody.
func TestBeacon(t *testing.T) {
	t.Parallel()
	b := setup(t, peopleGate)
	_, err := b.e.CreateRelease(context.Background(), "test", engine.ReleaseParams{Service: "web", Version: "3f2c1ab9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readBanner(t, b).Beacon != nil }, 20*time.Second, 10*time.Millisecond, "staging runs the release")

	v := readBanner(t, b)
	require.Equal(t, "You are helping bake web 3f2c1ab — 0 of 3 people so far", v.Message)
	require.Equal(t, &BannerExposure{People: 0, PeopleNeeded: 3}, v.Exposure)
	require.Equal(t, "/api/v1/services/web/environments/staging/beacon", v.Beacon.URL)
	url := v.Beacon.URL

	send := func(addr, ticket, id string) *http.Response {
		t.Helper()
		rec := b.do(t, addr, "banner-secret", "POST", url, beaconBody(ticket, id))
		return rec.Result()
	}
	p1 := strings.Repeat("a1", 16)
	require.Equal(t, http.StatusAccepted, send("192.0.2.1", v.Beacon.Ticket, p1).StatusCode)
	require.Equal(t, http.StatusConflict, send("192.0.2.1", v.Beacon.Ticket, strings.Repeat("b2", 16)).StatusCode, "a ticket counts once")

	forged := readBanner(t, b).Beacon.Ticket
	body, sig, _ := strings.Cut(forged, ".")
	flip := []byte(sig)
	flip[0] ^= 1
	require.Equal(t, http.StatusForbidden, send("192.0.2.1", body+"."+string(flip), strings.Repeat("c3", 16)).StatusCode, "a changed signature")
	require.Equal(t, http.StatusForbidden, send("192.0.2.1", "djF8d2VifHN0YWdpbmd8MXwxfHg."+sig, strings.Repeat("c3", 16)).StatusCode, "a payload of one's own")
	require.Equal(t, http.StatusForbidden, send("192.0.2.1", "not-a-ticket", strings.Repeat("c3", 16)).StatusCode)

	fresh := readBanner(t, b).Beacon.Ticket
	require.Equal(t, http.StatusBadRequest, send("192.0.2.1", fresh, "Ana.Smith@example.com").StatusCode, "ids are random hex, never personal data")
	rec := b.do(t, "192.0.2.1", "banner-secret", "POST", "/api/v1/services/web/environments/production/beacon", beaconBody(fresh, strings.Repeat("d4", 16)))
	require.Equal(t, http.StatusForbidden, rec.Code, "a staging ticket is no production ticket")

	b.clock.Add(BeaconTicketTTL + time.Second)
	require.Equal(t, http.StatusForbidden, send("192.0.2.1", fresh, strings.Repeat("d4", 16)).StatusCode, "expired")

	// Only the one good beacon counts, once it is written.
	require.Eventually(t, func() bool { return readBanner(t, b).Exposure.People == 1 }, 20*time.Second, 10*time.Millisecond)
	require.Equal(t, "You are helping bake web 3f2c1ab — 1 of 3 people so far", readBanner(t, b).Message)

	// Without a token (banner not public) nothing is taken.
	rec = b.do(t, "192.0.2.1", "", "POST", url, beaconBody(readBanner(t, b).Beacon.Ticket, strings.Repeat("e5", 16)))
	require.Equal(t, http.StatusUnauthorized, rec.Code)
}

// TestBeaconRateLimit: one address sends at most BeaconLimit beacons a
// window, good or bad; another address is not held back.
func TestBeaconRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, peopleGate)
	_, err := b.e.CreateRelease(context.Background(), "test", engine.ReleaseParams{Service: "web", Version: "a1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readBanner(t, b).Beacon != nil }, 20*time.Second, 10*time.Millisecond)
	url := readBanner(t, b).Beacon.URL
	for i := range BeaconLimit {
		rec := b.do(t, "192.0.2.7", "banner-secret", "POST", url, beaconBody(readBanner(t, b).Beacon.Ticket, fmt.Sprintf("%032x", i+1)))
		require.Equal(t, http.StatusAccepted, rec.Code, "beacon %d: %s", i+1, rec.Body.String())
	}
	rec := b.do(t, "192.0.2.7", "banner-secret", "POST", url, beaconBody(readBanner(t, b).Beacon.Ticket, fmt.Sprintf("%032x", 999)))
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.NotEmpty(t, rec.Header().Get("Retry-After"))
	rec = b.do(t, "192.0.2.8", "banner-secret", "POST", url, beaconBody(readBanner(t, b).Beacon.Ticket, fmt.Sprintf("%032x", 999)))
	require.Equal(t, http.StatusAccepted, rec.Code)
	b.clock.Add(BeaconWindow)
	rec = b.do(t, "192.0.2.7", "banner-secret", "POST", url, beaconBody(readBanner(t, b).Beacon.Ticket, fmt.Sprintf("%032x", 1000)))
	require.Equal(t, http.StatusAccepted, rec.Code, "the window ended")
}

// TestBeaconWithoutGate: no gate counts people in production's banner.
func TestBeaconWithoutGate(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	_, err := b.e.CreateRelease(context.Background(), "test", engine.ReleaseParams{Service: "web", Version: "a1"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return readBanner(t, b).Version != nil }, 20*time.Second, 10*time.Millisecond)
	v := readBanner(t, b)
	require.Nil(t, v.Beacon)
	require.Nil(t, v.Exposure)
	require.Equal(t, "You are on staging, where new changes arrive first", v.Message)
}

// TestExposureRouterDown: a router below that cannot listen counts
// nothing, and the service view says so on the gate (rule 9).
func TestExposureRouterDown(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { taken.Close() })
	b := setup(t, func(c *config.Config) {
		c.Services[0].Environments[0].Router = &config.EnvRouter{Listen: taken.Addr().String(), Upstream: "http://127.0.0.1:1", ResponseHeaderTimeout: time.Second}
		c.Services[0].Environments[1].Exposure = &config.Exposure{Requests: 10, AfterMaxWait: config.AfterMaxWaitHold}
	})
	_, err = b.e.CreateRelease(context.Background(), "test", engine.ReleaseParams{Service: "web", Version: "a1"})
	require.NoError(t, err)
	var v ServiceView
	require.Eventually(t, func() bool {
		rec := b.do(t, "192.0.2.1", "viewer-secret", "GET", "/api/v1/services/web", "")
		require.Equal(t, http.StatusOK, rec.Code)
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &v))
		return v.Environments[1].Exposure != nil && v.Environments[1].Exposure.Problem != ""
	}, 20*time.Second, 10*time.Millisecond)
	x := v.Environments[1].Exposure
	require.Contains(t, x.Problem, "the router in front of staging is not serving")
	require.EqualValues(t, 0, x.Requests)
	require.NotContains(t, x.Problem, taken.Addr().String(), "the address stays in the log")
}
