package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

// EventLastID is the ID of the newest event, 0 for an empty log.
func (s queries) EventLastID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.q.queryRow(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id); err != nil {
		return 0, fmt.Errorf("error reading the newest event's id: %w", err)
	}
	return id, nil
}

// CursorGet returns where the named follower of the event log stands.
func (s queries) CursorGet(ctx context.Context, name string) (int64, bool, error) {
	var id int64
	err := s.q.queryRow(ctx, `SELECT event_id FROM event_cursors WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, store.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("error reading the event cursor %s: %w", name, err)
	}
	return id, true, nil
}

// CursorCreate places the named follower at eventID, if it has no cursor.
func (s queries) CursorCreate(ctx context.Context, name string, eventID int64, at time.Time) error {
	n, err := s.q.exec(ctx, `INSERT INTO event_cursors (name, event_id, updated_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
		name, eventID, micros(at))
	if err != nil {
		return fmt.Errorf("error creating the event cursor %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the event cursor %s exists already", store.ErrConflict, name)
	}
	return nil
}

// CursorMove moves the named follower from one event to another, if it
// still stands at from.
func (s queries) CursorMove(ctx context.Context, name string, from, to int64, at time.Time) error {
	n, err := s.q.exec(ctx, `UPDATE event_cursors SET event_id = ?, updated_at = ? WHERE name = ? AND event_id = ?`,
		to, micros(at), name, from)
	if err != nil {
		return fmt.Errorf("error moving the event cursor %s: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the event cursor %s is no longer at event %d", store.ErrConflict, name, from)
	}
	return nil
}
