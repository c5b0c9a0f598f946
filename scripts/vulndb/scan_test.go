package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

// govulncheckPath is where scripts/vulncheck.sh installs govulncheck
// (test.sh runs it before the tests).
func govulncheckPath() string {
	cache := os.Getenv("BAKERY_VULNDB_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "bakery-vulndb")
	}
	return filepath.Join(cache, "govulncheck-v1.9.0", "govulncheck")
}

// TestGovulncheckFindsWhatTheDatabaseHolds guards against a scan that
// passes because it reads nothing: govulncheck, given a database this
// converter built, must report a (made-up) vulnerability in fmt.Println as
// reachable from a program that calls it, and exit with status 3, which
// scripts/vulncheck.sh turns into a failed test run.
func TestGovulncheckFindsWhatTheDatabaseHolds(t *testing.T) {
	t.Parallel()
	bin := govulncheckPath()
	if _, err := os.Stat(bin); err != nil {
		testutil.SkipOrFail(t, "govulncheck is not installed at %s (scripts/vulncheck.sh installs it)", bin)
	}
	db := filepath.Join(t.TempDir(), "db")
	_, err := Build("testdata/reachable", db, "")
	require.NoError(t, err)

	probe := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(probe, "go.mod"), []byte("module example.com/probe\n\ngo "+goVersion+"\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(probe, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n"), 0o644))
	cmd := exec.Command(bin, "-db", "file://"+db, "./...")
	cmd.Dir = probe
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=go"+goVersion, "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "govulncheck: %v\n%s", err, out)
	require.Equal(t, 3, exit.ExitCode(), "%s", out)
	require.Contains(t, string(out), "GO-2099-0100")
	require.Contains(t, string(out), "probe.main calls fmt.Println")
}
