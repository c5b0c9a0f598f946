package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// SyncArgs asks for GitHub to be brought up to date about one release:
// its Deployments, their statuses and its bakery/ENV commit statuses.
type SyncArgs struct {
	Service string `json:"service"`
	Version string `json:"version"`
	// After is the last event of the batch that asked for it: one job per
	// batch of events about a release (a job enqueued while another runs
	// must not be lost), and the same batch handed over again (a retried
	// feed pass) enqueues nothing more.
	After int64 `json:"after"`
}

// Kind is River's name for the job.
func (SyncArgs) Kind() string { return "bakery_github_sync" }

// syncAttempts is high: an outage is waited out (with back-off), not given
// up on; errors GitHub will not change its mind about end the job at once.
const syncAttempts = 1000

// syncJob brings GitHub up to date about a release; it reads the
// release's state when it runs, so a late job is harmless (it finds
// nothing to send) and jobs of one release run one at a time (syncLocks).
func syncJob(service, version string, after int64) store.Job {
	return store.Job{Kind: SyncArgs{}.Kind(), Args: SyncArgs{Service: service, Version: version, After: after},
		Queue: engine.QueueGitHub, MaxAttempts: syncAttempts, UniqueByArgs: true}
}

// syncEvents are the events that change what GitHub shows about a
// release.
var syncEvents = map[string]bool{
	pipeline.EventReleaseCreated: true, pipeline.EventPromotionDecided: true, pipeline.EventDeploymentStarted: true,
	pipeline.EventDeploymentSucceeded: true, pipeline.EventDeploymentFailed: true, pipeline.EventDeploymentInterrupted: true,
	pipeline.EventDeploymentCancels: true, pipeline.EventReleaseSuperseded: true, pipeline.EventReleaseRejected: true,
	pipeline.EventLockPlaced: true, pipeline.EventLockReleased: true, pipeline.EventLockExpired: true,
	pipeline.EventBakeSkipped: true, pipeline.EventEmergencyDecided: true, pipeline.EventRollbackDecided: true,
	pipeline.EventCheckFailed: true,
}

// Name is the subscriber's cursor name.
func (g *GitHub) Name() string { return "github" }

// synced reports whether bakery tells GitHub about svc's releases: there
// is a github block that can call the API and the service's repository is
// on it.
func synced(cfg *config.Config, svc *config.Service) bool {
	if cfg.GitHub == nil || (cfg.GitHub.TokenEnv == "" && cfg.GitHub.App == nil) {
		return false
	}
	_, ok := OwnerRepo(svc.Repository)
	return ok
}

// replaced is the version of the last deployment to service/env that
// succeeded before deployment id ("" if none).
func replaced(ctx context.Context, tx store.Tx, service, env string, id int64) (string, error) {
	deps, err := tx.DeploymentList(ctx, &store.DeploymentListParams{Service: service, Environment: env,
		States: []pipeline.DeploymentState{pipeline.DeploymentSucceeded}, Limit: 20})
	if err != nil {
		return "", err
	}
	var best pipeline.Deployment
	for _, d := range deps {
		if d.ID < id && d.ID > best.ID {
			best = d
		}
	}
	return best.Version, nil
}

