package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// entry is the part of an OSV entry the indexes are built from; the entry
// file itself is copied byte for byte, so fields not named here survive.
type entry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []osvRange `json:"ranges"`
	} `json:"affected"`
}

type osvRange struct {
	Type   string `json:"type"`
	Events []struct {
		Introduced string `json:"introduced,omitempty"`
		Fixed      string `json:"fixed,omitempty"`
	} `json:"events"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Fixed    string    `json:"fixed,omitempty"`
}

type module struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// idPattern is what an entry's ID must look like: it becomes a file name,
// so nothing else (no separator, no "..") may pass.
var idPattern = regexp.MustCompile(`^GO-[0-9]{4}-[0-9]{4,}$`)

// pseudoTime matches the time stamp of a pseudo-version such as
// v0.0.0-20261105234957-e22db6528018.
var pseudoTime = regexp.MustCompile(`-(?:0\.)?([0-9]{14})-[0-9a-f]{12}$`)

// Build reads every OSV entry in src/data/osv and writes the database to
// out, returning the number of entries. Entries whose modification time is
// unset (x/vulndb sets it from git history when it publishes, not in the
// module) get the time of the module's pseudo-version, when version is one.
func Build(src, out, version string) (int, error) {
	osvDir := filepath.Join(src, "data", "osv")
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return 0, fmt.Errorf("error listing %s: %w", osvDir, err)
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no OSV entries in %s (is -src the golang.org/x/vulndb module's directory?)", osvDir)
	}
	var fallback time.Time
	if m := pseudoTime.FindStringSubmatch(version); m != nil {
		fallback, err = time.Parse("20060102150405", m[1])
		if err != nil {
			return 0, fmt.Errorf("error reading the time of version %s: %w", version, err)
		}
	}

	tmp, err := os.MkdirTemp(filepath.Dir(filepath.Clean(out)), "."+filepath.Base(out)+".tmp-")
	if err != nil {
		return 0, fmt.Errorf("error creating the output directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Mkdir(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return 0, err
	}
	if err := os.Mkdir(filepath.Join(tmp, "index"), 0o755); err != nil {
		return 0, err
	}

	var meta dbMeta
	modules := map[string]*module{}
	vulns := make([]vuln, 0, len(files))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return 0, fmt.Errorf("error reading %s: %w", f, err)
		}
		var e entry
		if err := json.Unmarshal(raw, &e); err != nil {
			return 0, fmt.Errorf("error parsing %s: %w", f, err)
		}
		if !idPattern.MatchString(e.ID) || filepath.Base(f) != e.ID+".json" {
			return 0, fmt.Errorf("%s: entry id %q does not match its file name", f, e.ID)
		}
		if e.Modified.IsZero() && !fallback.IsZero() {
			e.Modified = fallback
			if raw, err = setModified(raw, fallback); err != nil {
				return 0, fmt.Errorf("error stamping %s: %w", f, err)
			}
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return 0, err
		}
		if e.Modified.After(meta.Modified) {
			meta.Modified = e.Modified
		}
		vulns = append(vulns, vuln{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		for _, a := range e.Affected {
			m := modules[a.Package.Name]
			if m == nil {
				m = &module{Path: a.Package.Name, Vulns: []moduleVuln{}}
				modules[a.Package.Name] = m
			}
			m.Vulns = append(m.Vulns, moduleVuln{ID: e.ID, Modified: e.Modified, Fixed: nonSupersededFix(a.Ranges)})
		}
	}

	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	mods := make([]*module, 0, len(modules))
	for _, m := range modules {
		sort.SliceStable(m.Vulns, func(i, j int) bool { return m.Vulns[i].ID < m.Vulns[j].ID })
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for name, v := range map[string]any{"db.json": meta, "modules.json": mods, "vulns.json": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return 0, err
		}
		if err := os.WriteFile(filepath.Join(tmp, "index", name), b, 0o644); err != nil {
			return 0, err
		}
	}

	if err := os.RemoveAll(out); err != nil {
		return 0, fmt.Errorf("error replacing %s: %w", out, err)
	}
	if err := os.Rename(tmp, out); err != nil {
		return 0, fmt.Errorf("error moving the database into %s: %w", out, err)
	}
	return len(files), nil
}

// setModified rewrites an entry's "modified" field, keeping every other
// field as it was.
func setModified(raw []byte, t time.Time) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, err
	}
	ts, err := json.Marshal(t)
	if err != nil {
		return nil, err
	}
	fields["modified"] = ts
	return json.Marshal(fields)
}

// nonSupersededFix is the newest fixed version over an entry's SEMVER
// ranges, or "" when the vulnerability was introduced again after it; the
// same rule as x/vuln's internal/semver.NonSupersededFix. govulncheck uses
// it to skip entries for module versions at or above the fix.
func nonSupersededFix(ranges []osvRange) string {
	var latest string
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		for _, e := range r.Events {
			if e.Fixed != "" && semverLess(latest, e.Fixed) {
				latest = e.Fixed
			}
		}
		for _, e := range r.Events {
			if e.Introduced != "" && e.Introduced != "0" && semverLess(latest, e.Introduced) {
				latest = ""
				break
			}
		}
	}
	return latest
}

// semverLess reports whether a < b for SemVer 2.0.0 versions without a
// leading "v". Invalid versions (and "") sort before valid ones.
func semverLess(a, b string) bool { return semverCompare(a, b) < 0 }

func semverCompare(a, b string) int {
	pa, errA := parseSemver(a)
	pb, errB := parseSemver(b)
	switch {
	case errA != nil && errB != nil:
		return 0
	case errA != nil:
		return -1
	case errB != nil:
		return 1
	}
	for i := 0; i < 3; i++ {
		if c := compareNumeric(pa.core[i], pb.core[i]); c != 0 {
			return c
		}
	}
	// A version without pre-release identifiers is greater than one with.
	switch {
	case len(pa.pre) == 0 && len(pb.pre) == 0:
		return 0
	case len(pa.pre) == 0:
		return 1
	case len(pb.pre) == 0:
		return -1
	}
	for i := 0; i < len(pa.pre) && i < len(pb.pre); i++ {
		x, y := pa.pre[i], pb.pre[i]
		xn, yn := isNumeric(x), isNumeric(y)
		var c int
		switch {
		case xn && yn:
			c = compareNumeric(x, y)
		case xn:
			c = -1
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c
		}
	}
	return compareInt(len(pa.pre), len(pb.pre))
}

type semver struct {
	core [3]string
	pre  []string
}

var errInvalidSemver = errors.New("invalid semantic version")

func parseSemver(v string) (semver, error) {
	var s semver
	if i := strings.IndexByte(v, '+'); i >= 0 {
		v = v[:i]
	}
	if i := strings.IndexByte(v, '-'); i >= 0 {
		for _, id := range strings.Split(v[i+1:], ".") {
			if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
				return s, errInvalidSemver
			}
			s.pre = append(s.pre, id)
		}
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if len(parts) != 3 {
		return s, errInvalidSemver
	}
	for i, p := range parts {
		if !isNumeric(p) {
			return s, errInvalidSemver
		}
		s.core[i] = p
	}
	return s, nil
}

func isNumeric(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compareNumeric compares two digit strings of any length.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if c := compareInt(len(a), len(b)); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func compareInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
