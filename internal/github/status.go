package github

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bakery-deploy/bakery/internal/pipeline"
	"github.com/bakery-deploy/bakery/internal/readmodel"
)

// Commit status states (POST /repos/{owner}/{repo}/statuses/{sha}).
const (
	StatusPending = "pending"
	StatusSuccess = "success"
	StatusFailure = "failure"
	StatusError   = "error"
)

// Deployment status states (POST …/deployments/{id}/statuses) bakery uses.
const (
	DeploymentQueued     = "queued"
	DeploymentInProgress = "in_progress"
	DeploymentSuccess    = "success"
	DeploymentFailure    = "failure"
	DeploymentInactive   = "inactive"
)

// maxDescription is GitHub's limit on a commit status's description.
const maxDescription = 140

// Status is what GitHub should show about a release in one environment.
type Status struct {
	// State and Description are the bakery/ENV commit status.
	State       string
	Description string
	// Deployment is the state of the GitHub Deployment's latest status;
	// "" when the release has no deployment in the environment.
	Deployment string
}

// Describe says where release rel stands in environment i of view, as
// GitHub should show it. dep is rel's latest deployment into that
// environment (nil: none). It is a pure function of the read model, the
// same one the dashboard and bakery status show.
func Describe(view readmodel.Service, i int, rel pipeline.Release, dep *pipeline.Deployment) Status {
	env := view.Environments[i]
	now := view.At
	var s Status
	if dep != nil {
		s.Deployment = deploymentState(dep, env, rel)
	}
	live := env.Current != nil && env.Current.ID == rel.ID
	switch {
	case live:
		s.State, s.Description = StatusSuccess, fmt.Sprintf("in %s since %s", env.Name, clock(env.Since))
		if env.Active != nil && env.Active.ReleaseID != rel.ID {
			s.Description += fmt.Sprintf("; %s is deploying over it", short(env.Active.Version))
		}
		return s.clip()
	case dep != nil && (dep.State == pipeline.DeploymentRunning || dep.State == pipeline.DeploymentPending):
		s.State = StatusPending
		if env.Canary != nil && env.Active != nil && env.Active.ID == dep.ID {
			s.Description = fmt.Sprintf("canary in %s: step %d of %d", env.Name, env.Canary.Step+1, max(env.CanarySteps, 1))
		} else {
			s.Description = "deploying to " + env.Name
		}
		return s.clip()
	}
	// Not running there: what the queue into this environment says.
	var entry *pipeline.QueueEntry
	for k := range env.Releases {
		if env.Releases[k].Release.ID == rel.ID {
			entry = &env.Releases[k]
		}
	}
	if rel.Rejected {
		s.State, s.Description = StatusFailure, "rejected"
		if entry != nil && entry.Why != "" {
			s.Description = "rejected: " + entry.Why
		}
		return s.clip()
	}
	if i == 0 {
		switch {
		case dep == nil:
			s.State, s.Description = StatusPending, "waiting to deploy to "+env.Name
		case dep.State == pipeline.DeploymentSucceeded:
			s.State, s.Description = StatusSuccess, fmt.Sprintf("was in %s", env.Name)
			if env.Current != nil {
				s.Description += fmt.Sprintf("; %s runs there now", short(env.Current.Version))
			}
		default:
			s.State, s.Description = StatusFailure, fmt.Sprintf("deployment to %s %s", env.Name, dep.State)
			if dep.Error != "" {
				s.Description += ": " + dep.Error
			}
		}
		return s.clip()
	}
	if entry == nil {
		// Older than what runs below and here: its commits are in what runs.
		if env.Current != nil && env.Current.ID > rel.ID {
			s.State, s.Description = StatusSuccess, fmt.Sprintf("reached %s with %s", env.Name, short(env.Current.Version))
			return s.clip()
		}
		s.State, s.Description = StatusPending, "waiting for "+env.Lower
		return s.clip()
	}
	switch entry.State {
	case pipeline.ReleaseBaking:
		total := env.Bake
		done := now.Sub(entry.BakeStart)
		s.State = StatusPending
		s.Description = fmt.Sprintf("baking %s of %s in %s — promotes at %s", minutes(done), minutes(total), env.Lower, clock(entry.BakeEnd))
		if w := held(env, now); w != "" {
			s.Description = fmt.Sprintf("baking %s of %s in %s; %s", minutes(done), minutes(total), env.Lower, w)
		}
	case pipeline.ReleaseBaked, pipeline.ReleaseBakeSkipped:
		s.State = StatusPending
		s.Description = "baked; promoting to " + env.Name
		if entry.State == pipeline.ReleaseBakeSkipped {
			s.Description = "bake skipped; promoting to " + env.Name
		}
		if w := held(env, now); w != "" {
			s.Description = w
		}
	case pipeline.ReleaseSuperseded:
		newer := "a newer release"
		if env.Current != nil && env.Current.ID > rel.ID {
			newer = short(env.Current.Version)
			s.State, s.Description = StatusSuccess, fmt.Sprintf("reached %s with %s", env.Name, newer)
		} else {
			s.State, s.Description = StatusPending, fmt.Sprintf("superseded: reaches %s with %s", env.Name, newer)
		}
	case pipeline.ReleaseEarlier:
		s.State, s.Description = StatusSuccess, fmt.Sprintf("was in %s", env.Name)
		if env.Current != nil {
			s.Description += fmt.Sprintf("; %s runs there now", short(env.Current.Version))
		}
	case pipeline.ReleaseFailedBake:
		s.State, s.Description = StatusFailure, "failed bake in "+env.Lower
		if entry.Why != "" {
			s.Description += ": " + entry.Why
		}
	case pipeline.ReleaseRejected:
		s.State, s.Description = StatusFailure, "rejected"
		if entry.Why != "" {
			s.Description = "rejected: " + entry.Why
		}
	case pipeline.ReleaseFailed:
		s.State, s.Description = StatusFailure, "deployment to "+env.Name+" failed"
		if dep != nil && dep.Error != "" {
			s.Description += ": " + dep.Error
		}
	case pipeline.ReleaseFailedBelow:
		s.State, s.Description = StatusFailure, fmt.Sprintf("stopped: it did not reach %s", env.Lower)
	default: // lower: on its way to the environment below
		s.State, s.Description = StatusPending, "waiting for "+env.Lower
	}
	return s.clip()
}

