package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestBuild(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "db")
	n, err := Build("testdata/vulndb", out, "v0.0.0-20261105234957-e22db6528018")
	require.NoError(t, err)
	require.Equal(t, 2, n)

	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		return string(b)
	}
	// The entry with a modification time sets the database's; the one
	// without gets the pseudo-version's time.
	require.JSONEq(t, `{"modified":"2099-01-02T03:04:05Z"}`, read("index/db.json"))
	require.JSONEq(t, `[
		{"path":"example.com/mod","vulns":[{"id":"GO-2099-0002","modified":"2026-11-05T23:49:57Z"}]},
		{"path":"stdlib","vulns":[
			{"id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z","fixed":"1.27.1"},
			{"id":"GO-2099-0002","modified":"2026-11-05T23:49:57Z","fixed":"1.10.0-rc.2"}]}
	]`, read("index/modules.json"))
	require.JSONEq(t, `[
		{"id":"GO-2099-0001","modified":"2099-01-02T03:04:05Z","aliases":["CVE-2099-0001"]},
		{"id":"GO-2099-0002","modified":"2026-11-05T23:49:57Z"}
	]`, read("index/vulns.json"))

	// Entries keep every field, including those the indexes do not read.
	var e map[string]any
	require.NoError(t, json.Unmarshal([]byte(read("ID/GO-2099-0001.json")), &e))
	require.Contains(t, e["affected"].([]any)[0], "ecosystem_specific")
	require.NoError(t, json.Unmarshal([]byte(read("ID/GO-2099-0002.json")), &e))
	require.Equal(t, "2026-11-05T23:49:57Z", e["modified"])

	// A second build replaces the first and leaves no temporary directory.
	_, err = Build("testdata/vulndb", out, "")
	require.NoError(t, err)
	entries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	require.Len(t, entries, 1)
}

func TestBuildRefusesBadEntries(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct{ file, body, wantErr string }{
		"id names another file": {"GO-2099-0001.json", `{"id":"GO-2099-0002"}`, "does not match its file name"},
		"id is a path":          {"x.json", `{"id":"../x"}`, "does not match its file name"},
		"not json":              {"GO-2099-0001.json", `{`, "error parsing"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := t.TempDir()
			require.NoError(t, os.MkdirAll(filepath.Join(src, "data", "osv"), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(src, "data", "osv", tc.file), []byte(tc.body), 0o644))
			out := filepath.Join(t.TempDir(), "db")
			_, err := Build(src, out, "")
			require.ErrorContains(t, err, tc.wantErr)
			require.NoDirExists(t, out)
		})
	}
	_, err := Build(t.TempDir(), filepath.Join(t.TempDir(), "db"), "")
	require.ErrorContains(t, err, "no OSV entries")
}

func TestSemverCompare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.2.3", "1.2.3", 0},
		{"1.2.3", "1.2.4", -1},
		{"1.10.0", "1.9.9", 1},
		{"1.27.0-0", "1.27.0", -1},
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0+build.5", "1.0.0", 0},
		{"0.0.0-20250721152936-fe86ceb2c3fa", "0.0.0-20260626085133-7cb96ac80a6d", -1},
		{"", "0.0.1", -1},
		{"v1.2.3", "1.2.3", -1}, // invalid (leading v) sorts first
		{"junk", "", 0},
	} {
		require.Equal(t, tc.want, semverCompare(tc.a, tc.b), "%q vs %q", tc.a, tc.b)
		require.Equal(t, -tc.want, semverCompare(tc.b, tc.a), "%q vs %q", tc.b, tc.a)
	}
}
