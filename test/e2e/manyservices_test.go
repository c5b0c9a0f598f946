package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestSelectorLockAcrossIncludedFiles drives issue 15's config and
// selectors through the binary: services split across included files get
// their environments from defaults and their labels from a template; one
// lock by selector (one record) holds production for every service of the
// team, not for the others; a service added by a reload that matches is
// held too; the selector unlock lets them all go.
func TestSelectorLockAcrossIncludedFiles(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	services := filepath.Join(w.dir, "services")
	require.NoError(t, os.MkdirAll(services, 0o755))
	main := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [%s]
include: ["services/*.yaml"]
defaults:
  environments:
    - name: staging
      deploy:
        command: ["./deploy.sh"]
    - name: production
      bake: 1s
      deploy:
        command: ["./deploy.sh"]
templates:
  payments: {labels: {team: payments}}
`, w.addr, testInheritEnv)
	require.NoError(t, os.WriteFile(w.config, []byte(main), 0o644))
	write := func(name, body string) {
		// Paths in deploy commands are relative to the main file.
		require.NoError(t, os.WriteFile(filepath.Join(services, name), []byte(body), 0o644))
	}
	write("payments.yaml", "services:\n  - {name: checkout, use: payments}\n  - {name: ledger, use: payments}\n")
	write("search.yaml", "services:\n  - {name: search, labels: {team: search}}\n")
	out, _, err := w.bakery(nil, "config", "show", "ledger", "--config", w.config)
	require.NoError(t, err)
	require.Contains(t, out, "team: payments # ")
	require.Contains(t, out, "(template payments)")
	w.start()

	out, stderr, err := w.bakery(nil, "lock", "--selector", "team=payments", "production", "--reason", "INC-7: payments freeze")
	require.NoError(t, err, "lock by selector: %s", stderr)
	require.Contains(t, out+stderr, "team=payments")

	for _, svc := range []string{"checkout", "ledger", "search"} {
		w.release(svc, "v1")
	}
	w.eventually(60*time.Second, "search in production", func() bool { return w.version("search", "production") == "v1" })
	for _, svc := range []string{"checkout", "ledger"} {
		w.eventually(30*time.Second, svc+" baked and held", func() bool {
			st := w.status(svc)
			return w.version(svc, "staging") == "v1" && st.Environments[1].Waiting.Kind == "lock" && st.Environments[1].Waiting.Version == "v1"
		})
	}

	// A reload adds a payments service: the same lock holds it.
	write("payments.yaml", "services:\n  - {name: checkout, use: payments}\n  - {name: ledger, use: payments}\n  - {name: refunds, use: payments}\n")
	require.NoError(t, w.server.cmd.Process.Signal(syscall.SIGHUP))
	w.eventually(20*time.Second, "refunds known", func() bool {
		code := w.call(adminToken, "GET", "/api/v1/services/refunds", nil, nil)
		return code == 200
	})
	w.release("refunds", "v1")
	w.eventually(30*time.Second, "refunds baked and held", func() bool {
		st := w.status("refunds")
		return w.version("refunds", "staging") == "v1" && st.Environments[1].Waiting.Kind == "lock" && st.Environments[1].Waiting.Version == "v1"
	})
	// Each decision says v1 is baked and waits for the unlock: only the
	// lock holds them.
	for _, svc := range []string{"checkout", "ledger", "refunds"} {
		require.Empty(t, w.version(svc, "production"), "%s must not reach production while its team is locked", svc)
	}
	var locks struct {
		Locks []struct {
			Selector string `json:"selector"`
		} `json:"locks"`
	}
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/locks", nil, &locks))
	n := 0
	for _, l := range locks.Locks {
		if l.Selector != "" {
			n++
			require.Equal(t, "team=payments", l.Selector)
		}
	}
	require.Equal(t, 1, n, "one lock record for the selector, not one per service: %+v", locks.Locks)

	_, stderr, err = w.bakery(nil, "unlock", "--selector", "team=payments", "production", "--reason", "INC-7 over")
	require.NoError(t, err, "unlock by selector: %s", stderr)
	for _, svc := range []string{"checkout", "ledger", "refunds"} {
		w.eventually(60*time.Second, svc+" in production", func() bool { return w.version(svc, "production") == "v1" })
	}
	require.False(t, strings.Contains(w.server.Logs(), "panic"))
}
