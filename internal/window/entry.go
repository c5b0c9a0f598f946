package window

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Messages that say what form is expected; every parse error ends with one.
const (
	entryForm = "write DAYS HH:MM-HH:MM, e.g. Mon-Fri 09:00-18:00 or Daily 22:00-02:00"
	daysForm  = "write days as Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, a list like Mon,Wed,Fri, or Daily"
	hoursForm = "write the hours as HH:MM-HH:MM in 24-hour time, e.g. Mon-Fri 09:00-18:00 (24:00 may end a span; an end before the start crosses midnight)"
)

// minutesPerDay is the length of a wall-clock day; 24:00 is minute 1440.
const minutesPerDay = 24 * 60

// allDays has a bit set for every weekday.
const allDays = 1<<7 - 1

// Entry is one allowed span, e.g. "Mon-Fri 09:00-18:00".
//
// The days name where a span starts: "Fri 22:00-02:00" is open from Friday
// 22:00 to Saturday 02:00. Entry values are comparable with ==, and two
// entries that mean the same are equal (an end of 00:00 is stored as 24:00).
type Entry struct {
	days  uint8  // bit w set when the span starts on time.Weekday(w)
	start uint16 // minute of the day the span starts, 0..1439
	end   uint16 // minute of the day it ends, 1..1440; less than start when it crosses midnight
}

// crosses reports whether the span ends on the day after it starts.
func (e Entry) crosses() bool { return e.end < e.start }

// on reports whether the span starts on weekday wd.
func (e Entry) on(wd time.Weekday) bool { return e.days&(1<<uint(wd)) != 0 }

// dayNames maps the accepted spellings, lower case, to weekdays.
var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// ParseEntry parses one allow entry. Forms: "DAYS HH:MM-HH:MM" where DAYS
// is a day ("Mon"), a range ("Mon-Fri", wrapping ranges like "Fri-Mon"
// allowed), a comma list ("Mon,Wed,Fri", items may be ranges: "Mon-Wed,Fri"),
// or "Daily". Day names are the English 3-letter abbreviations,
// case-insensitive (full names like "Monday" also accepted). Times are 24h
// HH:MM; a one-digit hour ("9:00") is accepted too, minutes always have two
// digits; 24:00 is allowed as an end. An end earlier than the start means the
// span crosses midnight: "Fri 22:00-02:00" is open from Friday 22:00 to
// Saturday 02:00 (the days name where the span STARTS); an end of 00:00 is
// the same as 24:00. start == end is an error. Spaces around "-" and ","
// are allowed ("Mon - Fri 09:00 - 18:00").
//
// Errors name the entry and the expected form, e.g.
//
//	window "Mon-Fry 09:00-18:00": unknown day "Fry"; write days as Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, a list like Mon,Wed,Fri, or Daily
func ParseEntry(s string) (Entry, error) {
	fail := func(format string, args ...any) (Entry, error) {
		return Entry{}, fmt.Errorf("window %q: %s", s, fmt.Sprintf(format, args...))
	}
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return fail("the entry is empty; %s", entryForm)
	}
	// The hours start at the first word that starts with a digit; day names
	// never do.
	split := len(fields)
	for i, f := range fields {
		if f[0] >= '0' && f[0] <= '9' {
			split = i
			break
		}
	}
	daysText := strings.Join(fields[:split], " ")
	hoursText := strings.Join(fields[split:], "")
	if daysText == "" {
		return fail("the days are missing; %s", entryForm)
	}
	days, dayErr := parseDays(daysText)
	if hoursText == "" {
		if dayErr != "" {
			return fail("expected days and hours; %s", entryForm)
		}
		return fail("the hours are missing; %s", entryForm)
	}
	if dayErr != "" {
		return fail("%s; %s", dayErr, daysForm)
	}
	from, to, ok := strings.Cut(hoursText, "-")
	if !ok || strings.Contains(to, "-") {
		return fail("the hours %q are not a span of two times; %s", hoursText, hoursForm)
	}
	start, err := parseClock(from, false)
	if err != "" {
		return fail("%s; %s", err, hoursForm)
	}
	end, err := parseClock(to, true)
	if err != "" {
		return fail("%s; %s", err, hoursForm)
	}
	if start == end {
		return fail("the span starts and ends at %s, so it is never open; write an end different from the start, e.g. %s 09:00-18:00, or 00:00-24:00 for whole days", clock(start), daysText)
	}
	if end == 0 {
		end = minutesPerDay // 22:00-00:00 is 22:00-24:00
	}
	return Entry{days: days, start: uint16(start), end: uint16(end)}, nil
}

