package api

import (
	"context"
	"fmt"
	"net/http"

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
	// deployment.
	Version *string `json:"version"`
	// NewerIn is the environment before this one ("" for the first);
	// NewerCount how many releases it runs that this one does not.
	NewerIn    string `json:"newer_in"`
	NewerCount int    `json:"newer_count"`
	Message    string `json:"message"`
}

// Status is a service's pipeline now, as GET /api/v1/services/{service}
// serves it; the dashboard renders it.
func (s *Server) Status(ctx context.Context, service string) (ServiceView, error) {
	svc, d, err := s.e.Status(ctx, service)
	if err != nil {
		return ServiceView{}, err
	}
	return serviceView(svc, d, s.e.Now()), nil
}

// maxNewer bounds the releases counted; a gap that large says enough.
const maxNewer = 1000

func (s *Server) banner(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, d, err := s.e.Status(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	env := r.PathValue("env")
	_, i, ok := svc.Environment(env)
	if !ok {
		return &Error{Status: http.StatusNotFound, Message: "unknown environment",
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
		writeBanner(w, b)
		return nil
	}
	b.NewerIn = svc.Environments[i-1].Name
	if before := d.Environments[i-1].Current; before != nil && before.ID > curID {
		// Releases are numbered in the order they were created; every one
		// between the two is a change the environment before runs (a newer
		// release contains the older ones).
		rels, err := s.e.Store().ReleaseList(r.Context(), &store.ReleaseListParams{Service: svc.Name, Limit: maxNewer})
		if err != nil {
			return err
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
	writeBanner(w, b)
	return nil
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
	if pattern != bannerPattern {
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
