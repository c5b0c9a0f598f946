package window

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// zone loads an IANA zone (from the embedded database if need be).
func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

// schedule builds a schedule from entry and holiday texts.
func schedule(t testing.TB, zoneName string, entries []string, holidays ...string) *Schedule {
	t.Helper()
	var es []Entry
	for _, s := range entries {
		e, err := ParseEntry(s)
		require.NoError(t, err)
		es = append(es, e)
	}
	var hs []Date
	for _, s := range holidays {
		d, err := ParseDate(s)
		require.NoError(t, err)
		hs = append(hs, d)
	}
	return New(zone(t, zoneName), es, hs)
}

// utc parses "2006-01-02 15:04:05" as a UTC instant; "" is the zero time.
func utc(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

// check is one instant to evaluate a schedule at. Instants are given in
// UTC, since local wall times are ambiguous on the days under test; the
// comments give the local time. nextOpen and nextClose are "" when there is
// none (ok is false).
type check struct {
	name      string
	at        string
	open      bool
	nextOpen  string
	nextClose string
}

func runChecks(t *testing.T, s *Schedule, checks []check) {
	t.Helper()
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			at := utc(c.at)
			require.Equal(t, c.open, s.Open(at), "Open")

			next, ok := s.NextOpen(at)
			require.Equal(t, c.nextOpen != "", ok, "NextOpen ok (got %s)", next)
			if ok {
				require.Equal(t, utc(c.nextOpen), next.UTC(), "NextOpen; local %s", next)
				require.True(t, s.Open(next), "open at NextOpen")
				if c.open {
					require.Equal(t, at, next, "NextOpen returns t itself when open")
				} else {
					require.Equal(t, s.Location(), next.Location())
				}
			}

			closes, ok := s.NextClose(at)
			require.Equal(t, c.nextClose != "", ok, "NextClose ok (got %s)", closes)
			if ok {
				require.Equal(t, utc(c.nextClose), closes.UTC(), "NextClose; local %s", closes)
				require.False(t, s.Open(closes), "closed at NextClose")
				require.True(t, s.Open(closes.Add(-time.Second)), "open just before NextClose")
			} else {
				require.True(t, closes.IsZero())
			}
		})
	}
}

func TestWorkdaysNewYork(t *testing.T) {
	t.Parallel()
	// US DST 2026: starts Sun 2026-03-08 02:00 EST (07:00Z), ends Sun
	// 2026-11-01 02:00 EDT (06:00Z).
	s := schedule(t, "America/New_York", []string{"Mon-Fri 09:00-18:00"})
	require.Equal(t, "Mon-Fri 09:00-18:00 America/New_York", s.String())
	runChecks(t, s, []check{
		// Fri 2026-10-23 17:59:59 EDT.
		{"friday before close", "2026-10-23 21:59:59", true, "2026-10-23 21:59:59", "2026-10-23 22:00:00"},
		// Fri 18:00 EDT: closed until Mon 2026-10-26 09:00 EDT.
		{"friday at close", "2026-10-23 22:00:00", false, "2026-10-26 13:00:00", ""},
		// Fri 2026-10-30 18:00 EDT: the weekend crosses the fall-back, so
		// Monday 09:00 is EST, an hour later in UTC than a week before.
		{"weekend across fall-back", "2026-10-30 22:00:00", false, "2026-11-02 14:00:00", ""},
		{"first 01:30 of fall-back day", "2026-11-01 05:30:00", false, "2026-11-02 14:00:00", ""},
		{"second 01:30 of fall-back day", "2026-11-01 06:30:00", false, "2026-11-02 14:00:00", ""},
		{"monday after fall-back before open", "2026-11-02 13:59:59", false, "2026-11-02 14:00:00", ""},
		{"monday after fall-back open", "2026-11-02 14:00:00", true, "2026-11-02 14:00:00", "2026-11-02 23:00:00"},
		// Mon 2026-03-02 09:00 EST; the Friday after closes at 18:00 EST.
		{"week before spring-forward", "2026-03-02 14:00:00", true, "2026-03-02 14:00:00", "2026-03-02 23:00:00"},
		// Fri 2026-03-06 18:00 EST: Monday 09:00 is EDT, 13:00Z.
		{"weekend across spring-forward", "2026-03-06 23:00:00", false, "2026-03-09 13:00:00", ""},
		// Sun 2026-03-08 03:30 EDT, just after the gap.
		{"spring-forward day", "2026-03-08 07:30:00", false, "2026-03-09 13:00:00", ""},
		{"monday after spring-forward", "2026-03-09 16:00:00", true, "2026-03-09 16:00:00", "2026-03-09 22:00:00"},
		{"monday after spring-forward before open", "2026-03-09 12:59:59", false, "2026-03-09 13:00:00", ""},
	})
}

