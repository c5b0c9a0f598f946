// Package window decides when promotions into an environment may start:
// weekly spans of wall-clock time ("Mon-Fri 09:00-18:00") in an IANA time
// zone, minus holidays.
//
// # Wall-clock spans and DST
//
// Spans are written in wall-clock time of the schedule's zone. A wall time
// that a DST change makes happen twice or not at all is mapped to one
// instant, the first at which the zone's clock shows that time or later:
//
//   - On a fall-back day a repeated wall time means its FIRST occurrence:
//     "Daily 01:00-03:00" in America/New_York on 2026-11-01 opens at 01:00 EDT
//     and closes at 03:00 EST, three real hours, without closing and opening
//     again when the clock goes back; "Daily 01:30-01:45" is open from 01:30
//     to 01:45 EDT only, not again at 01:30 EST; and "Daily 00:00-01:30"
//     closes at the first 01:30 and stays closed through the repeated hour.
//   - On a spring-forward day a wall time in the skipped hour means the first
//     instant after the gap: "Sun 02:30-04:00" on 2026-03-08 opens at 03:00
//     EDT, and "Daily 01:00-03:00" is open one real hour, 01:00 EST to 03:00
//     EDT. A span that lies wholly in the gap ("Daily 02:00-02:30") does not
//     open that day.
//
// Local dates are the same: date D lasts from the first local midnight that
// starts it to the first that starts D+1. A holiday closes that whole
// interval; a span that crosses midnight belongs to its start date until
// midnight and to the next date after, so each part is closed by its own
// date's holiday.
//
// The package embeds the IANA zone database (time/tzdata), so zones load on
// machines without /usr/share/zoneinfo.
package window

import (
	"fmt"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zones must load on hosts without a zone database
)

// searchDays bounds NextOpen and NextClose: about two years and two months
// of local days.
const searchDays = 800

// Schedule is an environment's promotion window: open inside any entry,
// closed on holidays (local dates in the schedule's zone). It is immutable
// and safe for concurrent use.
//
// A nil *Schedule stands for "no window": it is always open, so callers can
// use an optional schedule without checking for nil.
type Schedule struct {
	loc      *time.Location
	entries  []Entry
	holidays map[int64]struct{} // day numbers
}

// New returns the schedule of entries in loc (nil means UTC), closed on
// holidays. Entries that repeat or overlap are fine; holidays may repeat.
func New(loc *time.Location, entries []Entry, holidays []Date) *Schedule {
	if loc == nil {
		loc = time.UTC
	}
	s := &Schedule{loc: loc, holidays: make(map[int64]struct{}, len(holidays))}
	for _, e := range entries {
		if e.days != 0 && e.start != e.end && !slices.Contains(s.entries, e) {
			s.entries = append(s.entries, e)
		}
	}
	for _, h := range holidays {
		s.holidays[h.dayNumber()] = struct{}{}
	}
	return s
}

// Location returns the zone the schedule is evaluated in (UTC for a nil
// schedule).
func (s *Schedule) Location() *time.Location {
	if s == nil {
		return time.UTC
	}
	return s.loc
}

// String describes the schedule for people:
// "Mon-Fri 09:00-18:00 America/New_York, 2 holidays".
func (s *Schedule) String() string {
	if s == nil {
		return "always open"
	}
	var b strings.Builder
	if len(s.entries) == 0 {
		b.WriteString("never open")
	}
	for i, e := range s.entries {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.String())
	}
	b.WriteString(" ")
	b.WriteString(s.loc.String())
	switch n := len(s.holidays); n {
	case 0:
	case 1:
		b.WriteString(", 1 holiday")
	default:
		fmt.Fprintf(&b, ", %d holidays", n)
	}
	return b.String()
}

// Open reports whether promotions may start at t. A holiday closes the
// whole local date (00:00-24:00); for a span that crosses midnight, the part
// after midnight belongs to the next date, so it is closed if THAT date is a
// holiday.
func (s *Schedule) Open(t time.Time) bool {
	if s == nil {
		return true
	}
	// Spans begin and end on whole seconds, so comparing t's whole seconds
	// (rounded down) with them gives the same answer as comparing t.
	u := t.Unix()
	today := s.dayOf(t)
	// A span that contains t started the day before (crossing midnight) or
	// today, or tomorrow when a clock set back across midnight shows today's
	// date again after tomorrow began.
	for d := today - 1; d <= today+1; d++ {
		wd := weekdayOf(d)
		for _, e := range s.entries {
			if !e.on(wd) || u < s.at(d, int(e.start)) {
				continue
			}
			endDay := d
			if e.crosses() {
				endDay = d + 1
			}
			if u >= s.at(endDay, int(e.end)) {
				continue
			}
			on := d
			if e.crosses() && u >= s.at(d+1, 0) {
				on = d + 1
			}
			if !s.holiday(on) {
				return true
			}
		}
	}
	return false
}

