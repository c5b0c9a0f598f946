package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/bakery-deploy/bakery/internal/window"
)

// maxICalSize bounds a holidays_ical file; real ones are a few kilobytes.
const maxICalSize = 16 << 20

// Messages shared by several problems of a windows block.
const (
	zoneForm      = "write an IANA time zone name of the form Area/City, e.g. America/New_York or Europe/Berlin, or UTC"
	allowRequired = `list when promotions may start, e.g. allow: ["Mon-Fri 09:00-18:00"] (to allow them at any time, remove the windows block)`
)

// windows walks an environment's windows block into a schedule. It returns
// nil when the block has problems, which are recorded.
func (p *parser) windows(n *yaml.Node, path string) *window.Schedule {
	before := len(p.problems)
	f, ok := p.mapping(n, n, path, "windows", windowsFields)
	if !ok {
		return nil
	}
	loc := p.timezone(f)
	entries := p.allow(f)
	holidays := p.holidays(f)
	if v := f.get("holidays_ical"); v != nil {
		holidays = append(holidays, p.holidaysICal(v, f.field("holidays_ical"))...)
	}
	if len(p.problems) > before {
		return nil
	}
	return window.New(loc, entries, holidays)
}

// timezone loads windows.timezone, which is required.
func (p *parser) timezone(f fields) *time.Location {
	field := f.field("timezone")
	v := f.get("timezone")
	if v == nil {
		p.add(f.at("timezone"), field, "timezone is required when windows is set: add the zone the hours are in, e.g. timezone: America/New_York (an IANA name of the form Area/City)")
		return nil
	}
	name, ok := p.scalar(v, field, "America/New_York")
	switch {
	case !ok:
		return nil
	case strings.TrimSpace(name) == "":
		p.add(v, field, "timezone is empty; %s", zoneForm)
		return nil
	case strings.EqualFold(name, "Local"):
		// time.LoadLocation accepts it, but it would make the hours depend
		// on the machine bakery runs on.
		p.add(v, field, "time zone %q means the zone of whichever machine runs bakery; %s", name, zoneForm)
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		p.add(v, field, "unknown time zone %q; %s", name, zoneForm)
		return nil
	}
	return loc
}

// allow parses windows.allow, a non-empty list of entries.
func (p *parser) allow(f fields) []window.Entry {
	field := f.field("allow")
	v := f.get("allow")
	switch {
	case v == nil:
		p.add(f.at("allow"), field, "allow is required when windows is set: %s", allowRequired)
		return nil
	case v.Kind == yaml.ScalarNode:
		p.add(v, field, "allow must be a list of entries; write allow: [%q]", v.Value)
		return nil
	case v.Kind != yaml.SequenceNode:
		p.add(v, field, `allow must be a list of entries such as ["Mon-Fri 09:00-18:00"]; got %s`, describe(v))
		return nil
	case len(v.Content) == 0:
		p.add(v, field, "allow is empty: %s", allowRequired)
		return nil
	}
	entries := make([]window.Entry, 0, len(v.Content))
	for i, item := range v.Content {
		ifield := fmt.Sprintf("%s[%d]", field, i)
		it := p.resolve(item)
		if isNull(it) || it.Kind != yaml.ScalarNode {
			p.add(item, ifield, `allow[%d] must be an entry such as "Mon-Fri 09:00-18:00"; got %s`, i, describe(it))
			continue
		}
		e, err := window.ParseEntry(it.Value)
		if err != nil {
			p.add(it, ifield, "%s", err)
			continue
		}
		entries = append(entries, e)
	}
	return entries
}

// holidays parses windows.holidays, an optional list of dates.
func (p *parser) holidays(f fields) []window.Date {
	field := f.field("holidays")
	v := f.get("holidays")
	if v == nil {
		return nil
	}
	if v.Kind != yaml.SequenceNode {
		p.add(v, field, `holidays must be a list of dates such as ["2026-12-25", "2027-01-01"]; got %s`, describe(v))
		return nil
	}
	dates := make([]window.Date, 0, len(v.Content))
	for i, item := range v.Content {
		ifield := fmt.Sprintf("%s[%d]", field, i)
		it := p.resolve(item)
		if isNull(it) || it.Kind != yaml.ScalarNode {
			p.add(item, ifield, "holidays[%d] must be a date such as 2026-12-25; got %s", i, describe(it))
			continue
		}
		d, err := window.ParseDate(it.Value)
		if err != nil {
			p.add(it, ifield, "%s", err)
			continue
		}
		dates = append(dates, d)
	}
	return dates
}

// holidaysICal reads the all-day events of windows.holidays_ical, a path
// relative to the directory of the configuration file.
func (p *parser) holidaysICal(n *yaml.Node, field string) []window.Date {
	name, ok := p.scalar(n, field, `"holidays.ics"`)
	if !ok {
		return nil
	}
	if strings.TrimSpace(name) == "" {
		p.add(n, field, "holidays_ical is empty; give the path of an iCalendar file, relative to this file, e.g. holidays.ics, or remove it")
		return nil
	}
	path := name
	if !filepath.IsAbs(path) {
		path = filepath.Join(p.dir, path)
	}
	dates, err := readICal(path)
	if err != nil {
		p.add(n, field, "%s", err)
		return nil
	}
	return dates
}

// readICal reads and parses an iCalendar file. Its errors are messages for
// a Problem: they name the file, and the line for a malformed file.
func readICal(path string) ([]window.Date, error) {
	const hint = "; check the path, which is relative to the directory of this configuration file"
	// Refuse devices and pipes before opening: reading /dev/zero would never end.
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read holidays_ical file %s: %s%s", path, pathErr(err), hint)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("holidays_ical %s is not a file%s", path, hint)
	}
	if info.Size() > maxICalSize {
		return nil, fmt.Errorf("holidays_ical file %s has %d bytes, more than the %d MiB a holidays file may have; keep only the holidays in it", path, info.Size(), maxICalSize>>20)
	}
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read holidays_ical file %s: %s%s", path, pathErr(err), hint)
	}
	defer file.Close()
	dates, err := window.ParseICal(io.LimitReader(file, maxICalSize))
	if err != nil {
		return nil, fmt.Errorf("holidays_ical file %s is not a valid iCalendar file: %w; all-day events (DTSTART;VALUE=DATE:20261225) are holidays", path, err)
	}
	return dates, nil
}

// pathErr returns the reason of a file error without the operation and
// path that *fs.PathError repeats.
func pathErr(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}
