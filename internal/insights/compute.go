package insights

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// What holds a release that has baked, in the order it is blamed: a lock
// holds everything; then checks; then a closed window.
const (
	catOpen = iota
	catLock
	catChecks
	catWindow
)

type seg struct {
	from time.Time
	cat  int
}

// closer is what internal/window.Schedule has besides pipeline.Window.
type closer interface {
	NextClose(t time.Time) (time.Time, bool)
}

// gateTimeline is, for one environment, what held its gate (after the bake)
// from start on: a sorted list of segments, each lasting until the next.
func (h *history) gateTimeline(env int, start time.Time) []seg {
	type edge struct {
		at    time.Time
		cat   int
		delta int
	}
	var edges []edge
	for _, l := range h.locks {
		if l.env == env && (l.service == h.name || l.service == pipeline.AllServices) {
			edges = append(edges, edge{l.from, catLock, 1}, edge{l.to, catLock, -1})
		}
	}
	for _, s := range h.unhealthy[env] {
		edges = append(edges, edge{s.from, catChecks, 1}, edge{s.to, catChecks, -1})
	}
	if w := h.envs[env].Window; w != nil {
		for _, s := range closedSpans(w, start, h.until) {
			edges = append(edges, edge{s.from, catWindow, 1}, edge{s.to, catWindow, -1})
		}
	}
	sort.Slice(edges, func(i, j int) bool { return edges[i].at.Before(edges[j].at) })
	var count [4]int
	out := []seg{{from: time.Time{}, cat: catOpen}}
	for i := 0; i < len(edges); {
		at := edges[i].at
		for ; i < len(edges) && edges[i].at.Equal(at); i++ {
			count[edges[i].cat] += edges[i].delta
		}
		cat := catOpen
		for _, c := range []int{catLock, catChecks, catWindow} {
			if count[c] > 0 {
				cat = c
				break
			}
		}
		if out[len(out)-1].cat != cat {
			out = append(out, seg{at, cat})
		}
	}
	return out
}

// closedSpans lists when a window is closed between from and to.
func closedSpans(w pipeline.Window, from, to time.Time) []span {
	var out []span
	t := from
	for i := 0; t.Before(to) && i < 100000; i++ {
		if !w.Open(t) {
			next, ok := w.NextOpen(t)
			if !ok {
				return append(out, span{t, never})
			}
			out = append(out, span{t, next})
			t = next
			continue
		}
		var next time.Time
		if c, ok := w.(closer); ok {
			n, ok := c.NextClose(t)
			if !ok {
				return out
			}
			next = n
		} else {
			// A window without NextClose: find the close to the minute.
			next = t.Truncate(time.Minute).Add(time.Minute)
			for next.Before(to) && w.Open(next) {
				next = next.Add(time.Minute)
			}
		}
		t = next
	}
	return out
}

