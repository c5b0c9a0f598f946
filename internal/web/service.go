package web

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/migrations"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
	"github.com/bakery-deploy/bakery/internal/store"
)

// envControls are the buttons of one environment on the service page, with
// the sentence each confirms.
type envControls struct {
	Base string // the API path of the environment

	CanLock       bool
	LockConfirm   string
	CanUnlock     bool
	UnlockNote    string
	UnlockConfirm string
	GlobalOnly    bool // only the lock on every service holds it

	CanSkip     bool
	SkipVersion string
	SkipConfirm string

	CanRollback     bool
	RollbackFrom    string
	RollbackTo      string
	RollbackConfirm string
}

// queueView is the releases between one environment and the one before
// it.
type queueView struct {
	Env, Lower string
	// Changes is what waits, from GitHub's compare ("14 PRs waiting
	// (23 commits)"); "" when unknown.
	Changes string
	Rows    []queueRow
	Waiting int
	Oldest  time.Time
	More    int
}

type queueRow struct {
	Version   string
	Short     string
	CommitURL string
	Message   string
	Author    string
	CreatedAt time.Time
	// State: live, deploying, baking, baked, failed-bake, superseded,
	// rejected, lower (not in the environment before it yet), failed
	// (failed there or below), earlier (ran here before): queueState of
	// the read model's state.
	State     string
	Label     string
	Note      string
	BakeStart time.Time
	BakeEnd   time.Time
	Permille  int
	// Expected is when a waiting release should run in the last
	// environment if nothing holds it (readmodel); zero if not waiting.
	Expected   string
	ExpectedAt time.Time
	// Fix: a fix release (the fix lane), with what it fixes.
	Fix       bool
	FixReason string
	// CanApprove offers the Approve button (fix lane, approval gate).
	CanApprove     bool
	ApproveURL     string
	ApproveConfirm string
}

type deploymentRow struct {
	pipeline.Deployment
	Short    string
	Duration time.Duration
}

type eventRow struct {
	pipeline.Event
	Short     string
	Tone      string // ok, bad, warn, info
	Scope     string // "every service" for events about all of them
	FromShort string
	ToShort   string
}

// migrationPanel is the service page's view of schema migrations: what
// each environment's database has applied and the drift between them.
type migrationPanel struct {
	Envs  []migrationEnvRow
	Drift []migrations.Drift
	// ReadAt is when the background reader read them; Age says it.
	ReadAt time.Time
	Age    string
}

type migrationEnvRow struct {
	Name, Tool string
	Applied    []string
	Latest     bool
	Error      string
}

type servicePageData struct {
	layoutData
	Migrations  *migrationPanel
	Canaries    []canaryPanel
	Bisect      *bisectPanel
	Row         serviceRow
	Repository  string
	Queues      []queueView
	Deployments []deploymentRow
	Events      []eventRow
	Emergency   string // the confirmation of an emergency deploy
	LastEnv     string
	APIBase     string
}

// eventsShown is how many events the timeline shows.
const eventsShown = 50