func TestWorkdaysBerlin(t *testing.T) {
	t.Parallel()
	// EU DST 2026: starts Sun 2026-03-29 01:00Z (02:00 CET -> 03:00 CEST),
	// ends Sun 2026-10-25 01:00Z (03:00 CEST -> 02:00 CET).
	s := schedule(t, "Europe/Berlin", []string{"Mon-Fri 09:00-18:00"})
	runChecks(t, s, []check{
		// Fri 2026-03-20 18:00 CET -> Mon 2026-03-23 09:00 CET.
		{"weekend before spring-forward", "2026-03-20 17:00:00", false, "2026-03-23 08:00:00", ""},
		// Fri 2026-03-27 18:00 CET -> Mon 2026-03-30 09:00 CEST.
		{"weekend across spring-forward", "2026-03-27 17:00:00", false, "2026-03-30 07:00:00", ""},
		{"friday before close, CET", "2026-03-27 16:59:59", true, "2026-03-27 16:59:59", "2026-03-27 17:00:00"},
		// Sun 2026-03-29 03:30 CEST, what 02:30 would have been.
		{"spring-forward day", "2026-03-29 01:30:00", false, "2026-03-30 07:00:00", ""},
		{"monday CEST", "2026-03-30 07:00:00", true, "2026-03-30 07:00:00", "2026-03-30 16:00:00"},
		// Fri 2026-10-23 17:59:59 CEST.
		{"friday before close, CEST", "2026-10-23 15:59:59", true, "2026-10-23 15:59:59", "2026-10-23 16:00:00"},
		// Fri 18:00 CEST -> Mon 2026-10-26 09:00 CET.
		{"weekend across fall-back", "2026-10-23 16:00:00", false, "2026-10-26 08:00:00", ""},
		{"first 02:30 of fall-back day", "2026-10-25 00:30:00", false, "2026-10-26 08:00:00", ""},
		{"second 02:30 of fall-back day", "2026-10-25 01:30:00", false, "2026-10-26 08:00:00", ""},
		{"monday CET before open", "2026-10-26 07:59:59", false, "2026-10-26 08:00:00", ""},
		{"monday CET", "2026-10-26 08:30:00", true, "2026-10-26 08:30:00", "2026-10-26 17:00:00"},
	})
}

func TestCrossingMidnight(t *testing.T) {
	t.Parallel()
	t.Run("daily", func(t *testing.T) {
		t.Parallel()
		// Summer, EDT (UTC-4).
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 22:00-02:00"}), []check{
			{"before", "2026-06-11 01:59:00", false, "2026-06-11 02:00:00", ""},                            // 06-10 21:59
			{"start", "2026-06-11 02:00:00", true, "2026-06-11 02:00:00", "2026-06-11 06:00:00"},           // 06-10 22:00
			{"before midnight", "2026-06-11 03:00:00", true, "2026-06-11 03:00:00", "2026-06-11 06:00:00"}, // 06-10 23:00
			{"after midnight", "2026-06-11 05:59:59", true, "2026-06-11 05:59:59", "2026-06-11 06:00:00"},  // 06-11 01:59:59
			{"end", "2026-06-11 06:00:00", false, "2026-06-12 02:00:00", ""},                               // 06-11 02:00
		})
	})
	t.Run("friday night", func(t *testing.T) {
		t.Parallel()
		// 2026-06-12 and 2026-06-19 are Fridays.
		runChecks(t, schedule(t, "America/New_York", []string{"Fri 22:00-02:00"}), []check{
			{"thursday night", "2026-06-12 03:00:00", false, "2026-06-13 02:00:00", ""},                   // Thu 23:00
			{"friday before", "2026-06-13 01:59:00", false, "2026-06-13 02:00:00", ""},                    // Fri 21:59
			{"friday night", "2026-06-13 03:30:00", true, "2026-06-13 03:30:00", "2026-06-13 06:00:00"},   // Fri 23:30
			{"saturday early", "2026-06-13 05:00:00", true, "2026-06-13 05:00:00", "2026-06-13 06:00:00"}, // Sat 01:00
			{"saturday night", "2026-06-14 02:30:00", false, "2026-06-20 02:00:00", ""},                   // Sat 22:30
			{"saturday end", "2026-06-13 06:00:00", false, "2026-06-20 02:00:00", ""},                     // Sat 02:00
		})
	})
	t.Run("adjacent spans join", func(t *testing.T) {
		t.Parallel()
		runChecks(t, schedule(t, "UTC", []string{"Daily 22:00-02:00", "Daily 02:00-04:00"}), []check{
			{"inside", "2026-06-10 23:00:00", true, "2026-06-10 23:00:00", "2026-06-11 04:00:00"},
		})
		runChecks(t, schedule(t, "UTC", []string{"Mon-Fri 09:00-12:00", "Mon-Fri 12:00-18:00", "Mon-Fri 10:00-11:00"}), []check{
			{"morning", "2026-06-10 10:00:00", true, "2026-06-10 10:00:00", "2026-06-10 18:00:00"},
		})
	})
}

