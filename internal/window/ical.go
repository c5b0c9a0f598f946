package window

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds that keep a broken or hostile file from costing much.
const (
	// yearlyRepeats is how many years after its first occurrence a
	// FREQ=YEARLY rule is expanded: the years DTSTART..DTSTART+10.
	yearlyRepeats = 10
	// maxEventDays bounds one all-day event: a longer one is a mistake in a
	// holidays file, and would close a window for more than a year.
	maxEventDays = 366
	// maxLine bounds one physical line of the file.
	maxLine = 1 << 20
)

// icalError is a ParseICal error; its text starts with the line number.
type icalError struct {
	line int
	msg  string
}

func (e *icalError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

func icalErrorf(line int, format string, args ...any) error {
	return &icalError{line: line, msg: fmt.Sprintf(format, args...)}
}

// ParseICal reads an iCalendar (RFC 5545) file and returns the dates of its
// all-day events, sorted and without repeats.
//
// An event is all-day when its DTSTART is a date: DTSTART;VALUE=DATE:YYYYMMDD,
// or an 8-digit DTSTART value. Events with a date-time DTSTART are not
// all-day and are ignored, as are events with STATUS:CANCELLED and events
// without a DTSTART. A multi-day all-day event (DTEND;VALUE=DATE, which is
// exclusive, or a DURATION in days or weeks) gives every day it covers, at
// most 366. Continuation lines (lines starting with a space or a tab) are
// unfolded; blank lines are skipped.
//
// Repeats: an RRULE with FREQ=YEARLY on an all-day event repeats the date
// yearly for the years DTSTART..DTSTART+10 only (the bound keeps the result
// finite: a file of yearly holidays must be refreshed within ten years),
// honouring INTERVAL, COUNT, UNTIL and EXDATE and skipping years without
// the date (February 29). Any other RRULE is not expanded and only the first
// occurrence is kept; that includes yearly rules with BYDAY, BYWEEKNO and
// similar parts that move the date from year to year ("the fourth Thursday
// of November"), which would otherwise give wrong dates. An event with a
// RECURRENCE-ID replaces the occurrence it names of the repeating event with
// the same UID.
//
// Malformed input (a file that does not start with BEGIN:VCALENDAR, a BEGIN
// without its END, an END without its BEGIN, a line that is not NAME:VALUE, a
// bad date) is an error whose text starts with the line number:
// "line 12: ...".
func ParseICal(r io.Reader) ([]Date, error) {
	lines, err := unfold(r)
	if err != nil {
		return nil, err
	}
	if len(lines) == 0 {
		return nil, icalErrorf(1, "the file is empty; an iCalendar file starts with BEGIN:VCALENDAR")
	}
	type component struct {
		name string
		line int
	}
	var stack []component
	var events []*event
	var ev *event // the VEVENT being read
	for i, l := range lines {
		if i == 0 && !strings.EqualFold(strings.TrimSpace(l.text), "BEGIN:VCALENDAR") {
			return nil, icalErrorf(l.num, "expected BEGIN:VCALENDAR, got %q; an iCalendar file starts with BEGIN:VCALENDAR", clip(l.text))
		}
		p, err := parseProperty(l)
		if err != nil {
			return nil, err
		}
		switch p.name {
		case "BEGIN":
			name := strings.ToUpper(strings.TrimSpace(p.value))
			switch {
			case name == "":
				return nil, icalErrorf(l.num, "BEGIN without a component name; write e.g. BEGIN:VEVENT")
			case len(stack) == 0 && name != "VCALENDAR":
				return nil, icalErrorf(l.num, "BEGIN:%s outside a calendar; components belong between BEGIN:VCALENDAR and END:VCALENDAR", name)
			case name == "VEVENT" && ev != nil:
				return nil, icalErrorf(ev.line, "BEGIN:VEVENT has no END:VEVENT before the next BEGIN:VEVENT at line %d; close every event with END:VEVENT", l.num)
			case name == "VEVENT":
				ev = &event{line: l.num}
			}
			stack = append(stack, component{name, l.num})
		case "END":
			name := strings.ToUpper(strings.TrimSpace(p.value))
			if len(stack) == 0 {
				return nil, icalErrorf(l.num, "END:%s without a BEGIN:%s before it", name, name)
			}
			top := stack[len(stack)-1]
			if top.name != name {
				return nil, icalErrorf(top.line, "BEGIN:%s has no END:%s (line %d ends %s instead); close every component with its own END", top.name, top.name, l.num, name)
			}
			stack = stack[:len(stack)-1]
			if name == "VEVENT" {
				if err := ev.finish(); err != nil {
					return nil, err
				}
				events = append(events, ev)
				ev = nil
			}
		default:
			if len(stack) == 0 {
				return nil, icalErrorf(l.num, "%s outside a calendar; properties belong between BEGIN:VCALENDAR and END:VCALENDAR", p.name)
			}
			// Properties of components inside an event (VALARM) are not
			// the event's.
			if ev != nil && stack[len(stack)-1].name == "VEVENT" {
				if err := ev.set(p); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return nil, icalErrorf(top.line, "BEGIN:%s has no END:%s; the file ends before the %s is closed", top.name, top.name, top.name)
	}
	return collect(events), nil
}

// line is one logical line of the file: continuation lines appended to it,
// numbered by its first physical line.
type line struct {
	num  int
	text string
}

// unfold reads the file's logical lines, skipping blank ones.
func unfold(r io.Reader) ([]line, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	var lines []line
	var cur strings.Builder // text of the last logical line, while it may continue
	flush := func() {
		if n := len(lines); n > 0 && cur.Len() > 0 {
			lines[n-1].text = cur.String()
			cur.Reset()
		}
	}
	num := 0
	for sc.Scan() {
		num++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if num == 1 {
			text = strings.TrimPrefix(text, "\uFEFF")
		}
		if text != "" && (text[0] == ' ' || text[0] == '\t') {
			if len(lines) == 0 {
				return nil, icalErrorf(num, "a continuation line (starting with a space or tab) with no line before it; remove the leading whitespace")
			}
			if cur.Len() == 0 {
				cur.WriteString(lines[len(lines)-1].text)
			}
			cur.WriteString(text[1:])
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		flush()
		lines = append(lines, line{num: num, text: text})
	}
	flush()
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return nil, icalErrorf(num+1, "the line is longer than %d bytes; fold long lines (RFC 5545 section 3.1)", maxLine)
	} else if err != nil {
		return nil, fmt.Errorf("reading the iCalendar file: %w", err)
	}
	return lines, nil
}

// property is one content line: NAME;PARAM=VALUE;...:VALUE.
type property struct {
	line   int
	name   string            // upper case
	params map[string]string // upper-case names; values unquoted
	value  string
}

// parseProperty splits a logical line into its parts.
func parseProperty(l line) (property, error) {
	s := l.text
	bad := func() (property, error) {
		return property{}, icalErrorf(l.num, "expected a property such as DTSTART;VALUE=DATE:20261225, got %q", clip(s))
	}
	i := strings.IndexAny(s, ";:")
	if i <= 0 {
		return bad()
	}
	p := property{line: l.num, name: strings.ToUpper(s[:i])}
	for _, r := range p.name {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return bad()
		}
	}
	for s[i] == ';' {
		// A parameter runs to the next ';' or ':' outside double quotes.
		j, quoted := i+1, false
		for ; j < len(s) && (quoted || (s[j] != ';' && s[j] != ':')); j++ {
			if s[j] == '"' {
				quoted = !quoted
			}
		}
		if j == len(s) {
			return bad()
		}
		name, value, _ := strings.Cut(s[i+1:j], "=")
		if p.params == nil {
			p.params = map[string]string{}
		}
		p.params[strings.ToUpper(strings.TrimSpace(name))] = strings.Trim(value, `"`)
		i = j
	}
	p.value = s[i+1:]
	return p, nil
}

// clip shortens text for a message.
func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

// event is one VEVENT as far as holidays are concerned.
type event struct {
	line       int // of BEGIN:VEVENT
	uid        string
	start      *dateValue // DTSTART
	end        *dateValue // DTEND
	duration   *property
	rrule      string
	exdates    []int64    // day numbers
	recurrence *dateValue // RECURRENCE-ID
	cancelled  bool

	// Set by finish for all-day events.
	allDay bool
	starts []int64 // day numbers of the occurrences' first days
	days   int     // length of each occurrence in days
}

// dateValue is a DTSTART, DTEND or RECURRENCE-ID value.
type dateValue struct {
	line  int
	day   int64 // day number of the date, or of a date-time's date
	timed bool  // a date-time rather than a date
}

// set records a property of the event.
func (ev *event) set(p property) error {
	var err error
	switch p.name {
	case "UID":
		ev.uid = strings.TrimSpace(p.value)
	case "STATUS":
		ev.cancelled = strings.EqualFold(strings.TrimSpace(p.value), "CANCELLED")
	case "DTSTART":
		if ev.start != nil {
			return icalErrorf(p.line, "a second DTSTART in the event that starts at line %d (the first is at line %d); keep one", ev.line, ev.start.line)
		}
		ev.start, err = parseDateValue(p)
	case "DTEND":
		if ev.end != nil {
			return icalErrorf(p.line, "a second DTEND in the event that starts at line %d (the first is at line %d); keep one", ev.line, ev.end.line)
		}
		ev.end, err = parseDateValue(p)
	case "DURATION":
		ev.duration = &p
	case "RRULE":
		if ev.rrule == "" {
			ev.rrule = p.value
		}
	case "RECURRENCE-ID":
		ev.recurrence, err = parseDateValue(p)
	case "EXDATE":
		for v := range strings.SplitSeq(p.value, ",") {
			var d *dateValue
			q := p
			q.value = v
			if d, err = parseDateValue(q); err != nil {
				return err
			}
			ev.exdates = append(ev.exdates, d.day)
		}
	}
	return err
}

// parseDateValue parses a date (YYYYMMDD) or a date-time
// (YYYYMMDDTHHMMSS, optionally with Z); VALUE=DATE requires a date.
func parseDateValue(p property) (*dateValue, error) {
	v := strings.TrimSpace(p.value)
	kind := strings.ToUpper(p.params["VALUE"])
	datePart, timePart, timed := strings.Cut(v, "T")
	switch {
	case kind == "DATE" && timed:
		return nil, icalErrorf(p.line, "%s;VALUE=DATE has the date-time %q; write a date as YYYYMMDD, e.g. 20261225", p.name, clip(v))
	case timed && (len(timePart) < 6 || !digits(timePart[:6])):
		return nil, icalErrorf(p.line, "invalid date-time %q in %s; write YYYYMMDDTHHMMSS, e.g. 20261225T090000", clip(v), p.name)
	case len(datePart) != 8 || !digits(datePart):
		return nil, icalErrorf(p.line, "invalid date %q in %s; write a date as YYYYMMDD, e.g. 20261225", clip(v), p.name)
	}
	y, _ := strconv.Atoi(datePart[:4])
	m, _ := strconv.Atoi(datePart[4:6])
	d, _ := strconv.Atoi(datePart[6:])
	if msg := checkDate(y, m, d); msg != "" {
		return nil, icalErrorf(p.line, "invalid date %q in %s: %s; write a date as YYYYMMDD, e.g. 20261225", clip(v), p.name, msg)
	}
	return &dateValue{line: p.line, day: Date{y, time.Month(m), d}.dayNumber(), timed: timed}, nil
}

// finish works out the all-day occurrences of a complete event.
func (ev *event) finish() error {
	if ev.start == nil || ev.start.timed {
		return nil // no date, or not all-day
	}
	ev.allDay = true
	ev.days = 1
	switch {
	case ev.end != nil && ev.end.timed:
		return icalErrorf(ev.end.line, "DTEND is a date-time but DTSTART (line %d) is a date; write DTEND;VALUE=DATE:YYYYMMDD, the day after the last day of the event", ev.start.line)
	case ev.end != nil && ev.end.day < ev.start.day:
		return icalErrorf(ev.end.line, "DTEND %s is before DTSTART %s (line %d); DTEND is the day after the last day of the event", dateOf(ev.end.day), dateOf(ev.start.day), ev.start.line)
	case ev.end != nil:
		ev.days = max(1, int(min(ev.end.day-ev.start.day, maxEventDays+1)))
	case ev.duration != nil:
		n, ok := durationDays(ev.duration.value)
		if !ok {
			return icalErrorf(ev.duration.line, "DURATION %q of an all-day event must be whole days or weeks, e.g. P1D or P2W", clip(ev.duration.value))
		}
		ev.days = max(1, n)
	}
	if ev.days > maxEventDays {
		return icalErrorf(ev.line, "the all-day event lasts more than %d days, which is not a holiday; check its DTEND or DURATION", maxEventDays)
	}
	ev.starts = yearly(ev.start.day, ev.rrule)
	ev.starts = slices.DeleteFunc(ev.starts, func(d int64) bool { return slices.Contains(ev.exdates, d) })
	return nil
}

// durationDays parses a DURATION of whole days or weeks: P3D, P2W, P1DT0H.
// It returns false for other durations.
func durationDays(v string) (int, bool) {
	v = strings.TrimPrefix(strings.TrimSpace(v), "+")
	rest, ok := strings.CutPrefix(v, "P")
	if !ok || rest == "" {
		return 0, false
	}
	days := 0
	for rest != "" && rest[0] != 'T' {
		i := 0
		for i < len(rest) && i < 4 && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, false
		}
		n, _ := strconv.Atoi(rest[:i])
		switch rest[i] {
		case 'W':
			days += 7 * n
		case 'D':
			days += n
		default:
			return 0, false
		}
		rest = rest[i+1:]
	}
	// A time part is allowed only if it adds nothing: P1DT0H.
	return days, strings.Trim(rest, "T0HMS") == ""
}

// yearly returns the first days of the occurrences of an event that starts
// on day first: first itself, and for a FREQ=YEARLY rule that keeps the
// date, the same date in the years after it, up to yearlyRepeats years.
func yearly(first int64, rrule string) []int64 {
	starts := []int64{first}
	parts := map[string]string{}
	for part := range strings.SplitSeq(rrule, ";") {
		k, v, _ := strings.Cut(part, "=")
		parts[strings.ToUpper(strings.TrimSpace(k))] = strings.ToUpper(strings.TrimSpace(v))
	}
	if parts["FREQ"] != "YEARLY" {
		return starts
	}
	date := dateOf(first)
	interval, count, until := 1, -1, int64(1<<62)
	for k, v := range parts {
		n, err := strconv.Atoi(v)
		switch k {
		case "FREQ", "WKST":
		case "INTERVAL":
			if err != nil || n < 1 {
				return starts
			}
			interval = n
		case "COUNT":
			if err != nil || n < 1 {
				return starts
			}
			count = n
		case "UNTIL":
			d, err := parseDateValue(property{name: "UNTIL", value: v})
			if err != nil {
				return starts
			}
			until = d.day
		case "BYMONTH":
			if err != nil || n != int(date.Month) {
				return starts
			}
		case "BYMONTHDAY":
			if err != nil || n != date.Day {
				return starts
			}
		default:
			return starts // BYDAY, BYWEEKNO, BYYEARDAY, BYSETPOS... move the date
		}
	}
	for y := date.Year + interval; y <= date.Year+yearlyRepeats && (count < 0 || len(starts) < count); y += interval {
		if date.Day > daysIn(y, date.Month) {
			continue // February 29 in a common year
		}
		d := Date{y, date.Month, date.Day}.dayNumber()
		if d > until {
			break
		}
		starts = append(starts, d)
	}
	return starts
}

// collect returns the days the events cover, sorted, without repeats.
func collect(events []*event) []Date {
	// Occurrences replaced by an event with a RECURRENCE-ID, by UID.
	replaced := map[string][]int64{}
	for _, ev := range events {
		if ev.recurrence != nil {
			replaced[ev.uid] = append(replaced[ev.uid], ev.recurrence.day)
		}
	}
	seen := map[int64]bool{}
	var days []int64
	for _, ev := range events {
		if !ev.allDay || ev.cancelled {
			continue
		}
		for _, start := range ev.starts {
			if ev.recurrence == nil && ev.rrule != "" && slices.Contains(replaced[ev.uid], start) {
				continue
			}
			for d := start; d < start+int64(ev.days); d++ {
				if !seen[d] {
					seen[d] = true
					days = append(days, d)
				}
			}
		}
	}
	slices.Sort(days)
	dates := make([]Date, len(days))
	for i, d := range days {
		dates[i] = dateOf(d)
	}
	return dates
}
