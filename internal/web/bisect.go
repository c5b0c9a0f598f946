package web

import (
	"context"
	"fmt"
	"hash"
	"net/url"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// bisectPanel is the service page's view of its newest bisect: running
// (with its probes so far and a cancel button for deployers) or how the
// last one ended.
type bisectPanel struct {
	pipeline.Bisect
	Running       bool
	Tone          string // run, ok, bad, warn
	CanCancel     bool
	CancelURL     string
	CancelConfirm string
	Probes        []bisectProbeRow
}

type bisectProbeRow struct {
	pipeline.BisectProbe
	No    int
	Short string
	Tone  string
}

func probeTone(outcome string) string {
	switch outcome {
	case pipeline.CheckHealthy:
		return "ok"
	case pipeline.CheckFailing:
		return "bad"
	}
	return "warn"
}

// bisectPanelOf builds the panel of svc's newest bisect; nil when it has
// never had one.
func (h *Handler) bisectPanelOf(ctx context.Context, svc *config.Service, canDeploy bool) (*bisectPanel, error) {
	bs, err := h.e.Bisects(ctx, svc.Name, 1)
	if err != nil || len(bs) == 0 {
		return nil, err
	}
	b := bs[0]
	p := &bisectPanel{Bisect: b, Running: !b.State.IsTerminal()}
	switch b.State {
	case pipeline.BisectRunning:
		p.Tone = "run"
	case pipeline.BisectFound:
		p.Tone = "bad"
	default:
		p.Tone = "warn"
	}
	for i, t := range b.Tried {
		p.Probes = append(p.Probes, bisectProbeRow{BisectProbe: t, No: i + 1, Short: shortVersion(t.Version), Tone: probeTone(t.Outcome)})
	}
	if p.Running && canDeploy {
		p.CanCancel = true
		p.CancelURL = fmt.Sprintf("/api/v1/services/%s/bisects/%d/cancel", url.PathEscape(svc.Name), b.ID)
		p.CancelConfirm = fmt.Sprintf("Cancel bisect %d of %s: a probe deployment in progress is cancelled and %s returns to %s. No culprit is named.",
			b.ID, svc.Name, b.Environment, b.ReturnTo)
	}
	return p, nil
}

// bisectFingerprint adds what the bisect panel shows to the row's
// fingerprint, so that each probe reaches open pages through the change
// feed.
func (h *Handler) bisectFingerprint(ctx context.Context, svc *config.Service, d hash.Hash) error {
	bs, err := h.e.Bisects(ctx, svc.Name, 1)
	if err != nil {
		return err
	}
	for _, b := range bs {
		fmt.Fprintf(d, "b%d/%s/%s/%d/%d;", b.ID, b.State, b.Probe, len(b.Tried), b.Deploys)
	}
	return nil
}
