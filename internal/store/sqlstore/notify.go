package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/store"
)

const deliveryCols = `id, destination, service, event_id, type, msg_id, payload, state, attempts, last_error, next_attempt_at, delivered_at, created_at`

func scanDelivery(r row) (store.Delivery, error) {
	var d store.Delivery
	var payload string
	var next, created int64
	var delivered sql.NullInt64
	if err := r.Scan(&d.ID, &d.Destination, &d.Service, &d.EventID, &d.Type, &d.MsgID, &payload, &d.State, &d.Attempts,
		&d.LastError, &next, &delivered, &created); err != nil {
		return d, err
	}
	d.Payload = []byte(payload)
	d.NextAttemptAt = fromMicros(next)
	d.DeliveredAt = fromNullMicros(delivered)
	d.CreatedAt = fromMicros(created)
	return d, nil
}

// DeliveryInsert records a pending delivery.
func (s queries) DeliveryInsert(ctx context.Context, d *store.Delivery) (store.Delivery, error) {
	state := d.State
	if state == "" {
		state = store.DeliveryPending
	}
	out, err := scanDelivery(s.q.queryRow(ctx, `
		INSERT INTO notify_deliveries (destination, service, event_id, type, msg_id, payload, state, attempts, last_error, next_attempt_at, delivered_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (msg_id) DO NOTHING RETURNING `+deliveryCols,
		d.Destination, d.Service, d.EventID, d.Type, d.MsgID, string(d.Payload), state, d.Attempts, d.LastError,
		micros(d.NextAttemptAt), nullMicros(d.DeliveredAt), micros(d.CreatedAt)))
	if errors.Is(err, store.ErrNotFound) {
		// Nothing inserted: on PostgreSQL a unique violation would abort
		// the caller's transaction, so conflicts are skipped in SQL.
		return out, fmt.Errorf("%w: a delivery %s exists already", store.ErrConflict, d.MsgID)
	}
	if err != nil {
		return out, fmt.Errorf("error recording delivery %s: %w", d.MsgID, err)
	}
	return out, nil
}

// DeliveryUpdate writes a delivery's outcome.
func (s queries) DeliveryUpdate(ctx context.Context, d *store.Delivery) error {
	n, err := s.q.exec(ctx, `UPDATE notify_deliveries SET state = ?, attempts = ?, last_error = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?`,
		d.State, d.Attempts, d.LastError, micros(d.NextAttemptAt), nullMicros(d.DeliveredAt), d.ID)
	if err != nil {
		return fmt.Errorf("error updating delivery %d: %w", d.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("error updating delivery %d: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

// DeliveryGet returns one delivery.
func (s queries) DeliveryGet(ctx context.Context, id int64) (store.Delivery, error) {
	d, err := scanDelivery(s.q.queryRow(ctx, `SELECT `+deliveryCols+` FROM notify_deliveries WHERE id = ?`, id))
	if err != nil {
		return d, fmt.Errorf("error reading delivery %d: %w", id, err)
	}
	return d, nil
}

// DeliveryList lists deliveries.
func (s queries) DeliveryList(ctx context.Context, p *store.DeliveryListParams) ([]store.Delivery, error) {
	q := `SELECT ` + deliveryCols + ` FROM notify_deliveries WHERE 1 = 1`
	var args []any
	if p.Destination != "" {
		q, args = q+` AND destination = ?`, append(args, p.Destination)
	}
	if p.Service != "" {
		q, args = q+` AND service = ?`, append(args, p.Service)
	}
	if len(p.States) > 0 {
		in, a := inList(p.States)
		q, args = q+` AND state IN `+in, append(args, a...)
	}
	if p.Newest {
		q += ` ORDER BY id DESC`
	} else {
		q += ` ORDER BY id`
	}
	q, args = q+` LIMIT ?`, append(args, limitOr(p.Limit, 100))
	rs, err := s.q.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("error listing deliveries: %w", err)
	}
	defer rs.Close()
	var out []store.Delivery
	for rs.Next() {
		d, err := scanDelivery(rs)
		if err != nil {
			return nil, fmt.Errorf("error reading delivery: %w", err)
		}
		out = append(out, d)
	}
	return out, rs.Err()
}

// DeliveryPairsDue lists the pairs whose oldest pending delivery is due at
// now (the one a drain job sends first).
func (s queries) DeliveryPairsDue(ctx context.Context, now time.Time) ([][2]string, error) {
	rs, err := s.q.query(ctx, `SELECT d.destination, d.service FROM notify_deliveries d
		WHERE d.state = ? AND d.next_attempt_at <= ?
		AND d.id = (SELECT MIN(o.id) FROM notify_deliveries o WHERE o.destination = d.destination AND o.service = d.service AND o.state = ?)
		ORDER BY d.destination, d.service`,
		store.DeliveryPending, micros(now), store.DeliveryPending)
	if err != nil {
		return nil, fmt.Errorf("error listing due deliveries: %w", err)
	}
	defer rs.Close()
	var out [][2]string
	for rs.Next() {
		var p [2]string
		if err := rs.Scan(&p[0], &p[1]); err != nil {
			return nil, fmt.Errorf("error reading due deliveries: %w", err)
		}
		out = append(out, p)
	}
	return out, rs.Err()
}

// SlackMessageGet returns a release's Slack message.
func (s queries) SlackMessageGet(ctx context.Context, destination, service, version string) (store.SlackMessage, error) {
	m := store.SlackMessage{Destination: destination, Service: service, Version: version}
	err := s.q.queryRow(ctx, `SELECT channel, ts FROM slack_messages WHERE destination = ? AND service = ? AND version = ?`,
		destination, service, version).Scan(&m.Channel, &m.TS)
	if err != nil {
		return m, fmt.Errorf("error reading the Slack message of %s %s: %w", service, version, err)
	}
	return m, nil
}

// SlackMessagePut records a release's Slack message.
func (s queries) SlackMessagePut(ctx context.Context, m *store.SlackMessage) error {
	_, err := s.q.exec(ctx, `INSERT INTO slack_messages (destination, service, version, channel, ts) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (destination, service, version) DO UPDATE SET channel = excluded.channel, ts = excluded.ts`,
		m.Destination, m.Service, m.Version, m.Channel, m.TS)
	if err != nil {
		return fmt.Errorf("error recording the Slack message of %s %s: %w", m.Service, m.Version, err)
	}
	return nil
}