// Handle enqueues a sync of every release the events are about, in the
// transaction that moves the subscriber's cursor.
func (g *GitHub) Handle(ctx context.Context, tx store.Tx, events []pipeline.Event) error {
	cfg := g.e.Config()
	if len(events) == 0 {
		return nil
	}
	after := events[len(events)-1].ID
	seen := map[SyncArgs]bool{}
	var jobs []store.Job
	add := func(service, version string) {
		a := SyncArgs{Service: service, Version: version, After: after}
		if !shaRE.MatchString(version) || seen[a] {
			return
		}
		seen[a] = true
		jobs = append(jobs, syncJob(service, version, after))
	}
	for _, ev := range events {
		if !syncEvents[ev.Type] && !strings.HasPrefix(ev.Type, "canary.") {
			continue
		}
		for i := range cfg.Services {
			svc := &cfg.Services[i]
			if (ev.Service != svc.Name && ev.Service != pipeline.AllServices) || !synced(cfg, svc) {
				continue
			}
			for _, v := range []string{ev.Version, ev.ToVersion, ev.FromVersion} {
				if v != "" {
					add(svc.Name, v)
				}
			}
			if ev.Type == pipeline.EventDeploymentSucceeded && ev.Environment != "" {
				// The release this one replaced there now "was in" the
				// environment. Its sync after the deployment started
				// (FromVersion) may have run while it was still current.
				prev, err := replaced(ctx, tx, svc.Name, ev.Environment, ev.DeploymentID)
				if err != nil {
					return err
				}
				if prev != "" {
					add(svc.Name, prev)
				}
			}
			if ev.Version == "" {
				// A brake or a skipped bake: every release still on its
				// way may say something new.
				rels, err := tx.ReleaseList(ctx, &store.ReleaseListParams{Service: svc.Name, Limit: 20})
				if err != nil {
					return err
				}
				for _, r := range rels {
					add(svc.Name, r.Version)
				}
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	return tx.JobInsert(ctx, jobs...)
}

// RegisterWorkers registers the sync job's worker.
func (g *GitHub) RegisterWorkers(w *river.Workers) {
	river.AddWorker(w, &syncWorker{g: g})
}

type syncWorker struct {
	river.WorkerDefaults[SyncArgs]
	g *GitHub
}

// Work brings GitHub up to date. A temporary failure (5xx, rate limit,
// network) is snoozed, honouring Retry-After and X-RateLimit-Reset; one
// GitHub will not change its mind about (401, 404, a 422 validation error)
// is recorded and ends the job. Either way the service's health says
// GitHub is behind until a sync succeeds.
func (w *syncWorker) Work(ctx context.Context, job *river.Job[SyncArgs]) error {
	g := w.g
	unlock := g.lockRelease(job.Args.Service, job.Args.Version)
	err := g.Sync(ctx, job.Args.Service, job.Args.Version)
	unlock()
	if err == nil {
		g.healthy(ctx, job.Args.Service)
		return nil
	}
	if errors.Is(err, errNotSynced) {
		return nil
	}
	since := g.behind(ctx, job.Args.Service, err)
	var apiErr *APIError
	if errors.As(err, &apiErr) && !apiErr.Temporary() {
		g.log.Error("GitHub refused an update; it is not retried", "service", job.Args.Service, "version", job.Args.Version, "error", err)
		return nil
	}
	delay := backoff(g.e.Now().Sub(since))
	if apiErr != nil && apiErr.RetryAfter > 0 {
		delay = apiErr.RetryAfter
	}
	g.log.Warn("GitHub is behind; trying again later", "service", job.Args.Service, "version", job.Args.Version, "in", delay, "error", err)
	return river.JobSnooze(delay)
}

// backoff grows with how long GitHub has been behind: a second at first,
// a quarter of the time behind after that, at most five minutes.
func backoff(behind time.Duration) time.Duration {
	return min(max(behind/4, time.Second), 5*time.Minute)
}

var errNotSynced = errors.New("not synced with GitHub")

// lockRelease makes one release's syncs run one at a time in this
// process, so two jobs never both create its Deployment.
func (g *GitHub) lockRelease(service, version string) func() {
	m, _ := g.syncLocks.LoadOrStore(service+"@"+version, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// behind records a failure and returns since when GitHub is behind.
func (g *GitHub) behind(ctx context.Context, service string, cause error) time.Time {
	st := g.store()
	now := g.e.Now()
	since := now
	if hs, err := st.GitHubHealthList(ctx); err == nil {
		for _, h := range hs {
			if h.Service == service {
				since = h.BehindSince
			}
		}
	}
	err := st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
		return tx.GitHubHealthPut(ctx, &store.GitHubHealth{Service: service, BehindSince: since, LastError: Clip(cause.Error(), 500), UpdatedAt: now})
	})
	if err != nil {
		g.log.Error("GitHub's health not recorded", "service", service, "error", err)
	}
	return since
}

// healthy records that GitHub is up to date on service, if it was behind.
func (g *GitHub) healthy(ctx context.Context, service string) {
	st := g.store()
	hs, err := st.GitHubHealthList(ctx)
	if err != nil {
		return
	}
	for _, h := range hs {
		if h.Service == service {
			_ = st.InTx(ctx, func(ctx context.Context, tx store.Tx) error {
				return tx.GitHubHealthPut(ctx, &store.GitHubHealth{Service: service, UpdatedAt: g.e.Now()})
			})
		}
	}
}

// Health is whether GitHub is behind on a service, for the API, the
// dashboard and bakery status.
func Health(ctx context.Context, r store.GitHubReader, service string) (store.GitHubHealth, bool) {
	hs, err := r.GitHubHealthList(ctx)
	if err != nil {
		return store.GitHubHealth{}, false
	}
	for _, h := range hs {
		if h.Service == service {
			return h, true
		}
	}
	return store.GitHubHealth{}, false
}

// StatusContext is the commit status's context for env: bakery/ENV, or
// bakery/SERVICE/ENV when several services share the repository (their
// statuses would overwrite each other's otherwise).
func StatusContext(cfg *config.Config, svc *config.Service, env string) string {
	n := 0
	for i := range cfg.Services {
		if SameRepository(cfg.Services[i].Repository, svc.Repository) {
			n++
		}
	}
	if n > 1 {
		return "bakery/" + svc.Name + "/" + env
	}
	return "bakery/" + env
}

// Sync brings GitHub up to date about one release: what it shows is
// compared with what was last sent (stored per environment), and only the
// differences are sent, each recorded as soon as GitHub has it.
func (g *GitHub) Sync(ctx context.Context, service, version string) error {
	cfg := g.e.Config()
	svc, ok := cfg.Service(service)
	if !ok || !synced(cfg, svc) {
		return errNotSynced
	}
	repo, _ := OwnerRepo(svc.Repository)
	st := g.store()
	rel, err := st.ReleaseGet(ctx, service, version)
	if errors.Is(err, store.ErrNotFound) {
		return errNotSynced
	}
	if err != nil {
		return err
	}
	_, view, err := g.e.View(ctx, service)
	if err != nil {
		return err
	}
	sentList, err := st.GitHubSyncList(ctx, service, version)
	if err != nil {
		return err
	}
	sent := map[string]store.GitHubSync{}
	for _, s := range sentList {
		sent[s.Environment] = s
	}
	api, err := g.api()
	if err != nil {
		return err
	}
	base := strings.TrimSuffix(cfg.Server.URL, "/")
	target := base + "/services/" + service
	last := len(view.Environments) - 1
	var lines []string
	for i, env := range view.Environments {
		deps, err := st.DeploymentList(ctx, &store.DeploymentListParams{Service: service, Environment: env.Name, ReleaseID: rel.ID, Limit: 1})
		if err != nil {
			return err
		}
		var dep *pipeline.Deployment
		if len(deps) > 0 {
			dep = &deps[0]
		}
		want := Describe(view, i, rel, dep)
		lines = append(lines, fmt.Sprintf("**%s**: %s", env.Name, want.Description))
		row := sent[env.Name]
		row.Service, row.Version, row.Environment = service, version, env.Name
		save := func() error {
			row.UpdatedAt = g.e.Now()
			return st.InTx(ctx, func(ctx context.Context, tx store.Tx) error { return tx.GitHubSyncPut(ctx, &row) })
		}
		if dep != nil && row.DeploymentID == 0 {
			var out struct {
				ID int64 `json:"id"`
			}
			in := map[string]any{"ref": version, "environment": env.Name, "auto_merge": false, "required_contexts": []string{},
				"production_environment": i == last, "transient_environment": false,
				"description": Clip("bakery: "+short(version)+" to "+env.Name, maxDescription), "task": "deploy"}
			if err := api.Do(ctx, http.MethodPost, "/repos/"+repo+"/deployments", in, &out); err != nil {
				return fmt.Errorf("error creating the GitHub deployment of %s to %s: %w", short(version), env.Name, err)
			}
			row.DeploymentID, row.DeploymentState = out.ID, ""
			if err := save(); err != nil {
				return err
			}
		}
		if dep != nil && row.DeploymentID != 0 && want.Deployment != row.DeploymentState {
			in := map[string]any{"state": want.Deployment, "log_url": fmt.Sprintf("%s#deployment-%d", target, dep.ID),
				"environment": env.Name, "description": want.Description, "auto_inactive": false}
			if err := api.Do(ctx, http.MethodPost, fmt.Sprintf("/repos/%s/deployments/%d/statuses", repo, row.DeploymentID), in, nil); err != nil {
				return fmt.Errorf("error sending the %s status of GitHub deployment %d: %w", want.Deployment, row.DeploymentID, err)
			}
			row.DeploymentState = want.Deployment
			if err := save(); err != nil {
				return err
			}
		}
		if want.State != row.StatusState || want.Description != row.StatusDescription {
			in := map[string]any{"state": want.State, "description": want.Description, "context": StatusContext(cfg, svc, env.Name), "target_url": target}
			if err := api.Do(ctx, http.MethodPost, "/repos/"+repo+"/statuses/"+version, in, nil); err != nil {
				return fmt.Errorf("error sending the commit status %s of %s: %w", StatusContext(cfg, svc, env.Name), short(version), err)
			}
			row.StatusState, row.StatusDescription = want.State, want.Description
			if err := save(); err != nil {
				return err
			}
		}
	}
	if cfg.GitHub.PRComments {
		if err := g.syncComments(ctx, api, repo, service, version, target, lines); err != nil {
			return err
		}
	}
	return g.syncCompares(ctx, api, repo, view, rel)
}