// held says what holds promotions into env besides the bake: a lock, the
// window, checks ("" when nothing does).
func held(env readmodel.Environment, now time.Time) string {
	for _, l := range env.Locks {
		if l.ActiveAt(now) {
			s := "held: locked by " + l.Actor
			if l.Reason != "" {
				s += " — " + l.Reason
			}
			return s
		}
	}
	switch env.Wait.Kind {
	case pipeline.WaitWindow:
		if !env.Wait.Until.IsZero() {
			return "waiting for the window (opens " + env.Wait.Until.UTC().Format("Mon 15:04 UTC") + ")"
		}
		return "waiting for the window"
	case pipeline.WaitChecks:
		if env.Wait.Message != "" {
			return "waiting for checks: " + env.Wait.Message
		}
		return "waiting for checks"
	}
	return ""
}

func deploymentState(dep *pipeline.Deployment, env readmodel.Environment, rel pipeline.Release) string {
	switch dep.State {
	case pipeline.DeploymentPending:
		return DeploymentQueued
	case pipeline.DeploymentRunning:
		return DeploymentInProgress
	case pipeline.DeploymentSucceeded:
		if env.Current != nil && env.Current.ID != rel.ID {
			return DeploymentInactive // superseded in the environment
		}
		return DeploymentSuccess
	}
	return DeploymentFailure
}

func minutes(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d >= 2*time.Hour {
		return fmt.Sprintf("%.0f h", d.Hours())
	}
	return fmt.Sprintf("%d min", int(d.Minutes()))
}

// clock is a time of day for a status line; statuses have no time zone of
// their reader, so it is UTC and says so.
func clock(t time.Time) string { return t.UTC().Format("15:04 UTC") }

func (s Status) clip() Status {
	s.Description = Clip(s.Description, maxDescription)
	return s
}

// Clip cuts s to at most n characters, ending it with … when cut.
func Clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