// TestDSTCrossingSpans pins down the choices for spans that a DST change
// shortens, lengthens or removes; see the package documentation.
func TestDSTCrossingSpans(t *testing.T) {
	t.Parallel()
	t.Run("one to three on spring-forward is one real hour", func(t *testing.T) {
		t.Parallel()
		// 2026-03-08: 01:00 EST is 06:00Z; 02:00-03:00 does not exist;
		// 03:00 EDT is 07:00Z.
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 01:00-03:00"}), []check{
			{"before", "2026-03-08 05:59:59", false, "2026-03-08 06:00:00", ""},
			{"start", "2026-03-08 06:00:00", true, "2026-03-08 06:00:00", "2026-03-08 07:00:00"},
			{"last second", "2026-03-08 06:59:59", true, "2026-03-08 06:59:59", "2026-03-08 07:00:00"},
			// 03:00 EDT: closed until 01:00 EDT on Monday, 05:00Z.
			{"end", "2026-03-08 07:00:00", false, "2026-03-09 05:00:00", ""},
		})
	})
	t.Run("one to three on fall-back is three real hours", func(t *testing.T) {
		t.Parallel()
		// 2026-11-01: 01:00 EDT is 05:00Z; 01:00-02:00 happens twice (EDT,
		// then EST); 03:00 EST is 08:00Z. The window stays open through
		// the repeated hour and closes once.
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 01:00-03:00"}), []check{
			{"first 01:00", "2026-11-01 05:00:00", true, "2026-11-01 05:00:00", "2026-11-01 08:00:00"},
			{"second 01:30", "2026-11-01 06:30:00", true, "2026-11-01 06:30:00", "2026-11-01 08:00:00"},
			{"02:30 EST", "2026-11-01 07:30:00", true, "2026-11-01 07:30:00", "2026-11-01 08:00:00"},
			{"end", "2026-11-01 08:00:00", false, "2026-11-02 06:00:00", ""},
		})
	})
	t.Run("start in the skipped hour opens after the gap", func(t *testing.T) {
		t.Parallel()
		// 02:30 does not exist on 2026-03-08: the span opens at 03:00 EDT.
		runChecks(t, schedule(t, "America/New_York", []string{"Sun 02:30-04:00"}), []check{
			{"saturday", "2026-03-07 17:00:00", false, "2026-03-08 07:00:00", ""},
			{"just before the gap", "2026-03-08 06:59:59", false, "2026-03-08 07:00:00", ""},
			{"after the gap", "2026-03-08 07:00:00", true, "2026-03-08 07:00:00", "2026-03-08 08:00:00"},
			// The next Sunday, 02:30 EDT.
			{"end", "2026-03-08 08:00:00", false, "2026-03-15 06:30:00", ""},
		})
	})
	t.Run("span inside the skipped hour does not open", func(t *testing.T) {
		t.Parallel()
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 02:00-02:30"}), []check{
			{"day before", "2026-03-07 07:00:00", true, "2026-03-07 07:00:00", "2026-03-07 07:30:00"},
			{"spring-forward day", "2026-03-08 05:00:00", false, "2026-03-09 06:00:00", ""},
		})
		// 02:00 CET does not exist on 2026-03-29 and 03:00 CEST is the
		// first instant after the gap: the span is empty.
		runChecks(t, schedule(t, "Europe/Berlin", []string{"Daily 02:00-03:00"}), []check{
			{"spring-forward day", "2026-03-28 23:00:00", false, "2026-03-30 00:00:00", ""},
			// On fall-back day the span lasts two real hours, 02:00 CEST
			// (00:00Z) to 03:00 CET (02:00Z).
			{"fall-back day", "2026-10-25 00:00:00", true, "2026-10-25 00:00:00", "2026-10-25 02:00:00"},
			{"fall-back day, second 02:30", "2026-10-25 01:30:00", true, "2026-10-25 01:30:00", "2026-10-25 02:00:00"},
		})
	})
	t.Run("repeated times mean the first", func(t *testing.T) {
		t.Parallel()
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 01:30-01:45"}), []check{
			{"first 01:30", "2026-11-01 05:30:00", true, "2026-11-01 05:30:00", "2026-11-01 05:45:00"},
			{"first 01:45", "2026-11-01 05:45:00", false, "2026-11-02 06:30:00", ""},
			{"second 01:30 does not open again", "2026-11-01 06:30:00", false, "2026-11-02 06:30:00", ""},
			{"second 01:40", "2026-11-01 06:40:00", false, "2026-11-02 06:30:00", ""},
		})
		runChecks(t, schedule(t, "America/New_York", []string{"Daily 00:00-01:30"}), []check{
			{"midnight", "2026-11-01 04:00:00", true, "2026-11-01 04:00:00", "2026-11-01 05:30:00"},
			// 01:00 EST shows a time inside the span, but the span ended at
			// the first 01:30.
			{"second 01:00 does not reopen", "2026-11-01 06:00:00", false, "2026-11-02 05:00:00", ""},
		})
	})
}