func (h *Handler) servicePageData(ctx context.Context, s *Session, svc *config.Service) (servicePageData, error) {
	seq := h.seq()
	b, err := h.cachedBanner(ctx)
	if err != nil {
		return servicePageData{}, err
	}
	d := servicePageData{layoutData: h.layout(s, seq, svc.Name, "service", svc.Name, b), Repository: svc.Repository,
		APIBase: "/api/v1/services/" + url.PathEscape(svc.Name)}
	// One read of the service's state: the cells and the queues format
	// the same read model.
	_, m, err := h.e.View(ctx, svc.Name)
	if err != nil {
		return d, err
	}
	latest, err := h.e.Records().DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Limit: 4 * len(m.Environments)})
	if err != nil {
		return d, err
	}
	d.Row = h.rowOf(svc, api.FormatService(svc, m), latest)
	d.LastEnv = svc.Environments[len(svc.Environments)-1].Name
	d.Emergency = fmt.Sprintf("Emergency deploy to %s of %s: the version you name goes straight to %s now, skipping ", d.LastEnv, svc.Name, d.LastEnv)
	if len(svc.Environments) > 1 {
		var lower []string
		for _, e := range svc.Environments[:len(svc.Environments)-1] {
			lower = append(lower, e.Name)
		}
		d.Emergency += joinNames(lower) + ", "
	}
	d.Emergency += fmt.Sprintf("the bake, locks and windows. Automatic promotion into %s is then locked until someone unlocks it.", d.LastEnv)

	if d.Canaries, err = h.canaryPanels(ctx, svc, d.CanDeploy); err != nil {
		return d, err
	}
	if d.Bisect, err = h.bisectPanelOf(ctx, svc, d.CanDeploy); err != nil {
		return d, err
	}
	rejected := map[int64]bool{}
	for _, me := range m.Environments {
		for _, q := range me.Releases {
			rejected[q.Release.ID] = q.Release.Rejected
		}
	}
	now := m.At
	for i := range d.Row.Envs {
		c := &d.Row.Envs[i]
		succ, err := h.e.Records().DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Environment: c.Env.Name,
			States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 50})
		if err != nil {
			return d, err
		}
		ctl, err := h.controls(ctx, svc, c, succ, rejected)
		if err != nil {
			return d, err
		}
		if d.CanDeploy {
			c.Controls = ctl
		}
		if i > 0 && i < len(m.Environments) {
			q := queue(svc, m.Environments[i], now)
			if q.Waiting > 0 {
				// Skip bake acts on the newest release waiting.
				for _, r := range q.Rows {
					if r.State == "baking" {
						ctl.CanSkip, ctl.SkipVersion = true, r.Version
						ctl.SkipConfirm = fmt.Sprintf("Skip the bake of %s into %s of %s: it counts as baked now and is promoted at once, unless a lock, the window or a check holds it.",
							r.Short, c.Env.Name, svc.Name)
						break
					}
				}
			}
			if d.CanDeploy {
				offerApprovals(svc, i, &q)
			}
			d.Queues = append(d.Queues, q)
		}
	}
	// What GitHub adds to the page (the API's view has it): whether its
	// statuses are behind, and what waits per environment.
	if v, err := h.views.Status(ctx, svc.Name); err == nil {
		if v.GitHub != nil {
			d.Row.GitHub = v.GitHub.Message
		}
		for i := range d.Queues {
			for _, e := range v.Environments {
				if e.Name == d.Queues[i].Env && e.Changes != nil {
					d.Queues[i].Changes = e.Changes.Message
				}
			}
		}
	}
	deps, err := h.e.Records().DeploymentList(ctx, &store.DeploymentListParams{Service: svc.Name, Limit: 25})
	if err != nil {
		return d, err
	}
	for _, dep := range deps {
		row := deploymentRow{Deployment: dep, Short: shortVersion(dep.Version)}
		if !dep.StartedAt.IsZero() {
			end := dep.FinishedAt
			if end.IsZero() {
				end = now
			}
			row.Duration = end.Sub(dep.StartedAt)
		}
		d.Deployments = append(d.Deployments, row)
	}
	for _, env := range svc.Environments {
		if env.Migrations != nil && env.Migrations.Database != nil {
			// What the background reader read last: a page view never
			// connects to an application's database.
			rep, err := h.e.CachedMigrations(svc.Name)
			if err != nil {
				return d, err
			}
			p := &migrationPanel{Drift: rep.Drift, ReadAt: rep.ReadAt(), Age: api.MigrationsAge(rep.ReadAt(), now)}
			for i, me := range rep.Environments {
				row := migrationEnvRow{Name: me.Name, Tool: rep.Tools[i], Latest: me.State.Latest}
				for _, a := range me.State.Applied {
					row.Applied = append(row.Applied, a.ID)
				}
				if me.Err != nil {
					row.Error = me.Err.Error()
				}
				p.Envs = append(p.Envs, row)
			}
			d.Migrations = p
			break
		}
	}
	events, err := h.lastEvents(ctx, svc.Name, eventsShown)
	if err != nil {
		return d, err
	}
	for i := len(events) - 1; i >= 0; i-- {
		d.Events = append(d.Events, eventRowOf(events[i]))
	}
	return d, nil
}

