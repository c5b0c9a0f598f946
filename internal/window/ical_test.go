package window

import (
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// ics joins lines with CRLF, as RFC 5545 asks; line n of the file is
// lines[n-1].
func ics(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

// dates parses "2026-12-25" texts.
func dates(t *testing.T, texts ...string) []Date {
	t.Helper()
	ds := make([]Date, 0, len(texts))
	for _, s := range texts {
		d, err := ParseDate(s)
		require.NoError(t, err)
		ds = append(ds, d)
	}
	return ds
}

// realistic is a calendar like those exported by calendar programs.
var realistic = ics(
	"BEGIN:VCALENDAR",
	"VERSION:2.0",
	"PRODID:-//Acme//Release Holidays//EN",
	"CALSCALE:GREGORIAN",
	"X-WR-CALNAME:Release freeze days",
	"BEGIN:VTIMEZONE",
	"TZID:America/New_York",
	"BEGIN:STANDARD",
	"DTSTART:19701101T020000",
	"TZOFFSETFROM:-0400",
	"TZOFFSETTO:-0500",
	"RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU",
	"END:STANDARD",
	"END:VTIMEZONE",
	"BEGIN:VEVENT",
	"UID:christmas@acme.example",
	"DTSTAMP:20260101T120000Z",
	"DTSTART;VALUE=DATE:20261225",
	"DTEND;VALUE=DATE:20261226",
	"RRULE:FREQ=YEARLY",
	"SUMMARY:Christmas Day: no promotions to production on this day or the da",
	" ys around it unless the release manager says so",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:freeze@acme.example",
	"DTSTART;VALUE=DATE:20261228",
	"DTEND;VALUE=DATE:20261231",
	"SUMMARY:Year-end freeze",
	"BEGIN:VALARM",
	"ACTION:DISPLAY",
	"DESCRIPTION:Freeze starts",
	"TRIGGER:-P1D",
	"END:VALARM",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:planning@acme.example",
	"DTSTART;TZID=America/New_York:20261102T090000",
	"DTEND;TZID=America/New_York:20261102T100000",
	"SUMMARY:Planning (a timed meeting, not a holiday)",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:july4@acme.example",
	"DTSTART:20260704",
	"SUMMARY:Independence Day (a date without VALUE=DATE)",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:newyear@acme.example",
	"DTSTART;VALUE=DA",
	"\tTE:20260101",
	"SUMMARY:New Year's Day (a folded property)",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:thanksgiving@acme.example",
	"DTSTART;VALUE=DATE:20261126",
	"RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=4TH",
	"SUMMARY:Thanksgiving (moves every year: only the first is kept)",
	"END:VEVENT",
	"BEGIN:VEVENT",
	"UID:payday@acme.example",
	"DTSTART;VALUE=DATE:20260115",
	"RRULE:FREQ=MONTHLY",
	"SUMMARY:A monthly rule (only the first is kept)",
	"END:VEVENT",
	"END:VCALENDAR",
)

func TestParseICal(t *testing.T) {
	t.Parallel()
	want := dates(t,
		"2026-01-01", "2026-01-15", "2026-07-04", "2026-11-26",
		"2026-12-25", "2026-12-28", "2026-12-29", "2026-12-30",
		"2027-12-25", "2028-12-25", "2029-12-25", "2030-12-25", "2031-12-25",
		"2032-12-25", "2033-12-25", "2034-12-25", "2035-12-25", "2036-12-25",
	)
	for name, src := range map[string]string{
		"CRLF":             realistic,
		"LF":               strings.ReplaceAll(realistic, "\r\n", "\n"),
		"BOM":              "\uFEFF" + realistic,
		"one byte":         realistic, // read one byte at a time, below
		"no final newline": strings.TrimSuffix(realistic, "\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := strings.NewReader(src)
			var got []Date
			var err error
			if name == "one byte" {
				got, err = ParseICal(iotest.OneByteReader(r))
			} else {
				got, err = ParseICal(r)
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		})
	}
}

// calEvent wraps event lines in a calendar.
func calEvent(lines ...string) string {
	all := append([]string{"BEGIN:VCALENDAR", "VERSION:2.0", "BEGIN:VEVENT", "UID:x@example"}, lines...)
	return ics(append(all, "END:VEVENT", "END:VCALENDAR")...)
}

func TestParseICalEvents(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want []string
	}{
		{"yearly with count", calEvent("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY;COUNT=3"),
			[]string{"2026-12-25", "2027-12-25", "2028-12-25"}},
		{"yearly every other year", calEvent("DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=YEARLY;INTERVAL=2"),
			[]string{"2026-01-01", "2028-01-01", "2030-01-01", "2032-01-01", "2034-01-01", "2036-01-01"}},
		{"yearly until", calEvent("DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=YEARLY;UNTIL=20280101"),
			[]string{"2026-01-01", "2027-01-01", "2028-01-01"}},
		{"yearly until a date-time", calEvent("DTSTART;VALUE=DATE:20260101", "RRULE:FREQ=YEARLY;UNTIL=20271231T235959Z"),
			[]string{"2026-01-01", "2027-01-01"}},
		{"yearly with the same month and day", calEvent("DTSTART;VALUE=DATE:20260704", "RRULE:FREQ=YEARLY;BYMONTH=7;BYMONTHDAY=4;COUNT=2"),
			[]string{"2026-07-04", "2027-07-04"}},
		{"yearly with exdate", calEvent("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY;COUNT=4", "EXDATE;VALUE=DATE:20271225,20281225"),
			[]string{"2026-12-25", "2029-12-25"}},
		{"yearly on february 29", calEvent("DTSTART;VALUE=DATE:20280229", "RRULE:FREQ=YEARLY"),
			[]string{"2028-02-29", "2032-02-29", "2036-02-29"}},
		{"yearly multi-day", calEvent("DTSTART;VALUE=DATE:20261224", "DTEND;VALUE=DATE:20261226", "RRULE:FREQ=YEARLY;COUNT=2"),
			[]string{"2026-12-24", "2026-12-25", "2027-12-24", "2027-12-25"}},
		{"yearly with a bad count keeps the first", calEvent("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY;COUNT=lots"),
			[]string{"2026-12-25"}},
		{"weekly keeps the first", calEvent("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=WEEKLY"),
			[]string{"2026-12-25"}},
		{"duration in days", calEvent("DTSTART;VALUE=DATE:20261224", "DURATION:P3D"),
			[]string{"2026-12-24", "2026-12-25", "2026-12-26"}},
		{"duration in weeks", calEvent("DTSTART;VALUE=DATE:20261221", "DURATION:P1W"),
			[]string{"2026-12-21", "2026-12-22", "2026-12-23", "2026-12-24", "2026-12-25", "2026-12-26", "2026-12-27"}},
		{"dtend equal to dtstart is one day", calEvent("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261225"),
			[]string{"2026-12-25"}},
		{"cancelled", calEvent("DTSTART;VALUE=DATE:20261225", "STATUS:CANCELLED"), nil},
		{"timed in UTC", calEvent("DTSTART:20261225T000000Z", "DTEND:20261226T000000Z"), nil},
		{"timed with VALUE=DATE-TIME", calEvent("DTSTART;VALUE=DATE-TIME:20261225T000000"), nil},
		{"no dtstart", calEvent("SUMMARY:nothing"), nil},
		{"quoted parameter with a colon", calEvent(`DTSTART;X-NOTE="a:b;c";VALUE=DATE:20261225`),
			[]string{"2026-12-25"}},
		{"lower-case names", calEvent("dtstart;value=date:20261225"), []string{"2026-12-25"}},
		{"empty calendar", ics("BEGIN:VCALENDAR", "END:VCALENDAR"), nil},
		{"blank lines", "BEGIN:VCALENDAR\r\n\r\nEND:VCALENDAR\r\n\r\n", nil},
		{"two calendars", ics("BEGIN:VCALENDAR", "BEGIN:VEVENT", "DTSTART:20260101", "END:VEVENT", "END:VCALENDAR",
			"BEGIN:VCALENDAR", "BEGIN:VEVENT", "DTSTART:20260102", "END:VEVENT", "END:VCALENDAR"),
			[]string{"2026-01-01", "2026-01-02"}},
		{"moved and cancelled occurrences", ics(
			"BEGIN:VCALENDAR",
			"BEGIN:VEVENT", "UID:party", "DTSTART;VALUE=DATE:20261218", "RRULE:FREQ=YEARLY;COUNT=3", "END:VEVENT",
			"BEGIN:VEVENT", "UID:party", "RECURRENCE-ID;VALUE=DATE:20271218", "DTSTART;VALUE=DATE:20271217", "END:VEVENT",
			"BEGIN:VEVENT", "UID:party", "RECURRENCE-ID;VALUE=DATE:20281218", "DTSTART;VALUE=DATE:20281218", "STATUS:CANCELLED", "END:VEVENT",
			"END:VCALENDAR"),
			[]string{"2026-12-18", "2027-12-17"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseICal(strings.NewReader(tc.src))
			require.NoError(t, err)
			if tc.want == nil {
				require.Empty(t, got)
				return
			}
			require.Equal(t, dates(t, tc.want...), got)
		})
	}
}

func TestParseICalErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		src  string
		want string // the error text starts with it
	}{
		{"empty", "", "line 1: the file is empty; an iCalendar file starts with BEGIN:VCALENDAR"},
		{"not a calendar", "Christmas 2026-12-25\n", `line 1: expected BEGIN:VCALENDAR, got "Christmas 2026-12-25"`},
		{"event without end", ics(
			"BEGIN:VCALENDAR",
			"BEGIN:VEVENT",
			"DTSTART;VALUE=DATE:20261225",
		), "line 2: BEGIN:VEVENT has no END:VEVENT; the file ends before the VEVENT is closed"},
		{"event without end before the next", ics(
			"BEGIN:VCALENDAR",
			"BEGIN:VEVENT",
			"DTSTART;VALUE=DATE:20261225",
			"BEGIN:VEVENT",
			"DTSTART;VALUE=DATE:20261226",
			"END:VEVENT",
			"END:VCALENDAR",
		), "line 2: BEGIN:VEVENT has no END:VEVENT before the next BEGIN:VEVENT at line 4"},
		{"calendar ends inside an event", ics(
			"BEGIN:VCALENDAR",
			"BEGIN:VEVENT",
			"DTSTART;VALUE=DATE:20261225",
			"END:VCALENDAR",
		), "line 2: BEGIN:VEVENT has no END:VEVENT (line 4 ends VCALENDAR instead)"},
		{"end without begin", ics(
			"BEGIN:VCALENDAR",
			"END:VCALENDAR",
			"END:VEVENT",
		), "line 3: END:VEVENT without a BEGIN:VEVENT before it"},
		{"property after the calendar", ics(
			"BEGIN:VCALENDAR",
			"END:VCALENDAR",
			"DTSTART:20261225",
		), "line 3: DTSTART outside a calendar"},
		{"bad month", calEvent("DTSTART;VALUE=DATE:20261301"), `line 5: invalid date "20261301" in DTSTART: there is no month 13`},
		{"bad day", calEvent("DTSTART;VALUE=DATE:20260230"), `line 5: invalid date "20260230" in DTSTART: February 2026 has days 1 to 28`},
		{"short date", calEvent("DTSTART;VALUE=DATE:2026122"), `line 5: invalid date "2026122" in DTSTART; write a date as YYYYMMDD`},
		{"date-time for VALUE=DATE", calEvent("DTSTART;VALUE=DATE:20261225T090000"), `line 5: DTSTART;VALUE=DATE has the date-time "20261225T090000"`},
		{"bad date-time", calEvent("DTSTART:20261225T9"), `line 5: invalid date-time "20261225T9" in DTSTART`},
		{"garbage date", calEvent("DTSTART:Christmas"), `line 5: invalid date "Christmas" in DTSTART`},
		{"bad dtend", calEvent("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261232"), `line 6: invalid date "20261232" in DTEND`},
		{"bad exdate", calEvent("DTSTART;VALUE=DATE:20261225", "RRULE:FREQ=YEARLY", "EXDATE;VALUE=DATE:20271225,2028"), `line 7: invalid date "2028" in EXDATE`},
		{"dtend before dtstart", calEvent("DTSTART;VALUE=DATE:20261225", "DTEND;VALUE=DATE:20261224"), "line 6: DTEND 2026-12-24 is before DTSTART 2026-12-25 (line 5)"},
		{"timed dtend", calEvent("DTSTART;VALUE=DATE:20261225", "DTEND:20261226T000000"), "line 6: DTEND is a date-time but DTSTART (line 5) is a date"},
		{"event too long", calEvent("DTSTART;VALUE=DATE:20260101", "DTEND;VALUE=DATE:20280101"), "line 3: the all-day event lasts more than 366 days"},
		{"bad duration", calEvent("DTSTART;VALUE=DATE:20261225", "DURATION:PT5H"), `line 6: DURATION "PT5H" of an all-day event must be whole days or weeks`},
		{"two dtstarts", calEvent("DTSTART;VALUE=DATE:20261225", "DTSTART;VALUE=DATE:20261226"), "line 6: a second DTSTART in the event that starts at line 3 (the first is at line 5)"},
		{"line without a colon", calEvent("SUMMARY Christmas"), `line 5: expected a property such as DTSTART;VALUE=DATE:20261225, got "SUMMARY Christmas"`},
		{"unterminated quote", calEvent(`DTSTART;X="a:20261225`), "line 5: expected a property"},
		{"continuation first", " BEGIN:VCALENDAR\r\n", "line 1: a continuation line"},
		{"begin without name", ics("BEGIN:VCALENDAR", "BEGIN:"), "line 2: BEGIN without a component name"},
		{"folded error line", ics("BEGIN:VCALENDAR", "BEGIN:VEVENT", "DTSTART;VALUE=DATE:2026", " 1399", "END:VEVENT", "END:VCALENDAR"),
			`line 3: invalid date "20261399" in DTSTART`},
		{"too long a line", "BEGIN:VCALENDAR\r\nX:" + strings.Repeat("a", maxLine) + "\r\n", "line 2: the line is longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseICal(strings.NewReader(tc.src))
			require.Error(t, err)
			require.Nil(t, got)
			require.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q\nwant %q...", err, tc.want)
		})
	}
}

func TestParseICalReadError(t *testing.T) {
	t.Parallel()
	_, err := ParseICal(iotest.ErrReader(iotest.ErrTimeout))
	require.ErrorIs(t, err, iotest.ErrTimeout)
}

func TestDurationDays(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]int{"P1D": 1, "P2W": 14, "P1W2D": 9, "+P3D": 3, "P1DT0H": 1, "PT0S": 0} {
		got, ok := durationDays(in)
		require.True(t, ok, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "P", "1D", "PT1H", "P1DT2H", "P-1D", "P1Y", "P12345D", "PD"} {
		_, ok := durationDays(in)
		require.False(t, ok, in)
	}
}
