package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/store"
)

// ReleaseRequest is the body of POST /api/v1/services/{service}/releases.
type ReleaseRequest struct {
	Version  string `json:"version"`
	Artifact string `json:"artifact"`
	Message  string `json:"message"`
	Author   string `json:"author"`
	// Migrations are the IDs of the schema migrations the release needs
	// applied before its code deploys.
	Migrations []string `json:"migrations,omitempty"`
	// CommittedAt is when the release's newest change was committed
	// (RFC3339); lead time starts there. Optional: without it, lead time
	// starts at the release's creation.
	CommittedAt string `json:"committed_at,omitempty"`
	// Fix marks a fix release (the fix lane); FixReason says what it
	// fixes and is required with it.
	Fix       bool   `json:"fix,omitempty"`
	FixReason string `json:"fix_reason,omitempty"`
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	svc, err := s.e.Service(r.PathValue("service"))
	if err != nil {
		return err
	}
	var req ReleaseRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	var committed time.Time
	if req.CommittedAt != "" {
		committed, err = time.Parse(time.RFC3339, req.CommittedAt)
		if err != nil {
			return &Error{Status: http.StatusBadRequest, Message: "invalid field committed_at",
				Detail: fmt.Sprintf("committed_at %q is not an RFC3339 time: write it like 2026-01-02T15:04:05Z (git show -s --format=%%cI prints it)", req.CommittedAt)}
		}
	}
	rel, err := s.e.CreateRelease(r.Context(), tok.Name, engine.ReleaseParams{Service: svc.Name, Version: req.Version,
		Artifact: req.Artifact, Message: req.Message, Author: req.Author, Migrations: req.Migrations, CommittedAt: committed,
		Fix: req.Fix, FixReason: req.FixReason})
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("/api/v1/services/%s/releases/%s", svc.Name, rel.Version))
	writeJSON(w, http.StatusCreated, releaseView(svc, rel))
	return nil
}

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, err := s.e.Service(r.PathValue("service"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 100, 1000)
	if err != nil {
		return err
	}
	rels, err := s.e.Records().ReleaseList(r.Context(), &store.ReleaseListParams{Service: svc.Name, Limit: limit})
	if err != nil {
		return err
	}
	out := make([]ReleaseView, 0, len(rels))
	for _, rel := range rels {
		out = append(out, releaseView(svc, rel))
	}
	writeJSON(w, http.StatusOK, map[string]any{"releases": out})
	return nil
}