// controls works out the buttons of one environment and what each will do.
func (h *Handler) controls(ctx context.Context, svc *config.Service, c *envCell, succ []pipeline.Deployment, rejected map[int64]bool) (*envControls, error) {
	env := c.Env.Name
	ctl := &envControls{Base: "/api/v1/services/" + url.PathEscape(svc.Name) + "/environments/" + url.PathEscape(env)}
	own, global := false, false
	for _, l := range c.Env.Locks {
		if l.Service == svc.Name {
			own = true
		} else {
			global = true
		}
	}
	ctl.CanLock = !own
	ctl.LockConfirm = fmt.Sprintf("Lock %s of %s: no automatic promotion will start until unlocked.", env, svc.Name)
	if c.Index > 0 {
		var lower []string
		for _, e := range svc.Environments[:c.Index] {
			lower = append(lower, capitalize(e.Name))
		}
		verb := " keeps deploying."
		if len(lower) > 1 {
			verb = " keep deploying."
		}
		ctl.LockConfirm += " " + joinNames(lower) + verb
	} else {
		ctl.LockConfirm += " New releases wait until then."
	}
	if c.Deploying != nil {
		ctl.LockConfirm += fmt.Sprintf(" The deployment of %s already running finishes.", shortVersion(c.Deploying.Version))
	}
	ctl.CanUnlock = own
	ctl.GlobalOnly = global && !own
	ctl.UnlockConfirm = fmt.Sprintf("Unlock %s of %s: automatic promotion resumes", env, svc.Name)
	if v := c.Env.Waiting.Version; v != "" && c.Env.Waiting.Kind == string(pipeline.WaitLock) {
		ctl.UnlockConfirm += fmt.Sprintf(", and %s, which is ready, is promoted at once", shortVersion(v))
	}
	ctl.UnlockConfirm += "."
	if global {
		ctl.UnlockConfirm += fmt.Sprintf(" The lock on every service's %s still holds until it is released on the overview.", env)
		ctl.UnlockNote = fmt.Sprintf("held by the lock on every service's %s", env)
	}
	if len(succ) > 0 && c.Env.Version != nil {
		cur := succ[0]
		ctl.CanRollback = true
		ctl.RollbackFrom = shortVersion(cur.Version)
		for _, dep := range succ[1:] {
			if dep.ReleaseID == cur.ReleaseID {
				continue
			}
			rej, known := rejected[dep.ReleaseID]
			if !known {
				r, err := h.e.Records().ReleaseGetByID(ctx, dep.ReleaseID)
				if err != nil {
					return nil, err
				}
				rej = r.Rejected
				rejected[dep.ReleaseID] = rej
			}
			if !rej {
				ctl.RollbackTo = dep.Version
				break
			}
		}
		if ctl.RollbackTo != "" {
			ctl.RollbackConfirm = fmt.Sprintf("Roll %s of %s back from %s to %s now (or to the version you name): %s is marked rejected and never promoted again automatically.",
				env, svc.Name, ctl.RollbackFrom, shortVersion(ctl.RollbackTo), ctl.RollbackFrom)
		} else {
			ctl.RollbackConfirm = fmt.Sprintf("Roll %s of %s back from %s to the version you name (it ran no earlier good release): %s is marked rejected and never promoted again automatically.",
				env, svc.Name, ctl.RollbackFrom, ctl.RollbackFrom)
		}
	}
	return ctl, nil
}

// queue formats the read model's releases between an environment and the
// one below it, newest first; their states, bakes and the count waiting
// are the read model's (pipeline.Queue), not worked out here.
func queue(svc *config.Service, env readmodel.Environment, now time.Time) queueView {
	q := queueView{Env: env.Name, Lower: env.Lower, Waiting: env.Waiting(), Oldest: env.OldestWaiting()}
	const maxRows = 30
	for _, e := range env.Releases { // newest first
		r := e.Release
		row := queueRow{Version: r.Version, Short: shortVersion(r.Version), Message: firstLine(r.Message), Author: r.Author,
			CreatedAt: r.CreatedAt, State: queueState(e.State), Label: e.Why, Fix: r.Fix, FixReason: r.FixReason}
		if svc.Repository != "" {
			row.CommitURL = commitURL(svc.Repository, r.Version)
		}
		switch e.State {
		case pipeline.ReleaseBaking:
			row.Label = "baking"
			row.BakeStart, row.BakeEnd = e.BakeStart, e.BakeEnd
			if env.Bake > 0 {
				row.Permille = int(min(max(now.Sub(e.BakeStart)*1000/env.Bake, 0), 1000))
			}
		case pipeline.ReleaseBaked:
			row.BakeStart, row.BakeEnd = e.BakeStart, e.BakeEnd
		case pipeline.ReleaseBakeSkipped:
			row.BakeStart, row.BakeEnd = e.BakeStart, e.BakeEnd
			row.Label, row.Note = "baked", "bake skipped"
		case pipeline.ReleaseFailedBake:
			row.Label = "failed bake"
			row.Note = "never promoted automatically; it failed a check while baking in " + env.Lower
		}
		if at, ok := env.ExpectedAt(r.ID); ok && len(svc.Environments) > 0 {
			row.ExpectedAt = at
			row.Expected = expectedText(svc.Environments[len(svc.Environments)-1].Name, at, now)
		}
		if len(q.Rows) < maxRows {
			q.Rows = append(q.Rows, row)
		} else {
			q.More++
		}
	}
	return q
}

// queueState is the row's data-state on the page: the read model's state,
// with the names the dashboard has always used (a canary is a deployment,
// a skipped bake is baked, a failure below is "failed").
func queueState(s pipeline.ReleaseState) string {
	switch s {
	case pipeline.ReleaseCanary:
		return "deploying"
	case pipeline.ReleaseBakeSkipped:
		return "baked"
	case pipeline.ReleaseFailedBelow:
		return "failed"
	case pipeline.ReleaseFailedBake:
		return "failed-bake"
	}
	return string(s)
}

func firstLine(s string) string {
	for i, c := range s {
		if c == '\n' {
			return s[:i]
		}
	}
	return s
}