// spend adds the time [a, b) to bd, split by tl's segments; time the gate
// was open goes to open.
func spend(tl []seg, a, b time.Time, bd *Breakdown, open *float64) {
	if !a.Before(b) {
		return
	}
	i := sort.Search(len(tl), func(i int) bool { return tl[i].from.After(a) }) - 1
	if i < 0 {
		i = 0
	}
	for t := a; t.Before(b) && i < len(tl); i++ {
		end := b
		if i+1 < len(tl) && tl[i+1].from.Before(b) {
			end = tl[i+1].from
		}
		if end.After(t) {
			d := end.Sub(t).Seconds()
			switch tl[i].cat {
			case catLock:
				bd.HeldByLock += d
			case catChecks:
				bd.HeldByChecks += d
			case catWindow:
				bd.HeldByWindow += d
			default:
				*open += d
			}
			t = end
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Add adds one service's history to the figures.
func (a *Accumulator) Add(s Service) {
	if len(s.Envs) == 0 {
		return
	}
	h := parse(s, a.p.Until)
	n, last := len(h.envs), len(h.envs)-1
	R := len(h.releases)

	// entered[k][r]: when env k first ran a release containing release r
	// (the release itself or a newer one).
	entered := make([][]time.Time, n)
	// perEnv: each environment's deployments, by the time they were decided.
	perEnv := make([][]*deployment, n)
	for k := range entered {
		entered[k] = make([]time.Time, R+1)
		for r := range entered[k] {
			entered[k][r] = never
		}
	}
	var prod []*deployment // succeeded in the last environment
	for _, d := range h.deps {
		perEnv[d.env] = append(perEnv[d.env], d)
		if d.outcome == "succeeded" {
			if d.seq >= 0 && d.finished.Before(entered[d.env][d.seq]) {
				entered[d.env][d.seq] = d.finished
			}
			if d.env == last {
				prod = append(prod, d)
			}
		}
		if d.outcome != "" && a.inPeriod(d.finished) {
			a.outcomes[[3]string{h.name, h.envs[d.env].Name, d.outcome}]++
		}
	}
	for k := range perEnv {
		sort.Slice(perEnv[k], func(i, j int) bool { return perEnv[k][i].decided.Before(perEnv[k][j].decided) })
	}
	sort.Slice(prod, func(i, j int) bool { return prod[i].finished.Before(prod[j].finished) })
	first := make([][]time.Time, n)
	for k := range entered {
		first[k] = slices.Clone(entered[k])
		for r := R - 1; r >= 0; r-- {
			entered[k][r] = minTime(entered[k][r], entered[k][r+1])
		}
	}
	// bakeEnd[q][r]: when a release containing r had baked below q.
	bakeEnd := make([][]time.Time, n)
	for q := 1; q < n; q++ {
		bakeEnd[q] = make([]time.Time, R+1)
		bakeEnd[q][R] = never
		for r := R - 1; r >= 0; r-- {
			e := never
			if raw := first[q-1][r]; !raw.Equal(never) && !h.failedBake[q][h.releases[r].version] {
				bake := h.envs[q].Bake
				if h.releases[r].fix && h.envs[q].Fix != nil {
					bake = h.envs[q].Fix.Bake // the fix lane's shorter bake
				}
				e = raw.Add(bake)
			}
			if sk, ok := h.skip[q][r]; ok {
				e = minTime(e, sk)
			}
			bakeEnd[q][r] = minTime(e, bakeEnd[q][r+1])
		}
	}
	start := a.p.Until
	if len(s.Events) > 0 {
		start = s.Events[0].At
	}
	gates := make([][]seg, n)
	for q := 1; q < n; q++ {
		gates[q] = h.gateTimeline(q, start)
	}

	// Lead time and its breakdown, per change that reached the last
	// environment in the period.
	for r, rel := range h.releases {
		end := entered[last][r]
		if !a.inPeriod(end) {
			continue
		}
		t0 := rel.created
		if !rel.committed.IsZero() && rel.committed.Before(t0) {
			t0 = rel.committed
		}
		bd := h.breakdown(r, t0, end, entered, bakeEnd, perEnv, gates)
		lt := end.Sub(t0).Seconds()
		a.leadTimes = append(a.leadTimes, lt)
		a.bdSum.add(bd)
		if d := a.dayOf(end); d != nil {
			d.Changes++
			d.leadTimes = append(d.leadTimes, lt)
			d.breakdownSum.add(bd)
		}
	}

	// Production deployments, change failures and recoveries.
	failed := make([]bool, len(prod))
	decidedAt := make([]time.Time, len(prod))
	for i, d := range prod {
		next := a.p.Until
		if i+1 < len(prod) {
			next = prod[i+1].finished
		}
		when := never
		// "While it ran": up to the next production success, which may be
		// the rollback's or emergency deploy's own (at the same instant,
		// on a clock that did not move).
		for _, m := range h.rejected {
			if m.env == last && m.version == d.version && !m.at.Before(d.finished) && !m.at.After(next) {
				when = minTime(when, m.at)
			}
		}
		for _, rb := range h.rollbacks {
			if rb.from == d.version && !rb.decided.Before(d.finished) && !rb.decided.After(next) {
				when = minTime(when, rb.decided)
			}
		}
		for _, em := range h.emergency {
			if em.id != d.id && !em.decided.Before(d.finished) && !em.decided.After(next) && em.decided.Before(d.finished.Add(a.p.FailureWindow)) {
				when = minTime(when, em.decided)
			}
		}
		if !when.Equal(never) {
			failed[i], decidedAt[i] = true, when
		}
	}
	for i, d := range prod {
		if !a.inPeriod(d.finished) {
			continue
		}
		a.deploys++
		if day := a.dayOf(d.finished); day != nil {
			day.Deployments++
		}
		w := a.weekOf(d.finished)
		if w != nil {
			w.Deployments++
		}
		if !failed[i] {
			continue
		}
		a.failures++
		if w != nil {
			w.ChangeFailures++
		}
		signal := decidedAt[i]
		for _, l := range h.locks {
			if l.env == last && !l.from.Before(d.finished) && l.from.Before(signal) {
				signal = l.from
			}
		}
		for j := i + 1; j < len(prod); j++ {
			if !prod[j].finished.Before(signal) && !failed[j] {
				a.recoveries = append(a.recoveries, prod[j].finished.Sub(signal).Seconds())
				break
			}
		}
	}
	for _, d := range h.rollbacks {
		if a.inPeriod(d.decided) {
			a.rollbacks++
		}
	}
	for _, d := range h.emergency {
		if a.inPeriod(d.decided) {
			a.emergency++
		}
	}

	// Caught before production: each release stopped once.
	seen := map[string]bool{}
	for _, m := range h.caught {
		if !a.inPeriod(m.at) || seen[m.version] {
			continue
		}
		seen[m.version] = true
		a.caught++
		if w := a.weekOf(m.at); w != nil {
			w.CaughtBeforeProduction++
		}
	}

	// waitFrom/waitTo: when release r waited to enter env q.
	waitSpan := func(q, r int) (time.Time, time.Time) {
		from := h.releases[r].created
		if q > 0 {
			from = entered[q-1][r]
		}
		return from, entered[q][r]
	}
	// Locks and their pile-up.
	for _, l := range h.locks {
		to := minTime(l.to, a.p.Until)
		if !l.from.Before(a.p.Until) || to.Before(a.p.Since) {
			continue
		}
		if l.service != h.name && l.service != pipeline.AllServices {
			continue
		}
		key := fmt.Sprintf("%s/%d", l.service, l.id)
		lr := a.locks[key]
		if lr == nil {
			lr = &Lock{Service: l.service, Environment: h.envs[l.env].Name, HeldSeconds: to.Sub(l.from).Seconds(),
				Reason: l.reason, By: l.by, Since: l.from, Until: to, Held: !l.to.Before(a.p.Until)}
			a.locks[key] = lr
		}
		for r := range h.releases {
			wf, wt := waitSpan(l.env, r)
			if wf.Before(l.to) && wt.After(l.from) && wf.Before(a.p.Until) {
				lr.ReleasesPiledUp++
			}
		}
	}
	// The queues at Until.
	for q := 1; q < n; q++ {
		c := 0
		for r := range h.releases {
			if wf, wt := waitSpan(q, r); !wf.After(a.p.Until) && wt.After(a.p.Until) {
				c++
			}
		}
		a.waiting = append(a.waiting, Waiting{Service: h.name, Environment: h.envs[q].Name, Releases: c})
	}
}

type piece struct {
	from, to time.Time
	part     int // 0 to_staging, 1 canary, 2 to_production
}

// breakdown splits change r's lead time [t0, end) into its states.
func (h *history) breakdown(r int, t0, end time.Time, entered, bakeEnd [][]time.Time, perEnv [][]*deployment, gates [][]seg) Breakdown {
	var bd Breakdown
	last := len(h.envs) - 1
	// Deployments carrying the change, in flight, by what they count as.
	var pieces []piece
	for k := 0; k <= last; k++ {
		deps := perEnv[k]
		i := sort.Search(len(deps), func(i int) bool { return !deps[i].decided.Before(end) })
		j0 := sort.Search(len(deps), func(i int) bool { return !deps[i].decided.Before(t0) })
		for j0 > 0 && deps[j0-1].end(h.until).After(t0) {
			j0--
		}
		for j := j0; j < i; j++ {
			d := deps[j]
			if d.seq < r {
				continue
			}
			// A deployment carries the change only until the environment
			// runs it: a newer release deployed to staging while this one
			// bakes there is not this change's time.
			from, to := maxTime(d.start(), t0), minTime(minTime(d.end(h.until), end), entered[k][r])
			if !from.Before(to) {
				continue
			}
			if k < last {
				pieces = append(pieces, piece{from, to, 0})
				continue
			}
			if !d.canaryFrom.IsZero() {
				cf, ct := maxTime(d.canaryFrom, from), minTime(d.canaryTo, to)
				if d.canaryTo.IsZero() {
					ct = to
				}
				if cf.Before(ct) {
					pieces = append(pieces, piece{from, cf, 2}, piece{cf, ct, 1}, piece{ct, to, 2})
					continue
				}
			}
			pieces = append(pieces, piece{from, to, 2})
		}
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].from.Before(pieces[j].from) })
	wait := func(a, b time.Time) {
		// Split [a, b) by the change's position: the highest environment
		// that runs a release containing it.
		for a.Before(b) {
			p := -1
			for k := 0; k <= last; k++ {
				if !entered[k][r].After(a) {
					p = k
				}
			}
			stop := b
			for k := p + 1; k <= last; k++ {
				if entered[k][r].After(a) && entered[k][r].Before(stop) {
					stop = entered[k][r]
				}
			}
			q := p + 1
			switch {
			case p < 0 || q > last:
				bd.ToStaging += stop.Sub(a).Seconds()
			default:
				be := minTime(maxTime(bakeEnd[q][r], a), stop)
				bd.Bake += be.Sub(a).Seconds()
				open := &bd.ToStaging
				if q == last {
					open = &bd.ToProduction
				}
				spend(gates[q], be, stop, &bd, open)
			}
			a = stop
		}
	}
	cur := t0
	for _, p := range pieces {
		if p.to.Before(cur) || p.to.Equal(cur) {
			continue
		}
		if p.from.After(cur) {
			wait(cur, p.from)
			cur = p.from
		}
		d := p.to.Sub(cur).Seconds()
		switch p.part {
		case 0:
			bd.ToStaging += d
		case 1:
			bd.Canary += d
		default:
			bd.ToProduction += d
		}
		cur = p.to
	}
	wait(cur, end)
	return bd
}
