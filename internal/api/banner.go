package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/store"
)

// bannerPattern is the route apps' banner script reads.
const bannerPattern = "/api/v1/services/{service}/environments/{env}/banner"

// BannerView tells employees using an app which environment they are on
// and how far the environment before it is ahead.
type BannerView struct {
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Version is what runs in the environment; null before its first
	// deployment, and always null when served without a token
	// (server.banner.public).
	Version *string `json:"version"`
	// NewerIn is the environment before this one ("" for the first);
	// NewerCount how many releases it runs that this one does not.
	NewerIn    string `json:"newer_in"`
	NewerCount int    `json:"newer_count"`
	Message    string `json:"message"`
	// Exposure is set when the environment after this one has an exposure
	// gate counting people: how many have used the release running here
	// (and newer ones) of how many it asks for.
	Exposure *BannerExposure `json:"exposure,omitempty"`
	// Beacon is the ticket the page sends its beacon with (POST Beacon.URL),
	// set with Exposure.
	Beacon *BeaconTicket `json:"beacon,omitempty"`

	// publicMessage is Message without the version, for the public banner.
	publicMessage string
}

// BannerExposure is the count of people the staging banner shows.
type BannerExposure struct {
	People       int `json:"people"`
	PeopleNeeded int `json:"people_needed"`
}

// Status is a service's pipeline now, as GET /api/v1/services/{service}
// serves it; the dashboard renders it.
func (s *Server) Status(ctx context.Context, service string) (ServiceView, error) {
	return s.serviceViewOf(ctx, service)
}

// maxNewer bounds the releases counted; a gap that large says enough.
const maxNewer = 1000

func (s *Server) banner(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	b, err := s.bannerView(r.Context(), r.PathValue("service"), r.PathValue("env"))
	if err != nil {
		return err
	}
	writeBanner(w, b)
	return nil
}

// publicBanner serves the banner without a token when server.banner.public
// is set: only the counts, not the version (a commit SHA says more about an
// app than its employees' banner needs). A request that sends a token is
// authenticated as usual. Every other route needs a token whatever the
// setting.
func (s *Server) publicBanner(authed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.e.Config().Server.Banner.Public || r.Header.Get("Authorization") != "" {
			authed.ServeHTTP(w, r)
			return
		}
		b, err := s.bannerView(r.Context(), r.PathValue("service"), r.PathValue("env"))
		if err != nil {
			apiErr := toAPIError(err)
			if apiErr.Status >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			// Without a token, no detail: it would list the services.
			writeError(w, &Error{Status: apiErr.Status, Message: apiErr.Message})
			return
		}
		b.Version = nil
		if b.publicMessage != "" {
			b.Message = b.publicMessage
		}
		writeBanner(w, b)
	})
}

func (s *Server) bannerView(ctx context.Context, service, env string) (BannerView, error) {
	svc, d, err := s.e.View(ctx, service)
	if err != nil {
		return BannerView{}, err
	}
	_, i, ok := svc.Environment(env)
	if !ok {
		return BannerView{}, &Error{Status: http.StatusNotFound, Message: "unknown environment",
			Detail: fmt.Sprintf("%s has no environment %q", svc.Name, env)}
	}
	b := BannerView{Service: svc.Name, Environment: env}
	var curID int64
	if cur := d.Environments[i].Current; cur != nil {
		v := cur.Version
		b.Version, curID = &v, cur.ID
	}
	if i == 0 {
		b.Message = fmt.Sprintf("You are on %s, where new changes arrive first", env)
	}
	if err := s.bannerExposure(ctx, &b, d, i); err != nil {
		return BannerView{}, err
	}
	if i == 0 {
		return b, nil
	}
	b.NewerIn = svc.Environments[i-1].Name
	if before := d.Environments[i-1].Current; before != nil && before.ID > curID {
		// Releases are numbered in the order they were created; every one
		// between the two is a change the environment before runs (a newer
		// release contains the older ones).
		rels, err := s.e.Records().ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, Limit: maxNewer})
		if err != nil {
			return BannerView{}, err
		}
		for _, rel := range rels {
			if rel.ID > curID && rel.ID <= before.ID {
				b.NewerCount++
			}
		}
	}
	switch b.NewerCount {
	case 0:
		b.Message = fmt.Sprintf("You are on %s; it runs everything %s runs", env, b.NewerIn)
	case 1:
		b.Message = fmt.Sprintf("You are on %s; %s runs 1 newer change — use %s", env, b.NewerIn, b.NewerIn)
	default:
		b.Message = fmt.Sprintf("You are on %s; %s runs %d newer changes — use %s", env, b.NewerIn, b.NewerCount, b.NewerIn)
	}
	return b, nil
}

func writeBanner(w http.ResponseWriter, b BannerView) {
	// Employees' browsers ask again when they load a page; a minute of
	// staleness is fine and spares the server.
	w.Header().Set("Cache-Control", "private, max-age=60")
	writeJSON(w, http.StatusOK, b)
}

// withCORS lets apps on other origins read the banner with a token in the
// Authorization header; every other route stays same-origin.
func withCORS(pattern string, h http.Handler) http.Handler {
	if pattern != bannerPattern && pattern != beaconPattern {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Vary", "Origin")
		h.ServeHTTP(w, r)
	})
}

// bannerPreflight answers the browser's CORS preflight for the banner.
func bannerPreflight(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.Header().Set("Access-Control-Allow-Methods", "GET")
	w.Header().Set("Access-Control-Allow-Headers", "Authorization, Accept")
	w.Header().Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// bannerExposure adds the count of people to the banner of environment i
// when the gate of the environment after it counts them: "You are helping
// bake web 3f2c1ab — 2 of 3 people so far", and a beacon ticket.
func (s *Server) bannerExposure(ctx context.Context, b *BannerView, d readmodel.Service, i int) error {
	if i+1 >= len(d.Environments) || b.Version == nil {
		return nil
	}
	x := d.Environments[i+1].Exposure
	if x == nil || x.PeopleNeeded <= 0 {
		return nil
	}
	b.Exposure = &BannerExposure{People: x.People, PeopleNeeded: x.PeopleNeeded}
	b.Message = fmt.Sprintf("You are helping bake %s %s — %d of %d people so far", b.Service, shortVersion(*b.Version), x.People, x.PeopleNeeded)
	b.publicMessage = fmt.Sprintf("You are helping bake %s — %d of %d people so far", b.Service, x.People, x.PeopleNeeded)
	t, err := s.beaconTicket(ctx, b.Service, b.Environment, d.Environments[i].Current.ID)
	if err != nil {
		return err
	}
	b.Beacon = t
	return nil
}

// publicBeacon takes beacons without a token when server.banner.public is
// set, like the banner itself; the ticket's signature still decides.
func (s *Server) publicBeacon(authed http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.e.Config().Server.Banner.Public || r.Header.Get("Authorization") != "" {
			authed.ServeHTTP(w, r)
			return
		}
		if err := s.beacon(w, r, nil); err != nil {
			apiErr := toAPIError(err)
			if apiErr.Status >= 500 {
				s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
			}
			writeError(w, apiErr)
		}
	})
}
