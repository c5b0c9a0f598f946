package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Notifications is what the API needs of the notifier (internal/notify).
type Notifications interface {
	Deliveries(ctx context.Context, failed bool, limit int) ([]store.Delivery, error)
	Resend(ctx context.Context, id int64) (store.Delivery, error)
}

// SetNotifications serves the deliveries routes from n.
func (s *Server) SetNotifications(n Notifications) { s.notify = n }

// Handle serves h for pattern beside the API: the Slack webhooks, which
// are signed by Slack instead of carrying a token.
func (s *Server) Handle(pattern string, h http.Handler) { s.handle(pattern, h) }

// DeliveryView is a notification delivery.
type DeliveryView struct {
	ID          int64      `json:"id"`
	Destination string     `json:"destination"`
	Service     string     `json:"service"`
	EventID     int64      `json:"event_id"`
	Type        string     `json:"type"`
	WebhookID   string     `json:"webhook_id"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastError   string     `json:"last_error"`
	NextAttempt *time.Time `json:"next_attempt_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	CreatedAt   time.Time  `json:"created_at"`
}

// DeliveryViewOf is the API's view of a delivery (the dashboard uses it
// too).
func DeliveryViewOf(d store.Delivery) DeliveryView {
	v := DeliveryView{ID: d.ID, Destination: d.Destination, Service: d.Service, EventID: d.EventID, Type: d.Type, WebhookID: d.MsgID,
		State: d.State, Attempts: d.Attempts, LastError: d.LastError, DeliveredAt: timePtr(d.DeliveredAt), CreatedAt: d.CreatedAt.UTC()}
	if d.State == store.DeliveryPending {
		v.NextAttempt = timePtr(d.NextAttemptAt)
	}
	return v
}

func (s *Server) notifier() (Notifications, error) {
	if s.notify == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Message: "notifications are not running in this server"}
	}
	return s.notify, nil
}

func (s *Server) listDeliveries(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	n, err := s.notifier()
	if err != nil {
		return err
	}
	failed := false
	if v := r.URL.Query().Get("failed"); v != "" {
		if failed, err = strconv.ParseBool(v); err != nil {
			return &Error{Status: http.StatusBadRequest, Message: "invalid failed", Detail: "failed is true or false"}
		}
	}
	limit, err := intParam(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	ds, err := n.Deliveries(r.Context(), failed, limit)
	if err != nil {
		return err
	}
	out := make([]DeliveryView, 0, len(ds))
	for _, d := range ds {
		out = append(out, DeliveryViewOf(d))
	}
	writeJSON(w, http.StatusOK, map[string]any{"deliveries": out})
	return nil
}

func (s *Server) resendDelivery(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	n, err := s.notifier()
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &Error{Status: http.StatusBadRequest, Message: "invalid delivery id", Detail: "give the number from 'bakery notifications deliveries'"}
	}
	d, err := n.Resend(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: "no such delivery", Detail: "list them with 'bakery notifications deliveries'"}
	}
	if err != nil {
		return &Error{Status: http.StatusConflict, Message: "cannot re-send the delivery", Detail: err.Error()}
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"delivery": DeliveryViewOf(d)})
	return nil
}