func TestHolidays(t *testing.T) {
	t.Parallel()
	t.Run("closed all day", func(t *testing.T) {
		t.Parallel()
		// 2026-12-25 is a Friday.
		s := schedule(t, "America/New_York", []string{"Mon-Fri 09:00-18:00"}, "2026-12-25", "2027-01-01")
		require.Equal(t, "Mon-Fri 09:00-18:00 America/New_York, 2 holidays", s.String())
		runChecks(t, s, []check{
			{"thursday open", "2026-12-24 22:00:00", true, "2026-12-24 22:00:00", "2026-12-24 23:00:00"},
			{"thursday evening", "2026-12-24 23:00:00", false, "2026-12-28 14:00:00", ""},
			{"holiday noon", "2026-12-25 17:00:00", false, "2026-12-28 14:00:00", ""},
		})
	})
	t.Run("consecutive holidays are skipped", func(t *testing.T) {
		t.Parallel()
		s := schedule(t, "America/New_York", []string{"Mon-Fri 09:00-18:00"}, "2026-12-25", "2026-12-28", "2026-12-29")
		runChecks(t, s, []check{
			{"thursday evening", "2026-12-24 23:00:00", false, "2026-12-30 14:00:00", ""},
		})
	})
	t.Run("holiday inside a crossing span", func(t *testing.T) {
		t.Parallel()
		// EST (UTC-5). The span of Dec 24 is open until midnight, then
		// closed because Dec 25 is a holiday; the span of Dec 25 opens at
		// midnight, when Dec 26 begins.
		s := schedule(t, "America/New_York", []string{"Daily 22:00-02:00"}, "2026-12-25")
		runChecks(t, s, []check{
			{"dec 24 23:00", "2026-12-25 04:00:00", true, "2026-12-25 04:00:00", "2026-12-25 05:00:00"},
			{"dec 25 01:00", "2026-12-25 06:00:00", false, "2026-12-26 05:00:00", ""},
			{"dec 25 23:00", "2026-12-26 04:00:00", false, "2026-12-26 05:00:00", ""},
			{"dec 26 00:30", "2026-12-26 05:30:00", true, "2026-12-26 05:30:00", "2026-12-26 07:00:00"},
		})
	})
	t.Run("always open until a holiday", func(t *testing.T) {
		t.Parallel()
		s := schedule(t, "UTC", []string{"Daily 00:00-24:00"}, "2026-07-04")
		require.Equal(t, "Daily 00:00-24:00 UTC, 1 holiday", s.String())
		runChecks(t, s, []check{
			{"before", "2026-07-01 12:00:00", true, "2026-07-01 12:00:00", "2026-07-04 00:00:00"},
			{"on", "2026-07-04 12:00:00", false, "2026-07-05 00:00:00", ""},
		})
		// Without the holiday it never closes within the search horizon.
		runChecks(t, schedule(t, "UTC", []string{"Daily 00:00-24:00"}), []check{
			{"always", "2026-07-01 12:00:00", true, "2026-07-01 12:00:00", ""},
		})
	})
}