// getRelease shows a release's way through the pipeline.
func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, _ *store.Token) error {
	svc, m, err := s.e.View(r.Context(), r.PathValue("service"))
	if err != nil {
		return err
	}
	version := r.PathValue("version")
	rel, err := s.e.Records().ReleaseGet(r.Context(), svc.Name, version)
	if err != nil {
		return &Error{Status: http.StatusNotFound, Message: "unknown release",
			Detail: fmt.Sprintf("%s has no release %q; list them with GET /api/v1/services/%s/releases", svc.Name, version, svc.Name)}
	}
	deps, err := s.e.Records().DeploymentList(r.Context(), &store.DeploymentListParams{Service: svc.Name, ReleaseID: rel.ID, Limit: 1000})
	if err != nil {
		return err
	}
	latest := map[string]pipeline.Deployment{}
	for _, dep := range deps { // newest first
		if _, ok := latest[dep.Environment]; !ok {
			latest[dep.Environment] = dep
		}
	}
	// The release's own deployments are all the bake rule needs.
	own := pipeline.State{Deployments: deps}
	p := ReleaseProgress{Release: releaseView(svc, rel)}
	blocked := false
	for i, env := range svc.Environments {
		stage := ReleaseStageView{Name: env.Name, State: "waiting"}
		var entry *pipeline.QueueEntry
		if i < len(m.Environments) {
			for k := range m.Environments[i].Releases {
				if q := &m.Environments[i].Releases[k]; q.Release.ID == rel.ID {
					entry = q
				}
			}
		}
		if i > 0 {
			stage.Bake = env.Bake.String()
			if start, ok := pipeline.BakeStart(own, svc.Environments[i-1].Name, rel.ID); ok {
				stage.BakeStarted = timePtr(start)
				stage.BakeUntil = timePtr(start.Add(env.Bake))
			}
		}
		if dep, ok := latest[env.Name]; ok {
			stage.State = string(dep.State)
			stage.Deployment = dep.ID
			stage.StartedAt = timePtr(dep.StartedAt)
			stage.FinishedAt = timePtr(dep.FinishedAt)
			stage.Message = dep.Reason
			if dep.State == pipeline.DeploymentFailed || dep.State == pipeline.DeploymentCancelled {
				stage.Message = dep.Error
				blocked = true
			}
			if env.Canary != nil {
				if c, err := s.e.Records().CanaryGetByDeployment(r.Context(), dep.ID); err == nil {
					cv := canaryView(c, engine.CanarySteps(env.Canary))
					stage.Canary = &cv
				}
			}
		} else if cur := m.Environments[i].Current; cur != nil && cur.ID > rel.ID {
			stage.State = "superseded"
			stage.Message = fmt.Sprintf("%s runs the newer %s", env.Name, cur.Version)
			blocked = true
		} else if blocked {
			stage.Message = "will not be reached"
		} else if entry != nil && entry.State == pipeline.ReleaseFailedBake {
			// A check failed during its bake: Decide never promotes it.
			stage.State = "failed"
			stage.Message = fmt.Sprintf("failed its bake in %s; %s", svc.Environments[i-1].Name, m.Environments[i].Wait.Message)
			blocked = true
		} else if entry != nil && entry.State == pipeline.ReleaseSuperseded {
			stage.State = "superseded"
			stage.Message = fmt.Sprintf("a newer release was promoted into %s in its place", env.Name)
			blocked = true
		} else if w := m.Environments[i].Wait; entry != nil && entry.State == pipeline.ReleaseBaking && w.Kind == pipeline.WaitExposure && w.Version == rel.Version {
			// Baked long enough; the exposure gate waits for use below.
			stage.State = "baking"
			stage.Message = w.Message
		} else if entry != nil && entry.State == pipeline.ReleaseBaking && !entry.BakeEnd.After(m.At) {
			stage.State = "baking"
			stage.Message = fmt.Sprintf("%s is %s", rel.Version, entry.Why)
		} else if entry != nil && entry.State == pipeline.ReleaseBaking {
			stage.State = "baking"
			stage.Message = fmt.Sprintf("%s is baking in %s until %s", rel.Version, svc.Environments[i-1].Name, entry.BakeEnd.UTC().Format(time.RFC3339))
		} else if entry != nil && entry.State == pipeline.ReleaseBelow {
			// Not in the environment below yet: say so of this release,
			// whatever else the environment waits for.
			stage.Message = fmt.Sprintf("waiting for %s to reach %s", rel.Version, svc.Environments[i-1].Name)
		} else if w := m.Environments[i].Wait; w.Kind == pipeline.WaitBake && stage.BakeUntil != nil {
			stage.State = "baking"
			stage.Message = w.Message
		} else {
			stage.Message = m.Environments[i].Wait.Message
		}
		p.Environments = append(p.Environments, stage)
	}
	last := p.Environments[len(p.Environments)-1]
	switch {
	case last.State == string(pipeline.DeploymentSucceeded):
		p.Done = true
		p.Message = fmt.Sprintf("%s runs in %s", rel.Version, last.Name)
	case rel.Rejected:
		p.Failed = true
		p.Message = fmt.Sprintf("%s is rejected and will not be promoted", rel.Version)
		for _, st := range p.Environments {
			if st.State == "failed" && st.Message != "" {
				p.Message += fmt.Sprintf(" (%s: %s)", st.Name, st.Message)
				break
			}
		}
	case blocked:
		p.Failed = true
		for _, st := range p.Environments {
			if st.State == "failed" || st.State == "cancelled" || st.State == "superseded" {
				p.Message = fmt.Sprintf("%s %s in %s: %s", rel.Version, st.State, st.Name, st.Message)
				break
			}
		}
	default:
		p.Message = "on its way"
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func intParam(r *http.Request, name string, def, max int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > max {
		return 0, &Error{Status: http.StatusBadRequest, Message: "invalid query parameter " + name,
			Detail: fmt.Sprintf("%s=%q must be a whole number from 0 to %d", name, v, max)}
	}
	return n, nil
}

func int64Param(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, &Error{Status: http.StatusBadRequest, Message: "invalid query parameter " + name,
			Detail: fmt.Sprintf("%s=%q must be a whole number of 0 or more", name, v)}
	}
	return n, nil
}
