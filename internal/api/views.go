package api

import (
	"fmt"
	"strings"
	"time"

	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
)

// The JSON shapes of the API. Field names are part of the contract; the
// OpenAPI document describes each.

// ServiceView is one service's pipeline now.
type ServiceView struct {
	Service    string `json:"service"`
	Repository string `json:"repository,omitempty"`
	// Labels are the service's labels from the configuration.
	Labels       map[string]string `json:"labels,omitempty"`
	Environments []EnvironmentView `json:"environments"`
	// GitHub is set while bakery cannot bring GitHub up to date about
	// the service's releases (deployments, commit statuses).
	GitHub *GitHubView `json:"github,omitempty"`
}

// EnvironmentView is one environment of a service now.
type EnvironmentView struct {
	Name string `json:"name"`
	// Version is what runs there; null before the first deployment.
	Version   *string    `json:"version"`
	CommitURL string     `json:"commit_url,omitempty"`
	Since     *time.Time `json:"since"`
	// Locked is true while promotions into the environment are braked.
	Locked bool       `json:"locked"`
	Locks  []LockView `json:"locks,omitempty"`
	// Queue is how many releases wait to enter the environment.
	Queue int `json:"queue"`
	// Changes is what they contain beyond what runs there (GitHub's
	// compare), when bakery knows it.
	Changes *ChangesView `json:"changes,omitempty"`
	// PileUp is set when a lock has held for over 12 hours: the changes
	// piling up behind it will hit the environment all at once.
	PileUp *PileUpView `json:"pile_up,omitempty"`
	// State is one word for people and scripts: idle, deploying, waiting.
	State      string          `json:"state"`
	Bake       string          `json:"bake,omitempty"`
	Deployment *DeploymentView `json:"deployment,omitempty"`
	// Canary is the rollout in progress, when the deployment is a canary.
	Canary *CanaryView `json:"canary,omitempty"`
	// Waiting says what the next promotion into this environment waits for
	// and until when.
	Waiting WaitView `json:"waiting"`
	// Releases are the releases between the environment below and this
	// one, newest first, each with its state as the engine's decision sees
	// it; absent for the first environment.
	Releases []QueuedReleaseView `json:"releases,omitempty"`
	// Exposure is the environment's exposure gate's progress for the
	// release running below it; absent without a gate.
	Exposure *ExposureView `json:"exposure,omitempty"`
}

// ExposureView is an exposure gate's progress: the use the release running
// in the environment below (and every newer one) has seen there.
type ExposureView struct {
	Environment    string `json:"environment"`
	Version        string `json:"version"`
	Requests       int64  `json:"requests"`
	RequestsNeeded int64  `json:"requests_needed,omitempty"`
	People         int    `json:"people"`
	PeopleNeeded   int    `json:"people_needed,omitempty"`
	MaxWait        string `json:"max_wait,omitempty"`
	AfterMaxWait   string `json:"after_max_wait,omitempty"`
	// Problem says why use is not being counted now (the router below is
	// not serving): missing data is not exposure, and the gate waits.
	Problem string `json:"problem,omitempty"`
}

// QueuedReleaseView is one release between two environments.
type QueuedReleaseView struct {
	Version string `json:"version"`
	// State is one of: live, deploying, canary, baking, baked,
	// bake_skipped, failed_bake, superseded, rejected, lower (not in the
	// environment below yet), failed_below, failed, earlier.
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	// BakeStarted/BakeUntil are its bake in the environment below, as the
	// decision computes them.
	BakeStarted  *time.Time `json:"bake_started_at,omitempty"`
	BakeUntil    *time.Time `json:"bake_until,omitempty"`
	Deployment   int64      `json:"deployment_id,omitempty"`
	CanaryWeight int        `json:"canary_weight,omitempty"`
	Message      string     `json:"message"`
	// ExpectedAt is when a waiting release is expected in the service's
	// last environment if nothing (a lock, a failing check) holds it: its
	// bake's end and each window's next opening on the way.
	ExpectedAt *time.Time `json:"expected_at,omitempty"`
}

// PileUpView warns about a lock held too long.
type PileUpView struct {
	LockedFor string `json:"locked_for"`
	Releases  int    `json:"releases"`
	Message   string `json:"message"`
}

// pileUpAfter is how long a lock may hold before status warns about the
// changes piling up behind it.
const pileUpAfter = 12 * time.Hour

