package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// withWindows is a file whose second environment has a windows block made
// of the given lines, which start at line 10, indented under windows:.
func withWindows(lines ...string) string {
	src := []string{
		"services:",                // 1
		"  - name: web",            // 2
		"    environments:",        // 3
		"      - name: staging",    // 4
		"        deploy:",          // 5
		"          command: [./a]", // 6
		"      - name: production", // 7
		"        bake: 1h",         // 8
		"        windows:",         // 9
	}
	for _, l := range lines {
		src = append(src, "          "+l)
	}
	return y(append(src, "        deploy:", "          command: [./b]")...)
}

const windowsField = "services[0].environments[1].windows"

func TestWindowProblems(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	require.NoError(t, err)
	cases := []struct {
		name  string
		src   string
		wants []want
	}{
		{
			name: "unknown key",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				"holiday: [2026-12-25]",
			),
			wants: []want{{12, 11, windowsField + ".holiday", `unknown field "holiday"; known fields are: timezone, allow, holidays, holidays_ical`}},
		},
		{
			name: "windows is a list",
			src: y(
				"services:",
				"  - name: web",
				"    environments:",
				"      - name: production",
				`        windows: ["Mon-Fri 09:00-18:00"]`,
				"        deploy: {command: [./b]}",
			),
			wants: []want{{5, 18, "services[0].environments[0].windows", "windows must be a mapping with the fields timezone, allow, holidays, holidays_ical; got a list"}},
		},
		{
			name: "timezone missing",
			src: withWindows(
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 11, windowsField + ".timezone", "timezone is required when windows is set: add the zone the hours are in, e.g. timezone: America/New_York (an IANA name of the form Area/City)"}},
		},
		{
			name: "unknown time zone",
			src: withWindows(
				"timezone: America/NewYork",
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 21, windowsField + ".timezone", `unknown time zone "America/NewYork"; write an IANA time zone name of the form Area/City, e.g. America/New_York or Europe/Berlin, or UTC`}},
		},
		{
			name: "abbreviation",
			src: withWindows(
				"timezone: CEST",
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 21, windowsField + ".timezone", `unknown time zone "CEST"; write an IANA time zone name of the form Area/City`}},
		},
		{
			name: "local time zone",
			src: withWindows(
				"timezone: Local",
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 21, windowsField + ".timezone", `time zone "Local" means the zone of whichever machine runs bakery; write an IANA time zone name of the form Area/City`}},
		},
		{
			name: "empty time zone",
			src: withWindows(
				`timezone: ""`,
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 21, windowsField + ".timezone", "timezone is empty; write an IANA time zone name"}},
		},
		{
			name: "time zone is a list",
			src: withWindows(
				"timezone: [America/New_York]",
				`allow: ["Mon-Fri 09:00-18:00"]`,
			),
			wants: []want{{10, 21, windowsField + ".timezone", "expected a single value such as America/New_York; got a list"}},
		},
		{
			name: "bad entry",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fry 09:00-18:00"]`,
			),
			wants: []want{{11, 19, windowsField + ".allow[0]", `window "Mon-Fry 09:00-18:00": unknown day "Fry"; write days as Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, a list like Mon,Wed,Fri, or Daily`}},
		},
		{
			name: "bad entries in a block list",
			src: withWindows(
				"timezone: America/New_York",
				"allow:",
				"  - Mon-Fri 09:00-18:00",
				"  - Sat 25:00-26:00",
				"  - Sun 10:00-10:00",
				"  -",
				"  - [Sun 10:00-12:00]",
			),
			wants: []want{
				{13, 15, windowsField + ".allow[1]", `window "Sat 25:00-26:00": invalid time "25:00": hours go from 00 to 23 (24:00 only as an end); write the hours as HH:MM-HH:MM`},
				{14, 15, windowsField + ".allow[2]", `window "Sun 10:00-10:00": the span starts and ends at 10:00, so it is never open`},
				{15, 14, windowsField + ".allow[3]", `allow[3] must be an entry such as "Mon-Fri 09:00-18:00"; got nothing`},
				{16, 15, windowsField + ".allow[4]", `allow[4] must be an entry such as "Mon-Fri 09:00-18:00"; got a list`},
			},
		},
		{
			name: "entry without hours",
			src: withWindows(
				"timezone: America/New_York",
				"allow: [Mon-Fri]",
			),
			wants: []want{{11, 19, windowsField + ".allow[0]", `window "Mon-Fri": the hours are missing; write DAYS HH:MM-HH:MM, e.g. Mon-Fri 09:00-18:00`}},
		},
		{
			name: "allow empty",
			src: withWindows(
				"timezone: America/New_York",
				"allow: []",
			),
			wants: []want{{11, 18, windowsField + ".allow", `allow is empty: list when promotions may start, e.g. allow: ["Mon-Fri 09:00-18:00"] (to allow them at any time, remove the windows block)`}},
		},
		{
			name: "allow missing",
			src: withWindows(
				"timezone: America/New_York",
			),
			wants: []want{{10, 11, windowsField + ".allow", `allow is required when windows is set: list when promotions may start, e.g. allow: ["Mon-Fri 09:00-18:00"]`}},
		},
		{
			name: "allow is one string",
			src: withWindows(
				"timezone: America/New_York",
				"allow: Mon-Fri 09:00-18:00",
			),
			wants: []want{{11, 18, windowsField + ".allow", `allow must be a list of entries; write allow: ["Mon-Fri 09:00-18:00"]`}},
		},
		{
			name: "allow is a mapping",
			src: withWindows(
				"timezone: America/New_York",
				"allow: {Mon-Fri: 09:00-18:00}",
			),
			wants: []want{{11, 18, windowsField + ".allow", `allow must be a list of entries such as ["Mon-Fri 09:00-18:00"]; got a mapping`}},
		},
		{
			name: "bad holiday",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				`holidays: ["2026-12-25", "2026-02-30", 2026-1-1, [x]]`,
			),
			wants: []want{
				{12, 36, windowsField + ".holidays[1]", `invalid date "2026-02-30": February 2026 has days 1 to 28; write a date as YYYY-MM-DD, e.g. 2026-12-25`},
				{12, 50, windowsField + ".holidays[2]", `invalid date "2026-1-1": write a date as YYYY-MM-DD, e.g. 2026-12-25`},
				{12, 60, windowsField + ".holidays[3]", "holidays[3] must be a date such as 2026-12-25; got a list"},
			},
		},
		{
			name: "holidays is one date",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				"holidays: 2026-12-25",
			),
			wants: []want{{12, 21, windowsField + ".holidays", `holidays must be a list of dates such as ["2026-12-25", "2027-01-01"]; got the value "2026-12-25"`}},
		},
		{
			name: "ical file missing",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				"holidays_ical: no-such-holidays.ics",
			),
			wants: []want{{12, 26, windowsField + ".holidays_ical", "cannot read holidays_ical file " + filepath.Join(cwd, "no-such-holidays.ics") + ": no such file or directory; check the path, which is relative to the directory of this configuration file"}},
		},
		{
			name: "ical is a directory",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				"holidays_ical: .",
			),
			wants: []want{{12, 26, windowsField + ".holidays_ical", "holidays_ical " + cwd + " is not a file; check the path"}},
		},
		{
			name: "ical empty path",
			src: withWindows(
				"timezone: America/New_York",
				`allow: ["Mon-Fri 09:00-18:00"]`,
				`holidays_ical: ""`,
			),
			wants: []want{{12, 26, windowsField + ".holidays_ical", "holidays_ical is empty; give the path of an iCalendar file"}},
		},
		{
			name: "every problem of the block",
			src: withWindows(
				"timezone: Mars/Olympus_Mons",
				`allow: ["Mon-Fri 9-18", "Daily 22:00-02:00"]`,
				"holidays: [2026-12-32]",
				"calendar: x",
			),
			wants: []want{
				{10, 21, windowsField + ".timezone", `unknown time zone "Mars/Olympus_Mons"`},
				{11, 19, windowsField + ".allow[0]", `window "Mon-Fri 9-18": invalid time "9"`},
				{12, 22, windowsField + ".holidays[0]", `invalid date "2026-12-32": December 2026 has days 1 to 31`},
				{13, 11, windowsField + ".calendar", `unknown field "calendar"`},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			requireProblems(t, tc.src, tc.wants...)
		})
	}
}

// writeFiles writes files into a new directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644))
	}
	return dir
}

const holidaysICS = "BEGIN:VCALENDAR\r\n" +
	"VERSION:2.0\r\n" +
	"BEGIN:VEVENT\r\n" +
	"UID:thanksgiving\r\n" +
	"DTSTART;VALUE=DATE:20261126\r\n" +
	"DTEND;VALUE=DATE:20261128\r\n" +
	"SUMMARY:Thanksgiving and the day after\r\n" +
	"END:VEVENT\r\n" +
	"BEGIN:VEVENT\r\n" +
	"UID:standup\r\n" +
	"DTSTART:20261130T090000Z\r\n" +
	"SUMMARY:A meeting, not a holiday\r\n" +
	"END:VEVENT\r\n" +
	"END:VCALENDAR\r\n"

func TestParseWindows(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"holidays.ics": holidaysICS})
	src := withWindows(
		"timezone: America/New_York",
		"allow:",
		"  - Mon-Fri 09:00-18:00",
		"  - Sat 10:00-12:00",
		`holidays: ["2026-12-25", 2027-01-01]`,
		"holidays_ical: holidays.ics",
	)
	cfg, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(src))
	require.NoError(t, err)
	envs := cfg.Services[0].Environments
	require.Nil(t, envs[0].Window, "no windows block: always open")
	w := envs[1].Window
	require.NotNil(t, w)
	require.Equal(t, "Mon-Fri 09:00-18:00, Sat 10:00-12:00 America/New_York, 4 holidays", w.String())
	require.Equal(t, "America/New_York", w.Location().String())

	ny := w.Location()
	cases := []struct {
		at   time.Time
		open bool
	}{
		{time.Date(2026, 11, 25, 17, 59, 0, 0, ny), true},      // Wednesday
		{time.Date(2026, 11, 25, 18, 0, 0, 0, ny), false},      // Wednesday, closed
		{time.Date(2026, 11, 26, 12, 0, 0, 0, ny), false},      // Thanksgiving, from the ical file
		{time.Date(2026, 11, 27, 12, 0, 0, 0, ny), false},      // the day after, from the ical file
		{time.Date(2026, 11, 28, 11, 0, 0, 0, ny), true},       // Saturday 11:00
		{time.Date(2026, 11, 30, 9, 30, 0, 0, ny), true},       // Monday; the timed event is no holiday
		{time.Date(2026, 12, 25, 12, 0, 0, 0, ny), false},      // holidays list
		{time.Date(2027, 1, 1, 12, 0, 0, 0, ny), false},        // unquoted date in the list
		{time.Date(2026, 12, 24, 14, 0, 0, 0, time.UTC), true}, // 09:00 EST
		{time.Date(2026, 12, 24, 13, 59, 0, 0, time.UTC), false},
	}
	for _, c := range cases {
		require.Equal(t, c.open, w.Open(c.at), "at %s", c.at)
	}
	next, ok := w.NextOpen(time.Date(2026, 11, 25, 18, 0, 0, 0, ny))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 11, 28, 10, 0, 0, 0, ny), next)
}

