package migrations

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The drivers return different Go types for the same column (a boolean is
// bool on PostgreSQL, int64 on MySQL and SQLite; a timestamp is time.Time or
// text on SQLite), so rows are scanned into any and converted here.

// idString converts a scanned ID (version, name) to its normal string form.
func idString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case []byte:
		return strings.TrimSpace(string(x))
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case int:
		return strconv.Itoa(x)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.FormatInt(int64(x), 10)
		}
		return strconv.FormatFloat(x, 'f', -1, 64)
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// truthy reports whether a scanned value counts as true: a true boolean, a
// non-zero number, a non-empty string other than 0/f/false/n/no, any time.
func truthy(v any) bool {
	switch x := v.(type) {
	case nil:
		return false
	case bool:
		return x
	case int64:
		return x != 0
	case int32:
		return x != 0
	case int:
		return x != 0
	case uint64:
		return x != 0
	case float64:
		return x != 0
	case time.Time:
		return true
	case []byte:
		return truthyString(string(x))
	case string:
		return truthyString(x)
	}
	return true
}

func truthyString(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "0", "f", "false", "n", "no", "off":
		return false
	}
	return true
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999-07",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// timeValue converts a scanned timestamp to a UTC time; nil for NULL or
// anything that is not a time. Text without a zone is taken as UTC; an
// integer is Unix seconds, or milliseconds when it is too large for seconds.
func timeValue(v any) *time.Time {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case []byte:
		return timeValue(string(x))
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return timeValue(n)
		}
		for _, layout := range timeLayouts {
			if p, err := time.Parse(layout, s); err == nil {
				t = p
				break
			}
		}
	case int64:
		if x <= 0 {
			return nil
		}
		if x > 1e11 {
			t = time.UnixMilli(x)
		} else {
			t = time.Unix(x, 0)
		}
	case float64:
		return timeValue(int64(x))
	default:
		return nil
	}
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// numeric reports whether s is a non-empty string of ASCII digits.
func numeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares two digit strings as numbers of any size.
func compareNumeric(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// compareIDs orders migration IDs: numbers numerically and before anything
// else, the rest as strings.
func compareIDs(a, b string) int {
	na, nb := numeric(a), numeric(b)
	switch {
	case na && nb:
		if c := compareNumeric(a, b); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	case na:
		return -1
	case nb:
		return 1
	}
	return strings.Compare(a, b)
}

// sameID reports whether two IDs name the same migration: equal strings, or
// equal numbers ("00042" is goose version 42).
func sameID(a, b string) bool {
	if a == b {
		return true
	}
	return numeric(a) && numeric(b) && compareNumeric(a, b) == 0
}