// WaitView is what a promotion waits for.
type WaitView struct {
	Kind    string     `json:"kind"`
	Version string     `json:"version,omitempty"`
	Until   *time.Time `json:"until"`
	Message string     `json:"message"`
}

// ReleaseView is a release.
type ReleaseView struct {
	Service   string    `json:"service"`
	Version   string    `json:"version"`
	Artifact  string    `json:"artifact"`
	Message   string    `json:"message"`
	Author    string    `json:"author"`
	CreatedAt time.Time `json:"created_at"`
	Rejected  bool      `json:"rejected"`
	CommitURL string    `json:"commit_url,omitempty"`
	// CommittedAt is when the release's commit was made, if it was given.
	CommittedAt *time.Time `json:"committed_at,omitempty"`
	// Fix and FixReason: a fix release (the fix lane); Creator is the
	// token that created it.
	Fix       bool   `json:"fix"`
	FixReason string `json:"fix_reason,omitempty"`
	Creator   string `json:"creator,omitempty"`
}

// DeploymentView is a deployment; Output is included only when one
// deployment is asked for.
type DeploymentView struct {
	ID          int64      `json:"id"`
	Service     string     `json:"service"`
	Environment string     `json:"environment"`
	Version     string     `json:"version"`
	State       string     `json:"state"`
	Attempt     int        `json:"attempt"`
	Kind        string     `json:"kind"`
	Actor       string     `json:"actor"`
	Reason      string     `json:"reason"`
	CreatedAt   time.Time  `json:"created_at"`
	StartedAt   *time.Time `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at"`
	Error       string     `json:"error,omitempty"`
	Output      *string    `json:"output,omitempty"`
}

// EventView is an entry of the event log.
type EventView struct {
	ID          int64     `json:"id"`
	At          time.Time `json:"at"`
	Type        string    `json:"type"`
	Service     string    `json:"service,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Version     string    `json:"version,omitempty"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version,omitempty"`
	Actor       string    `json:"actor"`
	// ActorTokenID is the ID of the token whose command wrote the event;
	// absent for bakery's own decisions.
	ActorTokenID int64          `json:"actor_token_id,omitempty"`
	Reason       string         `json:"reason,omitempty"`
	DeploymentID int64          `json:"deployment_id,omitempty"`
	Data         map[string]any `json:"data,omitempty"`
}

// ReleaseProgress is a release's way through its service's environments,
// for `bakery watch`.
type ReleaseProgress struct {
	Release      ReleaseView        `json:"release"`
	Environments []ReleaseStageView `json:"environments"`
	// Done is true once the release runs in the last environment; Failed
	// once it can go no further (failed, superseded or rejected).
	Done    bool   `json:"done"`
	Failed  bool   `json:"failed"`
	Message string `json:"message"`
}

// ReleaseStageView is where a release stands in one environment.
type ReleaseStageView struct {
	Name string `json:"name"`
	// State is one of: waiting, baking, pending, running, succeeded, failed,
	// cancelled, superseded.
	State      string     `json:"state"`
	Deployment int64      `json:"deployment_id,omitempty"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// BakeStarted/BakeUntil describe the bake the release must finish in
	// the environment below before it may enter this one.
	BakeStarted *time.Time `json:"bake_started_at,omitempty"`
	BakeUntil   *time.Time `json:"bake_until,omitempty"`
	Bake        string     `json:"bake,omitempty"`
	Message     string     `json:"message,omitempty"`
	// Canary is the release's canary in the environment, if it had one.
	Canary *CanaryView `json:"canary,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func commitURL(repo, version string) string {
	if repo == "" {
		return ""
	}
	return strings.TrimSuffix(repo, "/") + "/commit/" + version
}

func releaseView(svc *config.Service, r pipeline.Release) ReleaseView {
	v := ReleaseView{Service: r.Service, Version: r.Version, Artifact: r.Artifact, Message: r.Message, Author: r.Author,
		CreatedAt: r.CreatedAt.UTC(), Rejected: r.Rejected, CommittedAt: timePtr(r.CommittedAt), Fix: r.Fix, FixReason: r.FixReason, Creator: r.Creator}
	if svc != nil {
		v.CommitURL = commitURL(svc.Repository, r.Version)
	}
	return v
}