func TestParseWindowsNull(t *testing.T) {
	t.Parallel()
	cfg, err := Parse("bakery.yaml", []byte(withWindows()))
	require.NoError(t, err)
	require.Nil(t, cfg.Services[0].Environments[1].Window, "windows: with nothing is no window")
}

func TestParseWindowsAbsoluteICal(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"h.ics": holidaysICS})
	cfg, err := Parse("bakery.yaml", []byte(withWindows(
		"timezone: UTC",
		`allow: ["Daily 00:00-24:00"]`,
		"holidays_ical: "+filepath.Join(dir, "h.ics"),
	)))
	require.NoError(t, err)
	require.Equal(t, "Daily 00:00-24:00 UTC, 2 holidays", cfg.Services[0].Environments[1].Window.String())
}

func TestWindowICalProblems(t *testing.T) {
	t.Parallel()
	bad := strings.Join([]string{
		"BEGIN:VCALENDAR",
		"BEGIN:VEVENT",
		"DTSTART;VALUE=DATE:20261225",
		"END:VCALENDAR",
	}, "\n")
	dir := writeFiles(t, map[string]string{"bad.ics": bad, "date.ics": "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;VALUE=DATE:2026-12-25\nEND:VEVENT\nEND:VCALENDAR\n"})
	cases := []struct {
		file string
		msg  string
	}{
		{"bad.ics", "holidays_ical file " + filepath.Join(dir, "bad.ics") + " is not a valid iCalendar file: line 2: BEGIN:VEVENT has no END:VEVENT (line 4 ends VCALENDAR instead)"},
		{"date.ics", "holidays_ical file " + filepath.Join(dir, "date.ics") + ` is not a valid iCalendar file: line 3: invalid date "2026-12-25" in DTSTART; write a date as YYYYMMDD, e.g. 20261225`},
	}
	for _, c := range cases {
		src := withWindows(
			"timezone: America/New_York",
			`allow: ["Mon-Fri 09:00-18:00"]`,
			"holidays_ical: "+c.file,
		)
		_, err := Parse(filepath.Join(dir, "bakery.yaml"), []byte(src))
		var verr *ValidationError
		require.ErrorAs(t, err, &verr)
		require.Len(t, verr.Problems, 1, "%v", err)
		p := verr.Problems[0]
		require.Equal(t, filepath.Join(dir, "bakery.yaml"), p.File)
		require.Equal(t, 12, p.Line)
		require.Equal(t, 26, p.Column)
		require.Equal(t, windowsField+".holidays_ical", p.Field)
		require.Contains(t, p.Message, c.msg)
	}
}

func TestWindowsOnDevice(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	// Must return rather than read forever.
	requireProblems(t, withWindows(
		"timezone: UTC",
		`allow: ["Daily 09:00-10:00"]`,
		"holidays_ical: /dev/zero",
	), want{12, 26, windowsField + ".holidays_ical", "holidays_ical /dev/zero is not a file"})
}
