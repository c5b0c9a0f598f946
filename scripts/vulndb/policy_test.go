package main

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// goVersion is the Go release bakery is built and tested with: the first
// one without the standard-library vulnerabilities (net/http, html/template,
// crypto/tls, crypto/x509) that Go 1.26.8 has.
const goVersion = "1.27.3"

// TestGoToolchainPolicy fails when the tests run with an older Go, or when
// a script, the Makefile, the README or go.mod stops pinning the release.
func TestGoToolchainPolicy(t *testing.T) {
	t.Parallel()
	if v, ok := strings.CutPrefix(runtime.Version(), "go"); ok && !strings.Contains(v, "devel") {
		if strings.Count(v, ".") == 1 {
			v += ".0"
		}
		require.GreaterOrEqual(t, semverCompare(v, goVersion), 0,
			"built with %s: export GOTOOLCHAIN=go%s (the scripts do)", runtime.Version(), goVersion)
	}

	root := filepath.Join("..", "..")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		require.NoError(t, err)
		return string(b)
	}
	for _, name := range []string{"scripts/test.sh", "scripts/demo.sh", "scripts/vulncheck.sh", ".ci/run", "README.md"} {
		require.Regexp(t, `export GOTOOLCHAIN=("\$\{GOTOOLCHAIN:-)?go`+regexp.QuoteMeta(goVersion), read(name), name)
	}
	require.Contains(t, read("Makefile"), "export GOTOOLCHAIN := go"+goVersion)
	require.Regexp(t, `(?m)^go `+regexp.QuoteMeta(goVersion)+`$`, read("go.mod"))

	// The test command runs the scan, and the scan fails on what it finds.
	require.Regexp(t, `(?m)^\./scripts/vulncheck\.sh$`, read("scripts/test.sh"))
	scan := read("scripts/vulncheck.sh")
	require.Contains(t, scan, `-db "file://$db"`)
	require.Regexp(t, `(?s)3\).*exit 1`, scan)
	require.Regexp(t, `(?s)CI:-.*= true.*exit 1`, scan)
}