func TestNeverOpen(t *testing.T) {
	t.Parallel()
	s := New(zone(t, "Europe/Berlin"), nil, []Date{{2026, time.December, 25}})
	require.Equal(t, "never open Europe/Berlin, 1 holiday", s.String())
	runChecks(t, s, []check{{"any time", "2026-06-10 12:00:00", false, "", ""}})

	// Holidays on every Saturday for more than the search horizon.
	var sats []Date
	for d := (Date{2026, time.January, 3}).dayNumber(); d < (Date{2029, time.January, 1}).dayNumber(); d += 7 {
		sats = append(sats, dateOf(d))
	}
	sat, err := ParseEntry("Sat 10:00-11:00")
	require.NoError(t, err)
	s = New(time.UTC, []Entry{sat}, sats)
	_, ok := s.NextOpen(utc("2026-01-01 00:00:00"))
	require.False(t, ok)
	next, ok := s.NextOpen(utc("2028-06-01 00:00:00"))
	require.True(t, ok)
	require.Equal(t, utc("2029-01-06 10:00:00"), next.UTC())
}

func TestNilSchedule(t *testing.T) {
	t.Parallel()
	var s *Schedule
	at := utc("2026-06-10 12:00:00")
	require.True(t, s.Open(at))
	next, ok := s.NextOpen(at)
	require.True(t, ok)
	require.Equal(t, at, next)
	_, ok = s.NextClose(at)
	require.False(t, ok)
	require.Equal(t, time.UTC, s.Location())
	require.Equal(t, "always open", s.String())
}

func TestNewDefaultsAndCopies(t *testing.T) {
	t.Parallel()
	e, err := ParseEntry("Mon-Fri 09:00-18:00")
	require.NoError(t, err)
	entries := []Entry{e, e}
	s := New(nil, entries, nil)
	require.Equal(t, time.UTC, s.Location())
	require.Equal(t, "Mon-Fri 09:00-18:00 UTC", s.String(), "repeated entries are listed once")
	entries[0] = Entry{}
	require.True(t, s.Open(utc("2026-06-10 12:00:00")), "New copies its arguments")

	two := schedule(t, "Asia/Kathmandu", []string{"Mon-Fri 09:00-18:00", "Sat 10:00-12:00"})
	require.Equal(t, "Mon-Fri 09:00-18:00, Sat 10:00-12:00 Asia/Kathmandu", two.String())
}

func TestSubSecondInstants(t *testing.T) {
	t.Parallel()
	s := schedule(t, "UTC", []string{"Daily 09:00-18:00"})
	before := utc("2026-06-10 08:59:59").Add(500 * time.Millisecond)
	require.False(t, s.Open(before))
	next, ok := s.NextOpen(before)
	require.True(t, ok)
	require.Equal(t, utc("2026-06-10 09:00:00"), next.UTC())

	inside := utc("2026-06-10 09:00:00").Add(time.Nanosecond)
	require.True(t, s.Open(inside))
	last := utc("2026-06-10 17:59:59").Add(999_999_999)
	require.True(t, s.Open(last))
	closes, ok := s.NextClose(last)
	require.True(t, ok)
	require.Equal(t, utc("2026-06-10 18:00:00"), closes.UTC())
}

func TestAt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		zone   string
		date   Date
		minute int
		want   string // UTC
	}{
		{"America/New_York", Date{2026, 3, 8}, 60, "2026-03-08 06:00:00"},      // 01:00 EST
		{"America/New_York", Date{2026, 3, 8}, 120, "2026-03-08 07:00:00"},     // 02:00 skipped -> 03:00 EDT
		{"America/New_York", Date{2026, 3, 8}, 150, "2026-03-08 07:00:00"},     // 02:30 skipped -> 03:00 EDT
		{"America/New_York", Date{2026, 3, 8}, 180, "2026-03-08 07:00:00"},     // 03:00 EDT
		{"America/New_York", Date{2026, 11, 1}, 60, "2026-11-01 05:00:00"},     // first 01:00 (EDT)
		{"America/New_York", Date{2026, 11, 1}, 90, "2026-11-01 05:30:00"},     // first 01:30 (EDT)
		{"America/New_York", Date{2026, 11, 1}, 120, "2026-11-01 07:00:00"},    // 02:00 EST
		{"America/New_York", Date{2026, 11, 1}, 1440, "2026-11-02 05:00:00"},   // 24:00 = next midnight EST
		{"Europe/Berlin", Date{2026, 10, 25}, 150, "2026-10-25 00:30:00"},      // first 02:30 (CEST)
		{"Europe/Berlin", Date{2026, 3, 29}, 150, "2026-03-29 01:00:00"},       // 02:30 skipped -> 03:00 CEST
		{"Pacific/Apia", Date{2011, 12, 30}, 0, "2011-12-30 10:00:00"},         // the day Samoa skipped
		{"Pacific/Apia", Date{2011, 12, 30}, 720, "2011-12-30 10:00:00"},       // ... all of it
		{"Pacific/Apia", Date{2011, 12, 31}, 0, "2011-12-30 10:00:00"},         // 00:00 +14
		{"America/Santiago", Date{2026, 9, 6}, 0, "2026-09-06 04:00:00"},       // midnight skipped -> 01:00 -03
		{"America/Santiago", Date{2026, 4, 4}, 1410, "2026-04-05 02:30:00"},    // first 23:30 (-03)
		{"America/Santiago", Date{2026, 4, 5}, 0, "2026-04-05 04:00:00"},       // at 03:00Z the clock goes from Apr 5 00:00 -03 back to Apr 4 23:00 -04, so Apr 5 first shows at 04:00Z
		{"Australia/Lord_Howe", Date{2026, 10, 4}, 135, "2026-10-03 15:30:00"}, // 02:15 skipped (30-minute DST) -> 02:30 +11
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s %s %d", tc.zone, tc.date, tc.minute), func(t *testing.T) {
			t.Parallel()
			s := New(zone(t, tc.zone), nil, nil)
			got := time.Unix(s.at(tc.date.dayNumber(), tc.minute), 0).UTC()
			require.Equal(t, utc(tc.want), got, "local %s", got.In(s.loc))
		})
	}
}

// TestAgainstScan checks NextOpen and NextClose of random schedules
// against a scan of every quarter hour, around DST changes of several zones,
// including ones that change at midnight (Santiago), by half an hour (Lord
// Howe) or skip a whole day (Apia, 2011). Entries use quarter hours and
// these zones' changes fall on quarter hours, so the window can only open or
// close on a quarter hour.
func TestAgainstScan(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	type place struct {
		zone string
		near []string // UTC instants to test around
	}
	places := []place{
		{"America/New_York", []string{"2026-03-08 07:00:00", "2026-11-01 06:00:00"}},
		{"Europe/Berlin", []string{"2026-03-29 01:00:00", "2026-10-25 01:00:00"}},
		{"America/Santiago", []string{"2026-04-05 03:00:00", "2026-09-06 04:00:00"}},
		{"Australia/Lord_Howe", []string{"2026-04-04 15:00:00", "2026-10-03 15:30:00"}},
		{"Pacific/Apia", []string{"2011-12-30 10:00:00"}},
		{"Asia/Kathmandu", []string{"2026-06-10 00:00:00"}},
	}
	dayTexts := []string{"Daily", "Mon-Fri", "Sat,Sun", "Sun", "Fri-Mon", "Tue,Thu"}
	quarter := func() string { q := rng.IntN(97); return fmt.Sprintf("%02d:%02d", q/4, q%4*15) }
	const quarterHour = 15 * time.Minute
	for i := range 60 {
		pl := places[i%len(places)]
		loc := zone(t, pl.zone)
		var entries []Entry
		for range 1 + rng.IntN(2) {
			e, err := ParseEntry(dayTexts[rng.IntN(len(dayTexts))] + " " + quarter() + "-" + quarter())
			if err != nil {
				continue // start == end, or 24:00 as a start
			}
			entries = append(entries, e)
		}
		near := utc(pl.near[rng.IntN(len(pl.near))])
		var holidays []Date
		if rng.IntN(2) == 0 {
			_, off := near.In(loc).Zone()
			holidays = append(holidays, dateOf(floorDiv(near.Unix()+int64(off), secondsPerDay)+int64(rng.IntN(3)-1)))
		}
		s := New(loc, entries, holidays)
		at := near.Add(time.Duration(rng.IntN(4*24*4)-2*24*4) * quarterHour).Add(time.Duration(rng.IntN(3)) * time.Minute)
		name := fmt.Sprintf("%s at %s", s, at.In(loc))

		next, ok := s.NextOpen(at)
		if ok {
			require.False(t, next.Before(at), name)
			require.True(t, s.Open(next), name)
			if next.After(at) {
				require.False(t, s.Open(next.Add(-time.Second)), "%s: open just before NextOpen %s", name, next)
				for q := at.Truncate(quarterHour).Add(quarterHour); q.Before(next); q = q.Add(quarterHour) {
					require.False(t, s.Open(q), "%s: open at %s, before NextOpen %s", name, q.In(loc), next)
				}
			}
		} else {
			for q := at.Truncate(quarterHour).Add(quarterHour); q.Before(at.Add(10 * 24 * time.Hour)); q = q.Add(quarterHour) {
				require.False(t, s.Open(q), "%s: open at %s, but NextOpen found nothing", name, q.In(loc))
			}
		}

		closes, ok := s.NextClose(at)
		if !s.Open(at) {
			require.False(t, ok, name)
			continue
		}
		require.True(t, ok, "%s: never closes", name)
		require.True(t, closes.After(at), name)
		require.False(t, s.Open(closes), name)
		for q := at.Truncate(quarterHour).Add(quarterHour); q.Before(closes); q = q.Add(quarterHour) {
			require.True(t, s.Open(q), "%s: closed at %s, before NextClose %s", name, q.In(loc), closes)
		}
	}
}

