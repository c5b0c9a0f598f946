package window

import (
	"fmt"
	"strconv"
	"time"
)

// Date is a calendar date without a zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// String formats the date as YYYY-MM-DD, e.g. "2026-12-25".
func (d Date) String() string {
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// ParseDate parses "2026-12-25": strictly YYYY-MM-DD, with a date that
// exists in the calendar. The error names the input and the form.
func ParseDate(s string) (Date, error) {
	const form = "write a date as YYYY-MM-DD, e.g. 2026-12-25"
	if len(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s[:4]) || !digits(s[5:7]) || !digits(s[8:]) {
		return Date{}, fmt.Errorf("invalid date %q: %s", s, form)
	}
	y, _ := strconv.Atoi(s[:4])
	m, _ := strconv.Atoi(s[5:7])
	d, _ := strconv.Atoi(s[8:])
	if msg := checkDate(y, m, d); msg != "" {
		return Date{}, fmt.Errorf("invalid date %q: %s; %s", s, msg, form)
	}
	return Date{Year: y, Month: time.Month(m), Day: d}, nil
}

// checkDate says what is wrong with a year, month and day, or "" when the
// date exists.
func checkDate(y, m, d int) string {
	if m < 1 || m > 12 {
		return fmt.Sprintf("there is no month %d", m)
	}
	if n := daysIn(y, time.Month(m)); d < 1 || d > n {
		return fmt.Sprintf("%s %d has days 1 to %d", time.Month(m), y, n)
	}
	return ""
}

// daysIn returns the number of days of a month.
func daysIn(y int, m time.Month) int {
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// A day number counts days from 1970-01-01 (day 0), in the proleptic
// Gregorian calendar; it makes date arithmetic and holiday lookups cheap.

// dayNumber returns d's day number.
func (d Date) dayNumber() int64 {
	return floorDiv(time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Unix(), secondsPerDay)
}

// dateOf returns the date of a day number.
func dateOf(day int64) Date {
	y, m, d := time.Unix(day*secondsPerDay, 0).UTC().Date()
	return Date{Year: y, Month: m, Day: d}
}

// weekdayOf returns the weekday of a day number; day 0 was a Thursday.
func weekdayOf(day int64) time.Weekday {
	return time.Weekday(floorMod(day+int64(time.Thursday), 7))
}

const secondsPerDay = 24 * 60 * 60

// floorDiv divides rounding toward negative infinity.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// floorMod is the remainder of floorDiv, in [0, b) for b > 0.
func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }
