package sqlstore

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

func (s queries) ExposureAdd(ctx context.Context, p *store.ExposureAddParams) error {
	if p.Requests > 0 {
		if _, err := s.q.exec(ctx, `INSERT INTO exposure_requests (service, environment, release_id, source, requests, updated_at)
			VALUES (?, ?, ?, 'router', ?, ?)
			ON CONFLICT (service, environment, release_id, source) DO UPDATE SET requests = exposure_requests.requests + excluded.requests, updated_at = excluded.updated_at`,
			p.Service, p.Environment, p.ReleaseID, p.Requests, micros(p.At)); err != nil {
			return fmt.Errorf("error adding requests of release %d in %s/%s: %w", p.ReleaseID, p.Service, p.Environment, err)
		}
	}
	for _, person := range p.People {
		if _, err := s.q.exec(ctx, `INSERT INTO exposure_people (service, environment, release_id, person, first_seen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (service, environment, release_id, person) DO NOTHING`, p.Service, p.Environment, p.ReleaseID, person, micros(p.At)); err != nil {
			return fmt.Errorf("error adding a person of release %d in %s/%s: %w", p.ReleaseID, p.Service, p.Environment, err)
		}
	}
	return nil
}

func (s queries) ExposureSet(ctx context.Context, p *store.ExposureSetParams) error {
	if p.Requests < 0 {
		return fmt.Errorf("error setting requests of release %d in %s/%s: %d is negative", p.ReleaseID, p.Service, p.Environment, p.Requests)
	}
	if _, err := s.q.exec(ctx, `INSERT INTO exposure_requests (service, environment, release_id, source, requests, updated_at)
		VALUES (?, ?, ?, 'prometheus', ?, ?)
		ON CONFLICT (service, environment, release_id, source) DO UPDATE SET requests = excluded.requests, updated_at = excluded.updated_at`,
		p.Service, p.Environment, p.ReleaseID, p.Requests, micros(p.At)); err != nil {
		return fmt.Errorf("error setting requests of release %d in %s/%s: %w", p.ReleaseID, p.Service, p.Environment, err)
	}
	return nil
}

func (s queries) BeaconKey(ctx context.Context, candidate []byte, at time.Time) ([]byte, error) {
	if _, err := s.q.exec(ctx, `INSERT INTO beacon_keys (id, key_hex, created_at) VALUES (1, ?, ?) ON CONFLICT (id) DO NOTHING`,
		hex.EncodeToString(candidate), micros(at)); err != nil {
		return nil, fmt.Errorf("error storing the beacon key: %w", err)
	}
	var h string
	if err := s.q.queryRow(ctx, `SELECT key_hex FROM beacon_keys WHERE id = 1`).Scan(&h); err != nil {
		return nil, fmt.Errorf("error reading the beacon key: %w", err)
	}
	return hex.DecodeString(h)
}

// exposureState loads, into st, the use of releases from floor on in every
// environment that is below an exposure gate: requests from the source the
// gate counts with, and the people.
func (s queries) exposureState(ctx context.Context, st *pipeline.State, floor int64) error {
	for i := 1; i < len(st.Environments); i++ {
		x := st.Environments[i].Exposure
		if x == nil {
			continue
		}
		lower := st.Environments[i-1].Name
		counts := map[int64]*pipeline.ExposureCount{}
		get := func(id int64) *pipeline.ExposureCount {
			if c := counts[id]; c != nil {
				return c
			}
			c := &pipeline.ExposureCount{Environment: lower, ReleaseID: id, Source: x.Source}
			counts[id] = c
			return c
		}
		q := `SELECT release_id, requests FROM exposure_requests WHERE service = ? AND environment = ? AND release_id >= ?`
		args := []any{st.Service, lower, floor}
		if x.Source != "" {
			q += ` AND source = ?`
			args = append(args, x.Source)
		}
		rs, err := s.q.query(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("error loading the requests counted in %s/%s: %w", st.Service, lower, err)
		}
		for rs.Next() {
			var id, n int64
			if err := rs.Scan(&id, &n); err != nil {
				rs.Close()
				return fmt.Errorf("error reading requests counted: %w", err)
			}
			get(id).Requests += n
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		if x.People > 0 {
			rs, err = s.q.query(ctx, `SELECT release_id, person FROM exposure_people WHERE service = ? AND environment = ? AND release_id >= ?`,
				st.Service, lower, floor)
			if err != nil {
				return fmt.Errorf("error loading the people counted in %s/%s: %w", st.Service, lower, err)
			}
			for rs.Next() {
				var id int64
				var person string
				if err := rs.Scan(&id, &person); err != nil {
					rs.Close()
					return fmt.Errorf("error reading people counted: %w", err)
				}
				c := get(id)
				c.People = append(c.People, person)
			}
			rs.Close()
			if err := rs.Err(); err != nil {
				return err
			}
		}
		for _, c := range counts {
			st.Exposure = append(st.Exposure, *c)
		}
	}
	return nil
}
