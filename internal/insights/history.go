package insights

import (
	"sort"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// never stands for "has not happened (yet)".
var never = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type release struct {
	version   string
	created   time.Time
	committed time.Time
	fix       bool // a fix release: it bakes for the fix lane's time
}

type deployment struct {
	id       int64
	env      int
	seq      int // -1: a release created before the loaded history
	version  string
	from     string
	kind     string
	decided  time.Time
	finished time.Time
	outcome  string
	// canary rollout: from its start to its promotion step or end.
	canaryFrom, canaryTo time.Time
}

func (d *deployment) start() time.Time { return d.decided }

func (d *deployment) end(until time.Time) time.Time {
	if d.finished.IsZero() {
		return until
	}
	return d.finished
}

type lockSpan struct {
	id      int64
	service string
	env     int
	from    time.Time
	to      time.Time // never: still held
	reason  string
	by      string
}

type span struct{ from, to time.Time }

type marker struct {
	env     int
	version string
	at      time.Time
}

// history is one service's parsed event log.
type history struct {
	name      string
	envs      []pipeline.EnvSpec
	until     time.Time
	releases  []release
	seqOf     map[string]int
	deps      []*deployment
	depByID   map[int64]*deployment
	locks     []*lockSpan
	unhealthy [][]span // per environment, a check not healthy
	skip      []map[int]time.Time
	// failedBake: releases a failing check stopped from entering an
	// environment (rule 8); they never count as baked for it.
	failedBake []map[string]bool
	rejected   []marker
	caught     []marker
	rollbacks  []*deployment
	emergency  []*deployment
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func num(m map[string]any, k string) int64 {
	switch v := m[k].(type) {
	case int64:
		return v
	case int:
		return int64(v)
	case float64:
		return int64(v)
	}
	return 0
}

func parse(s Service, until time.Time) *history {
	h := &history{name: s.Name, envs: s.Envs, until: until, seqOf: map[string]int{}, depByID: map[int64]*deployment{},
		unhealthy: make([][]span, len(s.Envs)), skip: make([]map[int]time.Time, len(s.Envs)),
		failedBake: make([]map[string]bool, len(s.Envs))}
	envIdx := map[string]int{}
	for i, e := range s.Envs {
		envIdx[e.Name] = i
		h.skip[i] = map[int]time.Time{}
		h.failedBake[i] = map[string]bool{}
	}
	seq := func(v string) int {
		if i, ok := h.seqOf[v]; ok {
			return i
		}
		return -1
	}
	lockByID := map[int64]*lockSpan{}
	type checkKey struct {
		env  int
		name string
	}
	badSince := map[checkKey]time.Time{}
	dep := func(e *pipeline.Event, env int) *deployment {
		if e.DeploymentID == 0 {
			return nil
		}
		d := h.depByID[e.DeploymentID]
		if d == nil {
			d = &deployment{id: e.DeploymentID, env: env, seq: seq(e.Version), version: e.Version, kind: pipeline.KindAuto, decided: e.At}
			h.depByID[d.id] = d
			h.deps = append(h.deps, d)
		}
		return d
	}
	for i := range s.Events {
		e := &s.Events[i]
		if !e.At.Before(until) {
			continue
		}
		env, envOK := envIdx[e.Environment]
		switch e.Type {
		case pipeline.EventReleaseCreated:
			if _, dup := h.seqOf[e.Version]; dup || e.Service != s.Name {
				continue
			}
			r := release{version: e.Version, created: e.At}
			r.fix, _ = e.Data["fix"].(bool)
			if c := str(e.Data, "committed_at"); c != "" {
				if t, err := time.Parse(time.RFC3339Nano, c); err == nil {
					r.committed = t
				}
			}
			h.seqOf[e.Version] = len(h.releases)
			h.releases = append(h.releases, r)
		case pipeline.EventPromotionDecided, pipeline.EventRollbackDecided, pipeline.EventEmergencyDecided:
			if !envOK {
				continue
			}
			d := dep(e, env)
			if d == nil {
				continue
			}
			d.from = e.FromVersion
			switch e.Type {
			case pipeline.EventRollbackDecided:
				d.kind = pipeline.KindRollback
				if env == len(h.envs)-1 {
					h.rollbacks = append(h.rollbacks, d)
				}
			case pipeline.EventEmergencyDecided:
				d.kind = pipeline.KindEmergency
				if env == len(h.envs)-1 {
					h.emergency = append(h.emergency, d)
				}
			}
		case pipeline.EventDeploymentStarted:
			if envOK {
				dep(e, env)
			}
		case pipeline.EventDeploymentSucceeded, pipeline.EventDeploymentFailed, pipeline.EventDeploymentCancels:
			if !envOK {
				continue
			}
			if d := dep(e, env); d != nil && d.finished.IsZero() {
				d.finished = e.At
				d.outcome = map[string]string{pipeline.EventDeploymentSucceeded: "succeeded",
					pipeline.EventDeploymentFailed: "failed", pipeline.EventDeploymentCancels: "cancelled"}[e.Type]
				if !d.canaryFrom.IsZero() && d.canaryTo.IsZero() {
					d.canaryTo = e.At
				}
			}
		case pipeline.EventCanaryStarted:
			if d := h.depByID[e.DeploymentID]; d != nil && d.canaryFrom.IsZero() {
				d.canaryFrom = e.At
			}
		case pipeline.EventCanaryPromoting, pipeline.EventCanaryPromoted, pipeline.EventCanaryAborted:
			if d := h.depByID[e.DeploymentID]; d != nil && !d.canaryFrom.IsZero() && d.canaryTo.IsZero() {
				d.canaryTo = e.At
			}
			if e.Type == pipeline.EventCanaryAborted && envOK {
				h.caught = append(h.caught, marker{env, e.Version, e.At})
			}
		case pipeline.EventLockPlaced:
			if !envOK {
				continue
			}
			l := &lockSpan{id: num(e.Data, "lock_id"), service: e.Service, env: env, from: e.At, to: never, reason: e.Reason, by: e.Actor}
			if l.id == 0 {
				l.id = -e.ID
			}
			if x := str(e.Data, "expires_at"); x != "" {
				if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
					l.to = t
				}
			}
			lockByID[l.id] = l
			h.locks = append(h.locks, l)
		case pipeline.EventLockReleased, pipeline.EventLockExpired:
			if l := lockByID[num(e.Data, "lock_id")]; l != nil && e.At.Before(l.to) {
				l.to = e.At
			}
		case pipeline.EventCheckFailed, pipeline.EventCheckInconclusive, pipeline.EventCheckHealthy:
			if !envOK {
				continue
			}
			k := checkKey{env, str(e.Data, "check")}
			if e.Type == pipeline.EventCheckHealthy {
				if from, bad := badSince[k]; bad {
					h.unhealthy[env] = append(h.unhealthy[env], span{from, e.At})
					delete(badSince, k)
				}
				continue
			}
			if _, bad := badSince[k]; !bad {
				badSince[k] = e.At
			}
			if e.Type == pipeline.EventCheckFailed && e.Version != "" {
				h.caught = append(h.caught, marker{env, e.Version, e.At})
				h.failedBake[env][e.Version] = true
			}
		case pipeline.EventBakeSkipped:
			if envOK {
				if r := seq(e.Version); r >= 0 {
					if _, ok := h.skip[env][r]; !ok {
						h.skip[env][r] = e.At
					}
				}
			}
		case pipeline.EventReleaseRejected:
			if envOK {
				h.rejected = append(h.rejected, marker{env, e.Version, e.At})
			}
		}
	}
	for k, from := range badSince {
		h.unhealthy[k.env] = append(h.unhealthy[k.env], span{from, never})
	}
	for i := range h.unhealthy {
		sort.Slice(h.unhealthy[i], func(a, b int) bool { return h.unhealthy[i][a].from.Before(h.unhealthy[i][b].from) })
	}
	// A deployment decided before the loaded history began has no seq yet
	// if its release.created came later in the slice; fix those up.
	for _, d := range h.deps {
		if d.seq < 0 {
			d.seq = seq(d.version)
		}
	}
	return h
}
