package window

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// FuzzParseEntry checks that ParseEntry never panics, that every error
// names the entry, and that an entry it accepts reads back from its String
// form as an equal Entry.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{
		"Mon-Fri 09:00-18:00", "Daily 22:00-02:00", "Fri-Mon 00:00-24:00", "Mon,Wed,Fri 9:00-10:30",
		"mon - wed , fri 08:15 - 17:45", "Sunday 23:59-00:00", "Mon-Fry 09:00-18:00", "Mon 25:00-26:00",
		"Mon 09:00-09:00", "Daily,Mon 01:00-02:00", "", "9:00-10:00", "Tue", "Sat,Sun 24:00-01:00",
	} {
		f.Add(s)
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntry(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "window ") || !strings.Contains(err.Error(), "; write ") {
				t.Fatalf("error without the entry or the form: %v", err)
			}
			return
		}
		if e.days == 0 || e.start == e.end || e.start >= minutesPerDay || e.end == 0 || e.end > minutesPerDay {
			t.Fatalf("ParseEntry(%q) = %#v", s, e)
		}
		again, err := ParseEntry(e.String())
		if err != nil {
			t.Fatalf("ParseEntry(%q).String() = %q does not parse: %v", s, e.String(), err)
		}
		if again != e {
			t.Fatalf("ParseEntry(%q) = %#v, but its String %q parses as %#v", s, e, e.String(), again)
		}
		// Every accepted entry opens within a week in a zone with DST.
		sch := New(loc, []Entry{e}, nil)
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		next, ok := sch.NextOpen(at)
		if !ok || next.Sub(at) > 8*24*time.Hour || !sch.Open(next) {
			t.Fatalf("%s: NextOpen(%s) = %s, %v", e, at, next, ok)
		}
	})
}

// FuzzParseICal checks that ParseICal never panics, that its errors name a
// line, and that its dates are valid, sorted and distinct.
func FuzzParseICal(f *testing.F) {
	f.Add([]byte(realistic))
	f.Add([]byte(calEvent("DTSTART;VALUE=DATE:20280229", "DTEND;VALUE=DATE:20280302", "RRULE:FREQ=YEARLY;INTERVAL=3;COUNT=2", "EXDATE:20310229")))
	f.Add([]byte(calEvent("DTSTART;VALUE=DATE:20261224", "DURATION:P1W2DT0H")))
	f.Add([]byte(calEvent(`DTSTART;TZID="America/New_York":20261225T090000`, "RRULE:FREQ=YEARLY")))
	f.Add([]byte(ics("BEGIN:VCALENDAR", "BEGIN:VEVENT", "UID:a", "RECURRENCE-ID:20271218T000000Z", "DTSTART:20271217", "END:VEVENT", "END:VCALENDAR")))
	f.Add([]byte("BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:20261225\n"))
	f.Add([]byte(" x\r\n"))
	f.Add([]byte("BEGIN:VCALENDAR\r\nEND:VEVENT\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ds, err := ParseICal(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		for i, d := range ds {
			if _, err := ParseDate(d.String()); err != nil && d.Year >= 0 && d.Year <= 9999 {
				t.Fatalf("invalid date %v: %v", d, err)
			}
			if i > 0 && d.dayNumber() <= ds[i-1].dayNumber() {
				t.Fatalf("dates not sorted and distinct: %v", ds)
			}
		}
	})
}
