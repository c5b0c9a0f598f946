package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// pileUps (once a minute at most, with the baking releases' refresh)
// re-announces every lock that has held for PileUpAfter, then every
// PileUpEvery, with how many releases have piled up behind it (created
// since it was placed). Each announcement has its own message ID, so a
// second leader, or the next sweep, writes it only once.
func (n *Notifier) pileUps(ctx context.Context) error {
	cfg := n.e.Config()
	if len(cfg.Notifications) == 0 {
		return nil
	}
	st := n.e.Store()
	now := n.e.Now()
	n.pileMu.Lock()
	if !n.pileLast.IsZero() && now.Sub(n.pileLast) >= 0 && now.Sub(n.pileLast) < time.Minute {
		n.pileMu.Unlock()
		return nil // looked less than a minute ago
	}
	n.pileLast = now
	n.pileMu.Unlock()
	if err := n.refreshBaking(ctx); err != nil {
		return err
	}
	locks, err := st.LockList(ctx, &store.LockListParams{})
	if err != nil {
		return err
	}
	for _, l := range locks {
		held := now.Sub(l.CreatedAt)
		if !l.ActiveAt(now) || held < PileUpAfter {
			continue
		}
		k := int((held - PileUpAfter) / PileUpEvery)
		count := 0
		for _, svc := range cfg.Services {
			if !l.Holds(svc.Name, svc.Labels) {
				continue
			}
			rels, err := st.ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, Limit: 1000})
			if err != nil {
				return err
			}
			for _, r := range rels {
				if r.CreatedAt.After(l.CreatedAt) {
					count++
				}
			}
		}
		b := Body{Type: EventPileUp, Timestamp: now.UTC(), Data: Data{Service: l.Service, Environment: l.Environment,
			Actor: l.Actor, Reason: l.Reason, Details: map[string]any{"lock_id": l.ID, "held_for": held.Round(time.Minute).String(),
				"pile_up": count, "since": l.CreatedAt.UTC().Format(time.RFC3339)}}}
		if l.Selector != "" {
			b.Data.Service = pipeline.AllServices
			b.Data.Details["selector"] = l.Selector
		}
		if l.Service != pipeline.AllServices && l.Selector == "" {
			b.Data.URL = cfg.Server.URL + "/services/" + l.Service
		}
		body, err := json.Marshal(b)
		if err != nil {
			return err
		}
		pairs := map[[2]string]bool{}
		scope := b.Data.Service
		err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
			for _, d := range cfg.Notifications {
				if !wants(d, "pile_up", scope) {
					continue
				}
				id := "msg_pileup_" + strconv.FormatInt(l.ID, 10) + "_" + strconv.Itoa(k) + "_" + d.Name
				if err := n.insert(ctx, tx, d.Name, scope, 0, EventPileUp, id, body, now); err != nil {
					return err
				}
				pairs[[2]string{d.Name, scope}] = true
			}
			return n.enqueue(ctx, tx, pairs)
		})
		if err != nil {
			return fmt.Errorf("error announcing lock %d: %w", l.ID, err)
		}
	}
	return nil
}
