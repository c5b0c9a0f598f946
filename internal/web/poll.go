package web

import (
	"context"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// pollLookback is how far behind the newest event seen the poller looks
// again: on PostgreSQL an event can commit after one with a higher id.
const pollLookback = 100

// pollEvents tells the hub about the service of every event written to the
// log, by this replica or by another. The engine's OnChange reports only
// what this replica did; with several replicas, the pages served here
// would otherwise miss what the others do. The filter drops what
// OnChange announced already.
func (h *Handler) pollEvents(every time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := int64(-1)
	seen := map[int64]bool{}
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), every+10*time.Second)
		if last < 0 {
			id, err := h.lastEventID(ctx, done)
			cancel()
			if err == nil {
				last = id
			}
			continue
		}
		evs, err := h.e.Records().EventList(ctx, &store.EventListParams{AfterID: max(0, last-pollLookback), Limit: 1000})
		cancel()
		if err != nil {
			continue
		}
		services := map[string]bool{}
		for _, e := range evs {
			if seen[e.ID] {
				continue
			}
			seen[e.ID] = true
			last = max(last, e.ID)
			services[e.Service] = true
		}
		for id := range seen {
			if id <= last-pollLookback {
				delete(seen, id)
			}
		}
		for service := range services {
			switch service {
			case "":
			case pipeline.AllServices:
				for _, svc := range h.e.Config().Services {
					h.hub.Notify(svc.Name)
				}
			default:
				h.hub.Notify(service)
			}
		}
	}
}

// lastEventID is the id of the newest event (0 for none). The store lists
// events oldest first, so this pages through the log once, at start-up.
func (h *Handler) lastEventID(ctx context.Context, done <-chan struct{}) (int64, error) {
	var id int64
	for {
		select {
		case <-done:
			return id, context.Canceled
		default:
		}
		evs, err := h.e.Records().EventList(ctx, &store.EventListParams{AfterID: id, Limit: 1000})
		if err != nil {
			return 0, err
		}
		if len(evs) > 0 {
			id = evs[len(evs)-1].ID
		}
		if len(evs) < 1000 {
			return id, nil
		}
	}
}
