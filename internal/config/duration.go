package config

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// errDaysTooLong is returned for a whole-day duration that does not fit in a
// time.Duration (about 292 years).
var errDaysTooLong = errors.New("duration too long")

// parseDuration accepts Go duration syntax ("90s", "10m", "1h30m") and, since
// bakes are often measured in days and Go has no day unit, a whole number of
// days ("2d"). A leading sign is accepted on both so that the caller can say
// "must not be negative" rather than "invalid".
func parseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		sign := time.Duration(1)
		if rest, ok := strings.CutPrefix(days, "-"); ok {
			sign, days = -1, rest
		} else if rest, ok := strings.CutPrefix(days, "+"); ok {
			days = rest
		}
		if days != "" && strings.Trim(days, "0123456789") == "" {
			n, err := strconv.ParseInt(days, 10, 64)
			if err != nil || n > math.MaxInt64/int64(24*time.Hour) {
				return 0, errDaysTooLong
			}
			return sign * time.Duration(n) * 24 * time.Hour, nil
		}
	}
	return time.ParseDuration(s)
}
