package window

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseEntry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		want string // the canonical form, String()
	}{
		{"Mon-Fri 09:00-18:00", "Mon-Fri 09:00-18:00"},
		{"mon-FRI 9:00-18:00", "Mon-Fri 09:00-18:00"},
		{"Monday-Friday 09:00-18:00", "Mon-Fri 09:00-18:00"},
		{"  Mon - Fri   09:00 - 18:00 ", "Mon-Fri 09:00-18:00"},
		{"Sat 10:00-11:00", "Sat 10:00-11:00"},
		{"Mon,Wed,Fri 10:00-11:00", "Mon,Wed,Fri 10:00-11:00"},
		{"Mon, Wed ,Fri 10:00-11:00", "Mon,Wed,Fri 10:00-11:00"},
		{"Mon-Wed,Fri 10:00-11:00", "Mon-Wed,Fri 10:00-11:00"},
		{"Sun,Sat 10:00-14:00", "Sat,Sun 10:00-14:00"},
		{"Fri-Mon 00:00-24:00", "Fri-Mon 00:00-24:00"},
		{"Sun,Mon,Tue 08:00-09:00", "Sun-Tue 08:00-09:00"},
		{"Mon,Mon 10:00-11:00", "Mon 10:00-11:00"},
		{"Mon-Mon 10:00-11:00", "Mon 10:00-11:00"},
		{"Daily 22:00-02:00", "Daily 22:00-02:00"},
		{"DAILY 22:00-00:00", "Daily 22:00-24:00"},
		{"daily 00:00-24:00", "Daily 00:00-24:00"},
		{"Mon-Sun 08:00-09:00", "Daily 08:00-09:00"},
		{"Tue-Mon 08:00-09:00", "Daily 08:00-09:00"},
		{"Fri 22:00-02:00", "Fri 22:00-02:00"},
		{"Thursday 23:59-00:01", "Thu 23:59-00:01"},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			e, err := ParseEntry(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, e.String())
			again, err := ParseEntry(e.String())
			require.NoError(t, err)
			require.Equal(t, e, again)
		})
	}
}

func TestParseEntryFields(t *testing.T) {
	t.Parallel()
	e, err := ParseEntry("Fri 22:00-02:00")
	require.NoError(t, err)
	require.True(t, e.on(time.Friday))
	require.False(t, e.on(time.Saturday), "the days name where the span starts")
	require.Equal(t, uint16(22*60), e.start)
	require.Equal(t, uint16(2*60), e.end)
	require.True(t, e.crosses())

	e, err = ParseEntry("Fri-Mon 08:00-24:00")
	require.NoError(t, err)
	for wd, want := range map[time.Weekday]bool{time.Friday: true, time.Saturday: true, time.Sunday: true, time.Monday: true, time.Tuesday: false, time.Thursday: false} {
		require.Equal(t, want, e.on(wd), wd)
	}
	require.False(t, e.crosses())
	require.Equal(t, uint16(1440), e.end)
}

func TestParseEntryErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in   string
		msg  string // a substring of the message, besides the entry and the form
		form string // the expected form the message must end with
	}{
		{"Mon-Fry 09:00-18:00", `unknown day "Fry"`, daysForm},
		{"Mo 09:00-18:00", `unknown day "Mo"`, daysForm},
		{"Mon Fri 09:00-18:00", `unknown day "Mon Fri"`, daysForm},
		{"Mon,,Fri 09:00-18:00", `the day list "Mon,,Fri" has an empty item`, daysForm},
		{"Mon-Wed-Fri 09:00-18:00", `the day range "Mon-Wed-Fri" has more than two ends`, daysForm},
		{"Daily,Sat 09:00-18:00", `"Daily" cannot be combined with other days`, daysForm},
		{"Mon 25:00-26:00", `invalid time "25:00": hours go from 00 to 23 (24:00 only as an end)`, hoursForm},
		{"Mon 09:60-10:00", `invalid time "09:60": minutes go from 00 to 59`, hoursForm},
		{"Mon 24:00-02:00", `invalid start time "24:00": 24:00 can only end a span`, hoursForm},
		{"Mon 9:0-10:00", `invalid time "9:0"`, hoursForm},
		{"Mon 009:00-10:00", `invalid time "009:00"`, hoursForm},
		{"Mon 9am-5pm", `invalid time "9am"`, hoursForm},
		{"Mon 09:00-18:00 UTC", `invalid time "18:00UTC"`, hoursForm},
		{"Mon 09:00", `the hours "09:00" are not a span of two times`, hoursForm},
		{"Mon 09:00-10:00-11:00", `are not a span of two times`, hoursForm},
		{"Mon-Fri", "the hours are missing", entryForm},
		{"09:00-18:00", "the days are missing", entryForm},
		{"Mon 09:00-09:00", "the span starts and ends at 09:00, so it is never open", "or 00:00-24:00 for whole days"},
		{"Mon 00:00-00:00", "the span starts and ends at 00:00, so it is never open", "or 00:00-24:00 for whole days"},
		{"hello", "expected days and hours", entryForm},
		{"", "the entry is empty", entryForm},
		{"   ", "the entry is empty", entryForm},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			_, err := ParseEntry(tc.in)
			require.Error(t, err)
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, `window "`+tc.in+`": `), msg)
			require.Contains(t, msg, tc.msg)
			require.True(t, strings.HasSuffix(msg, tc.form), msg)
		})
	}
}

func TestParseEntryExampleMessage(t *testing.T) {
	t.Parallel()
	_, err := ParseEntry("Mon-Fry 09:00-18:00")
	require.EqualError(t, err, `window "Mon-Fry 09:00-18:00": unknown day "Fry"; write days as Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, a list like Mon,Wed,Fri, or Daily`)
}

func TestEntryStringZero(t *testing.T) {
	t.Parallel()
	require.Equal(t, "never", Entry{}.String())
}

func TestParseDate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Date{
		"2026-12-25": {2026, time.December, 25},
		"2028-02-29": {2028, time.February, 29},
		"0999-01-01": {999, time.January, 1},
	} {
		got, err := ParseDate(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
		require.Equal(t, in, got.String())
	}
	cases := map[string]string{
		"2026-02-29":  "February 2026 has days 1 to 28",
		"2026-04-31":  "April 2026 has days 1 to 30",
		"2026-13-01":  "there is no month 13",
		"2026-00-10":  "there is no month 0",
		"2026-01-00":  "January 2026 has days 1 to 31",
		"2026-2-5":    "",
		"26-12-25":    "",
		"2026/12/25":  "",
		"2026-12-25 ": "",
		"20261225":    "",
		"":            "",
		"+026-12-25":  "",
	}
	for in, msg := range cases {
		_, err := ParseDate(in)
		require.Error(t, err, in)
		require.Contains(t, err.Error(), `invalid date "`+in+`"`)
		require.Contains(t, err.Error(), msg)
		require.True(t, strings.HasSuffix(err.Error(), "write a date as YYYY-MM-DD, e.g. 2026-12-25"), err.Error())
	}
}

func TestDayNumbers(t *testing.T) {
	t.Parallel()
	require.Equal(t, int64(0), Date{1970, time.January, 1}.dayNumber())
	require.Equal(t, int64(-1), Date{1969, time.December, 31}.dayNumber())
	require.Equal(t, time.Thursday, weekdayOf(0))
	require.Equal(t, time.Wednesday, weekdayOf(-1))
	for _, d := range []Date{{2026, time.March, 8}, {1900, time.March, 1}, {2400, time.February, 29}, {1, time.January, 1}} {
		n := d.dayNumber()
		require.Equal(t, d, dateOf(n))
		require.Equal(t, time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Weekday(), weekdayOf(n), d)
	}
}
