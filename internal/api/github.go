package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

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