// parseDays parses the DAYS part of an entry. It returns a message saying
// what is wrong, or "".
func parseDays(s string) (uint8, string) {
	if strings.EqualFold(strings.TrimSpace(s), "daily") {
		return allDays, ""
	}
	var days uint8
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return 0, fmt.Sprintf("the day list %q has an empty item", s)
		}
		if strings.EqualFold(item, "daily") {
			return 0, `"Daily" cannot be combined with other days; write Daily alone`
		}
		first, last, isRange := strings.Cut(item, "-")
		first, last = strings.TrimSpace(first), strings.TrimSpace(last)
		from, ok := dayNames[strings.ToLower(first)]
		if !ok {
			return 0, fmt.Sprintf("unknown day %q", first)
		}
		if !isRange {
			days |= 1 << uint(from)
			continue
		}
		if strings.Contains(last, "-") {
			return 0, fmt.Sprintf("the day range %q has more than two ends", item)
		}
		to, ok := dayNames[strings.ToLower(last)]
		if !ok {
			return 0, fmt.Sprintf("unknown day %q", last)
		}
		// Ranges may wrap around the end of the week: Fri-Mon.
		for d := from; ; d = (d + 1) % 7 {
			days |= 1 << uint(d)
			if d == to {
				break
			}
		}
	}
	return days, ""
}

// parseClock parses H:MM or HH:MM into a minute of the day. 24:00 is
// accepted only when isEnd. It returns a message saying what is wrong, or "".
func parseClock(s string, isEnd bool) (int, string) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 || !digits(hh) || !digits(mm) {
		return 0, fmt.Sprintf("invalid time %q", s)
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	switch {
	case m > 59:
		return 0, fmt.Sprintf("invalid time %q: minutes go from 00 to 59", s)
	case h == 24 && m == 0 && isEnd:
		return minutesPerDay, ""
	case h == 24 && m == 0:
		return 0, fmt.Sprintf("invalid start time %q: 24:00 can only end a span; start at 00:00", s)
	case h > 23:
		return 0, fmt.Sprintf("invalid time %q: hours go from 00 to 23 (24:00 only as an end)", s)
	}
	return h*60 + m, ""
}

// digits reports whether s is all ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// clock formats a minute of the day as HH:MM; 1440 is 24:00.
func clock(m int) string { return fmt.Sprintf("%02d:%02d", m/60, m%60) }

// shortDays are the day names String writes, Monday first.
var shortDays = [7]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// String returns the entry in the canonical form ParseEntry reads back to
// an equal Entry: "Mon-Fri 09:00-18:00", "Daily 22:00-02:00",
// "Mon,Wed,Fri 10:00-11:00", "Fri-Mon 00:00-24:00". The zero Entry, which
// ParseEntry never returns, is written as "never".
func (e Entry) String() string {
	if e.days == 0 || e.start == e.end {
		return "never"
	}
	return e.dayString() + " " + clock(int(e.start)) + "-" + clock(int(e.end))
}

// dayString writes the days as runs of consecutive days, Monday first, a
// run that wraps around Sunday being written as one range (Fri-Mon).
func (e Entry) dayString() string {
	if e.days == allDays {
		return "Daily"
	}
	// has reports whether the i-th day counting from Monday is set.
	has := func(i int) bool { return e.on(time.Weekday((i + 1) % 7)) }
	// Start at the first day, from Monday, that begins a run.
	first := 0
	for i := range 7 {
		if has(i) && !has((i+6)%7) {
			first = i
			break
		}
	}
	var parts []string
	for i := 0; i < 7; {
		d := (first + i) % 7
		if !has(d) {
			i++
			continue
		}
		n := 1
		for i+n < 7 && has((first+i+n)%7) {
			n++
		}
		last := (d + n - 1) % 7
		switch n {
		case 1:
			parts = append(parts, shortDays[d])
		case 2:
			parts = append(parts, shortDays[d], shortDays[last])
		default:
			parts = append(parts, shortDays[d]+"-"+shortDays[last])
		}
		i += n
	}
	return strings.Join(parts, ",")
}