func deploymentView(d pipeline.Deployment, withOutput bool) DeploymentView {
	v := DeploymentView{ID: d.ID, Service: d.Service, Environment: d.Environment, Version: d.Version, State: string(d.State),
		Attempt: d.Attempt, Kind: d.Kind, Actor: d.Actor, Reason: d.Reason, CreatedAt: d.CreatedAt.UTC(),
		StartedAt: timePtr(d.StartedAt), FinishedAt: timePtr(d.FinishedAt), Error: d.Error}
	if withOutput {
		out := d.Output
		v.Output = &out
	}
	return v
}

func eventView(e pipeline.Event) EventView {
	return EventView{ID: e.ID, At: e.At.UTC(), Type: e.Type, Service: e.Service, Environment: e.Environment, Version: e.Version,
		FromVersion: e.FromVersion, ToVersion: e.ToVersion, Actor: e.Actor, ActorTokenID: e.ActorTokenID, Reason: e.Reason, DeploymentID: e.DeploymentID, Data: e.Data}
}

// FormatService is the JSON view of a service's read model, as GET
// /api/v1/services/{service} serves it.
func FormatService(svc *config.Service, m readmodel.Service) ServiceView { return serviceView(svc, m) }

// serviceView formats the read model of one service; it derives nothing.
func serviceView(svc *config.Service, m readmodel.Service) ServiceView {
	now := m.At
	v := ServiceView{Service: svc.Name, Repository: svc.Repository, Labels: svc.Labels, Environments: []EnvironmentView{}}
	for i, env := range m.Environments {
		ev := EnvironmentView{Name: env.Name, State: string(env.State)}
		if i > 0 {
			ev.Bake = env.Bake.String()
		}
		if env.Current != nil {
			version := env.Current.Version
			ev.Version = &version
			ev.CommitURL = commitURL(svc.Repository, version)
			ev.Since = timePtr(env.Since)
		}
		if env.Active != nil {
			dv := deploymentView(*env.Active, false)
			ev.Deployment = &dv
			if env.Canary != nil && i < len(svc.Environments) {
				cv := canaryView(*env.Canary, engine.CanarySteps(svc.Environments[i].Canary))
				ev.Canary = &cv
			}
		}
		ev.Waiting = WaitView{Kind: string(env.Wait.Kind), Version: env.Wait.Version, Until: timePtr(env.Wait.Until), Message: env.Wait.Message}
		ev.Queue = len(env.Queue)
		if x := env.Exposure; x != nil {
			ev.Exposure = &ExposureView{Environment: x.Lower, Version: x.Version, Requests: x.Requests, RequestsNeeded: x.RequestsNeeded,
				People: x.People, PeopleNeeded: x.PeopleNeeded}
			if x.MaxWait > 0 {
				ev.Exposure.MaxWait, ev.Exposure.AfterMaxWait = x.MaxWait.String(), "hold"
				if x.Promote {
					ev.Exposure.AfterMaxWait = "promote"
				}
			}
		}
		for _, l := range env.Locks {
			ev.Locked = true
			ev.Locks = append(ev.Locks, lockView(l))
		}
		if len(env.Locks) > 0 {
			if held := now.Sub(env.Locks[0].CreatedAt); held > pileUpAfter {
				ev.PileUp = &PileUpView{LockedFor: held.Round(time.Minute).String(), Releases: len(env.Queue),
					Message: fmt.Sprintf("locked for %s with %d release(s) piled up behind the lock; the longer it holds, the bigger the change that reaches %s at once",
						held.Round(time.Minute), len(env.Queue), env.Name)}
			}
		}
		for _, q := range env.Releases {
			qv := queuedReleaseView(q)
			if at, ok := env.ExpectedAt(q.Release.ID); ok {
				qv.ExpectedAt = timePtr(at)
			}
			ev.Releases = append(ev.Releases, qv)
		}
		v.Environments = append(v.Environments, ev)
	}
	return v
}

func queuedReleaseView(q pipeline.QueueEntry) QueuedReleaseView {
	v := QueuedReleaseView{Version: q.Release.Version, State: string(q.State), CreatedAt: q.Release.CreatedAt.UTC(),
		BakeStarted: timePtr(q.BakeStart), BakeUntil: timePtr(q.BakeEnd), Message: q.Why}
	if q.Deployment != nil {
		v.Deployment = q.Deployment.ID
	}
	if q.Canary != nil {
		v.CanaryWeight = q.Canary.Weight
	}
	return v
}
