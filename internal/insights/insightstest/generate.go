// Package insightstest generates event logs for the insights' benchmarks:
// a service's year as the engine would have written it.
package insightstest

import (
	"fmt"
	"sort"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

type log struct {
	svc    string
	events []pipeline.Event
	dep    int64
	lock   int64
}

func (l *log) add(e pipeline.Event) {
	e.Service = l.svc
	if e.Actor == "" {
		e.Actor = pipeline.ActorSystem
	}
	l.events = append(l.events, e)
}

func (l *log) deploy(typ, env, v, from string, decided, finished time.Time) {
	l.dep++
	l.add(pipeline.Event{At: decided, Type: typ, Environment: env, Version: v, FromVersion: from, ToVersion: v, DeploymentID: l.dep})
	l.add(pipeline.Event{At: decided.Add(time.Second), Type: pipeline.EventDeploymentStarted, Environment: env, Version: v, DeploymentID: l.dep})
	l.add(pipeline.Event{At: finished, Type: pipeline.EventDeploymentSucceeded, Environment: env, Version: v, DeploymentID: l.dep})
}

// Generate writes one service's history of days from start: a release
// every four hours, five minutes to staging, an hour's bake, promotions at
// 09:00, 14:00 and 17:00 on weekdays (the newest baked release; older ones
// superseded), a two-hour lock every Wednesday, a failed bake check every
// week and a rollback every four weeks. Events are oldest first, with IDs
// from 1 (callers inserting them get their own).
func Generate(name string, start time.Time, days int) []pipeline.Event {
	l := &log{svc: name}
	type queued struct {
		v     string
		baked time.Time
	}
	var last, inProd string
	var waiting []queued
	for d := 0; d < days; d++ {
		day := start.AddDate(0, 0, d)
		wd := day.Weekday()
		workday := wd != time.Saturday && wd != time.Sunday
		for h := 0; h < 24; h++ {
			if h%4 == 0 {
				at := day.Add(time.Duration(h)*time.Hour + 7*time.Minute)
				v := fmt.Sprintf("v%d-%d", d, h)
				l.add(pipeline.Event{At: at, Type: pipeline.EventReleaseCreated, Version: v, Actor: "ci"})
				l.deploy(pipeline.EventPromotionDecided, "staging", v, last, at, at.Add(5*time.Minute))
				last = v
				if h == 8 && d%7 == 3 {
					l.add(pipeline.Event{At: at.Add(20 * time.Minute), Type: pipeline.EventCheckFailed, Environment: "production", Version: v,
						Data: map[string]any{"check": "errors"}})
				} else {
					waiting = append(waiting, queued{v, at.Add(65 * time.Minute)})
				}
			}
			if workday && wd == time.Wednesday && h == 12 {
				l.lock++
				l.add(pipeline.Event{At: day.Add(12 * time.Hour), Type: pipeline.EventLockPlaced, Environment: "production", Actor: "ana",
					Reason: "release freeze", Data: map[string]any{"lock_id": float64(l.lock)}})
				l.add(pipeline.Event{At: day.Add(14 * time.Hour), Type: pipeline.EventLockReleased, Environment: "production", Actor: "ana",
					Data: map[string]any{"lock_id": float64(l.lock)}})
			}
			if !workday || (h != 9 && h != 14 && h != 17) {
				continue
			}
			at := day.Add(time.Duration(h) * time.Hour)
			n := 0
			for n < len(waiting) && !waiting[n].baked.After(at) {
				n++
			}
			if n == 0 {
				continue
			}
			v := waiting[n-1].v
			for _, s := range waiting[:n-1] {
				l.add(pipeline.Event{At: at, Type: pipeline.EventReleaseSuperseded, Environment: "production", Version: s.v, ToVersion: v})
			}
			waiting = waiting[n:]
			l.deploy(pipeline.EventPromotionDecided, "production", v, inProd, at, at.Add(5*time.Minute))
			if d%28 == 10 && h == 14 && inProd != "" {
				l.add(pipeline.Event{At: at.Add(time.Hour), Type: pipeline.EventReleaseRejected, Environment: "production", Version: v, Actor: "ana"})
				l.deploy(pipeline.EventRollbackDecided, "production", inProd, v, at.Add(time.Hour), at.Add(time.Hour+2*time.Minute))
				continue
			}
			inProd = v
		}
	}
	sort.SliceStable(l.events, func(i, j int) bool { return l.events[i].At.Before(l.events[j].At) })
	for i := range l.events {
		l.events[i].ID = int64(i + 1)
	}
	return l.events
}