func commitURL(repo, version string) string {
	if len(repo) > 0 && repo[len(repo)-1] == '/' {
		repo = repo[:len(repo)-1]
	}
	return repo + "/commit/" + version
}

func eventRowOf(e pipeline.Event) eventRow {
	r := eventRow{Event: e, Short: shortVersion(e.Version), FromShort: shortVersion(e.FromVersion), ToShort: shortVersion(e.ToVersion), Tone: "info"}
	if e.Service == pipeline.AllServices {
		r.Scope = "every service"
		if sel, _ := e.Data["selector"].(string); sel != "" {
			r.Scope = "the services matching " + sel
		}
	}
	switch e.Type {
	case pipeline.EventDeploymentSucceeded:
		r.Tone = "ok"
	case pipeline.EventDeploymentFailed, pipeline.EventDeploymentInterrupted, "release.rejected", "lock.placed", "emergency.decided", "rollback.decided":
		r.Tone = "bad"
	case "bake.skipped", "lock.released", "lock.expired", pipeline.EventReleaseSuperseded, "deployment.cancelled", pipeline.EventDeploymentRetryPlanned:
		r.Tone = "warn"
	case engine.EventCanaryAborted, engine.EventCanaryWeight:
		r.Tone = "bad"
	case engine.EventCanaryPromoted:
		r.Tone = "ok"
	case pipeline.EventBisectCulprit:
		r.Tone = "bad"
	case pipeline.EventBisectStuck, pipeline.EventBisectCancelled:
		r.Tone = "warn"
	case pipeline.EventReleaseApproved:
		r.Tone = "ok"
	case engine.EventCanaryJudged:
		switch fmt.Sprint(e.Data["verdict"]) {
		case string(pipeline.VerdictPass):
			r.Tone = "ok"
		case string(pipeline.VerdictFail):
			r.Tone = "bad"
		default:
			r.Tone = "warn"
		}
	}
	return r
}

// lastEvents returns the newest n events of service, oldest first. The
// store lists events oldest first from a cursor; the log is append-only, so
// once n events are known the next call can start at the oldest of them.
func (h *Handler) lastEvents(ctx context.Context, service string, n int) ([]pipeline.Event, error) {
	h.tailMu.Lock()
	after := h.tails[service]
	h.tailMu.Unlock()
	const page = 1000
	var ring []pipeline.Event
	for {
		evs, err := h.e.Records().EventList(ctx, &store.EventListParams{Service: service, AfterID: after, Limit: page})
		if err != nil {
			return nil, err
		}
		ring = append(ring, evs...)
		if len(ring) > n {
			ring = append([]pipeline.Event(nil), ring[len(ring)-n:]...)
		}
		if len(evs) < page {
			break
		}
		after = evs[len(evs)-1].ID
	}
	if len(ring) == n {
		h.tailMu.Lock()
		if start := ring[0].ID - 1; start > h.tails[service] {
			h.tails[service] = start
		}
		h.tailMu.Unlock()
	}
	return ring, nil
}

// expectedText is "expected in production at 15:05 UTC if nothing holds
// it", with the date when it is not today.
func expectedText(last string, at, now time.Time) string {
	at, now = at.UTC(), now.UTC()
	when := at.Format("15:04 UTC")
	if y, m, d := at.Date(); y != now.Year() || m != now.Month() || d != now.Day() {
		when = at.Format("Mon 2 Jan 15:04 UTC")
	}
	return fmt.Sprintf("expected in %s at %s if nothing holds it", last, when)
}

// offerApprovals puts an Approve button on the queue rows a person's
// approval can move: fix releases where environment i has a fix lane,
// and every waiting release where it has an approval gate.
func offerApprovals(svc *config.Service, i int, q *queueView) {
	env := svc.Environments[i]
	if env.Fix == nil && env.Approval == nil {
		return
	}
	for k := range q.Rows {
		r := &q.Rows[k]
		if r.State != "baking" && r.State != "baked" {
			continue
		}
		if env.Approval == nil && !r.Fix {
			continue
		}
		r.CanApprove = true
		r.ApproveURL = "/api/v1/services/" + url.PathEscape(svc.Name) + "/environments/" + url.PathEscape(env.Name) + "/releases/" +
			url.PathEscape(r.Version) + "/approve"
		what := "the approval gate"
		if r.Fix && env.Fix != nil {
			what = fmt.Sprintf("the fix lane (a fix passes the locks of %s after its %s fix bake and %d approval(s) by people other than its creator)",
				env.Name, env.Fix.Bake, env.Fix.Approvals)
		}
		r.ApproveConfirm = fmt.Sprintf("Approve %s of %s into %s for %s. Your approval is recorded with your name and reason.",
			r.Short, svc.Name, env.Name, what)
	}
}
