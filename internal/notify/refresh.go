package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// EventRefresh is the type of a release message's refresh while it bakes
// (no event of the log: the sweeper writes these deliveries, for Slack
// destinations only).
const EventRefresh = "release.refresh"

// RefreshEvery is how often a baking release's Slack message is redrawn,
// so that "baking 23/60 min" moves without an event.
const RefreshEvery = 5 * time.Minute

// refreshBaking redraws the message of every release that bakes now, once
// per RefreshEvery: one delivery per Slack destination that follows
// promotions, with its own message ID per period.
func (n *Notifier) refreshBaking(ctx context.Context) error {
	cfg := n.e.Config()
	st := n.e.Store()
	now := n.e.Now()
	period := now.Unix() / int64(RefreshEvery/time.Second)
	last, err := st.EventLastID(ctx)
	if err != nil {
		return err
	}
	for _, svc := range cfg.Services {
		_, dec, err := n.e.Status(ctx, svc.Name)
		if err != nil {
			return err
		}
		for _, env := range dec.Environments {
			if env.Wait.Kind != pipeline.WaitBake || env.Wait.Version == "" {
				continue
			}
			version := env.Wait.Version
			body, err := json.Marshal(Body{Type: EventRefresh, Timestamp: now.UTC(), Data: Data{EventID: last, Service: svc.Name, Version: version}})
			if err != nil {
				return err
			}
			pairs := map[[2]string]bool{}
			err = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				for _, d := range cfg.Notifications {
					if d.Slack == nil || !wants(d, "promotion", svc.Name) {
						continue
					}
					if _, err := tx.SlackMessageGet(ctx, d.Name, svc.Name, version); errors.Is(err, store.ErrNotFound) {
						continue // never posted: nothing to redraw
					} else if err != nil {
						return err
					}
					id := "msg_refresh_" + svc.Name + "_" + version + "_" + strconv.FormatInt(period, 10) + "_" + d.Name
					if err := n.insert(ctx, tx, d.Name, svc.Name, 0, EventRefresh, id, body, now); err != nil {
						return err
					}
					pairs[[2]string{d.Name, svc.Name}] = true
				}
				return n.enqueue(ctx, tx, pairs)
			})
			if err != nil {
				return fmt.Errorf("error refreshing the message of %s %s: %w", svc.Name, version, err)
			}
		}
	}
	return nil
}