// NextOpen returns the first instant >= t at which the window is open (t
// itself if open now, otherwise an instant in the schedule's zone); ok is
// false if it does not open within about two years (searchDays local days),
// e.g. a schedule without entries. The instant is exactly the wall time a
// span starts, resolved as the package documentation describes for DST
// days, or the local midnight at which a holiday ends inside a span that
// crosses midnight.
//
// It looks only at the instants where the window can open, a few per local
// day: each entry's start on its days, and midnights that end a holiday.
func (s *Schedule) NextOpen(t time.Time) (next time.Time, ok bool) {
	if s == nil {
		return t, true
	}
	if len(s.entries) == 0 {
		return time.Time{}, false
	}
	if s.Open(t) {
		return t, true
	}
	after := t.Unix() // candidates are whole seconds; one equal to t's second is before t if t has a fraction
	if t.Nanosecond() != 0 {
		after++
	}
	today := s.dayOf(t)
	var buf [8]int64
	for d := today - 1; d <= today+searchDays; d++ {
		cands := buf[:0]
		holiday := s.holiday(d)
		if !holiday && s.holiday(d-1) {
			// The part after midnight of a span that started on the
			// holiday opens here.
			cands = append(cands, s.at(d, 0))
		}
		if !holiday {
			wd := weekdayOf(d)
			for _, e := range s.entries {
				if e.on(wd) {
					cands = append(cands, s.at(d, int(e.start)))
				}
			}
		}
		slices.Sort(cands)
		for _, c := range cands {
			if c >= after && s.Open(time.Unix(c, 0)) {
				return time.Unix(c, 0).In(s.loc), true
			}
		}
	}
	return time.Time{}, false
}

// NextClose returns the first instant > t at which an open window closes,
// in the schedule's zone: the end of a span, or the midnight a holiday
// starts. Spans that touch or overlap count as one. It returns the zero time
// and false if the window is not open at t or does not close within about
// two years (searchDays local days), e.g. "Daily 00:00-24:00" without
// holidays, and for a nil schedule.
func (s *Schedule) NextClose(t time.Time) (time.Time, bool) {
	if s == nil || !s.Open(t) {
		return time.Time{}, false
	}
	after := t.Unix()
	today := s.dayOf(t)
	var buf [8]int64
	for d := today - 1; d <= today+searchDays; d++ {
		cands := buf[:0]
		if s.holiday(d) {
			cands = append(cands, s.at(d, 0))
		}
		wd, yesterday := weekdayOf(d), weekdayOf(d-1)
		for _, e := range s.entries {
			if (!e.crosses() && e.on(wd)) || (e.crosses() && e.on(yesterday)) {
				cands = append(cands, s.at(d, int(e.end)))
			}
		}
		slices.Sort(cands)
		for _, c := range cands {
			if c > after && !s.Open(time.Unix(c, 0)) {
				return time.Unix(c, 0).In(s.loc), true
			}
		}
	}
	return time.Time{}, false
}

// holiday reports whether day number d is a holiday.
func (s *Schedule) holiday(d int64) bool {
	_, ok := s.holidays[d]
	return ok
}

// dayOf returns the day number of t's local date.
func (s *Schedule) dayOf(t time.Time) int64 {
	_, off := t.In(s.loc).Zone()
	return floorDiv(t.Unix()+int64(off), secondsPerDay)
}

// at returns, as Unix seconds, the first instant at which the zone's clock
// shows minute m (0..1440) of local day d, or a later time: the first of the
// two instants a fall-back day shows it, or the end of the gap for a time a
// spring-forward day skips.
func (s *Schedule) at(d int64, m int) int64 {
	wall := d*secondsPerDay + int64(m)*60 // the wall time, as if it were UTC
	date := dateOf(d)
	t := time.Date(date.Year, date.Month, date.Day, 0, m, 0, 0, s.loc)
	_, off := t.Zone()
	shown := t.Unix() + int64(off)
	switch {
	case shown == wall:
		// The clock may have shown this time earlier, in the zone period
		// before t's, if the clock went back in between.
		start, _ := t.ZoneBounds()
		if start.IsZero() {
			return t.Unix()
		}
		_, prev := start.Add(-time.Second).Zone()
		if earlier := wall - int64(prev); earlier < start.Unix() {
			return earlier
		}
		return t.Unix()
	case shown > wall:
		// A skipped time, placed after the gap: the gap ends where t's
		// zone period starts.
		if start, _ := t.ZoneBounds(); !start.IsZero() {
			return start.Unix()
		}
		return t.Unix()
	default:
		// A skipped time, placed before the gap: the gap starts where t's
		// zone period ends, and the clock shows a later time from then on.
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end.Unix()
		}
		return t.Unix()
	}
}