// TestAgainstWallClock checks Open against a plain wall-clock reading on
// days without a DST change, where the two must agree.
func TestAgainstWallClock(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	entries := []string{"Mon-Fri 09:00-18:00", "Fri 22:00-02:00", "Daily 23:30-00:15", "Sat,Sun 10:00-24:00"}
	s := schedule(t, "America/New_York", entries, "2026-07-03", "2026-07-04")
	var es []Entry
	for _, text := range entries {
		e, _ := ParseEntry(text)
		es = append(es, e)
	}
	wallOpen := func(lt time.Time) bool {
		day := Date{lt.Year(), lt.Month(), lt.Day()}.dayNumber()
		m := uint16(lt.Hour()*60 + lt.Minute())
		holiday := func(d int64) bool { return dateOf(d) == Date{2026, 7, 3} || dateOf(d) == Date{2026, 7, 4} }
		for _, e := range es {
			switch {
			case e.on(weekdayOf(day)) && !e.crosses() && e.start <= m && m < e.end && !holiday(day):
				return true
			case e.on(weekdayOf(day)) && e.crosses() && m >= e.start && !holiday(day):
				return true
			case e.on(weekdayOf(day-1)) && e.crosses() && m < e.end && !holiday(day):
				return true
			}
		}
		return false
	}
	start := utc("2026-06-01 00:00:00")
	for range 5000 {
		at := start.Add(time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
		require.Equal(t, wallOpen(at.In(s.loc)), s.Open(at), "at %s", at.In(s.loc))
	}
}

func BenchmarkNextOpen(b *testing.B) {
	s := schedule(b, "America/New_York", []string{"Mon-Fri 09:00-18:00"}, "2026-12-25", "2027-01-01", "2026-11-26")
	// Friday 18:00 EDT before the fall-back weekend: the answer is Monday.
	at := utc("2026-10-30 22:00:00")
	for b.Loop() {
		if _, ok := s.NextOpen(at); !ok {
			b.Fatal("no next open")
		}
	}
}

func BenchmarkOpen(b *testing.B) {
	s := schedule(b, "America/New_York", []string{"Mon-Fri 09:00-18:00"}, "2026-12-25")
	at := utc("2026-10-30 15:00:00")
	for b.Loop() {
		s.Open(at)
	}
}

// BenchmarkNextCloseNever measures the worst case, a search of every day of
// the horizon: a window that is always open.
func BenchmarkNextCloseNever(b *testing.B) {
	s := schedule(b, "America/New_York", []string{"Daily 00:00-24:00"})
	at := utc("2026-10-30 22:00:00")
	for b.Loop() {
		if _, ok := s.NextClose(at); ok {
			b.Fatal("closes")
		}
	}
}
