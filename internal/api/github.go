package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/redact"
	"github.com/bakery-deploy/bakery/internal/store"
)

// MountWebhook serves a webhook receiver (GitHub's) at POST path. It is
// authenticated by its payload's signature, not by a bearer token.
func (s *Server) MountWebhook(path string, h http.Handler) {
	s.handle("POST "+path, h)
}

// GitHubView says that GitHub is behind on a service: since when its
// updates fail, and the last error.
type GitHubView struct {
	Behind      bool      `json:"behind"`
	BehindSince time.Time `json:"behind_since"`
	LastError   string    `json:"last_error"`
	// Message is the sentence the dashboard and bakery status show.
	Message string `json:"message"`
}

// ChangesView is what waits to enter an environment, as GitHub's compare
// API says: the commits between what runs there and the newest release in
// its queue, and the pull requests they merged.
type ChangesView struct {
	Base    string  `json:"base"`
	Head    string  `json:"head"`
	Commits int     `json:"commits"`
	PRs     []int64 `json:"prs"`
	// Message is "14 PRs waiting (23 commits)".
	Message string `json:"message"`
}

// GitHubChanges is the GitHub integration's view of what waits per
// environment (internal/github), when it runs.
type GitHubChanges interface {
	Waiting(ctx context.Context, repository string, m readmodel.Service) map[string]ChangesView
}

// SetGitHub gives the API the GitHub integration's view of what waits.
func (s *Server) SetGitHub(g GitHubChanges) { s.github = g }

// decorate adds what GitHub knows to a service's view: whether GitHub is
// behind, and what waits for each environment.
func (s *Server) decorate(ctx context.Context, svc *config.Service, m readmodel.Service, v *ServiceView) {
	v.GitHub = s.gitHubView(ctx, svc.Name)
	if s.github == nil {
		return
	}
	changes := s.github.Waiting(ctx, svc.Repository, m)
	for i := range v.Environments {
		if c, ok := changes[v.Environments[i].Name]; ok {
			v.Environments[i].Changes = &c
		}
	}
}

// gitHubView is the service's GitHub health; nil when GitHub is up to date.
func (s *Server) gitHubView(ctx context.Context, service string) *GitHubView {
	gr, ok := s.e.Records().(store.GitHubReader)
	if !ok {
		return nil
	}
	hs, err := gr.GitHubHealthList(ctx)
	if err != nil {
		return nil
	}
	for _, h := range hs {
		if h.Service == service {
			return &GitHubView{Behind: true, BehindSince: h.BehindSince, LastError: redact.ForViewers(h.LastError),
				Message: fmt.Sprintf("GitHub statuses are behind (since %s, last error: %s)", h.BehindSince.UTC().Format("2006-01-02 15:04 UTC"), redact.ForViewers(h.LastError))}
		}
	}
	return nil
}

type deliveryJSON struct {
	ID         int64     `json:"id"`
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event"`
	Action     string    `json:"action,omitempty"`
	Accepted   bool      `json:"accepted"`
	Outcome    string    `json:"outcome"`
	Detail     string    `json:"detail,omitempty"`
	ReceivedAt time.Time `json:"received_at"`
}

// listGitHubDeliveries is the delivery log: every webhook delivery,
// accepted or not, newest first (never a body or a secret).
func (s *Server) listGitHubDeliveries(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return &Error{Status: http.StatusBadRequest, Message: "invalid limit", Detail: "limit must be a whole number from 1 to 1000"}
		}
		limit = n
	}
	gr, ok := s.e.Records().(store.GitHubReader)
	if !ok {
		return &Error{Status: http.StatusNotImplemented, Message: "this store keeps no GitHub deliveries"}
	}
	ds, err := gr.GitHubDeliveryList(r.Context(), &store.GitHubDeliveryListParams{Limit: limit})
	if err != nil {
		return err
	}
	out := make([]deliveryJSON, 0, len(ds))
	for _, d := range ds {
		out = append(out, deliveryJSON{ID: d.ID, DeliveryID: d.DeliveryID, Event: d.Event, Action: d.Action, Accepted: d.Accepted,
			Outcome: d.Outcome, Detail: d.Detail, ReceivedAt: d.ReceivedAt})
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}
