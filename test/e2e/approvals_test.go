package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
)

func (w *world) deployerToken(name string) string {
	w.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	require.Equal(w.t, http.StatusCreated, w.call(adminToken, "POST", "/api/v1/tokens", api.TokenRequest{Name: name, Role: "deployer"}, &tok))
	return tok.Token
}

// approvalsConfig is web with production after staging (bake given),
// with extra YAML for production's block.
func approvalsConfig(w *world, bake, production string) {
	cfg := fmt.Sprintf(`server:
  addr: %s
  inherit_env: [%s]
services:
  - name: web
    environments:
      - name: staging
        deploy:
          command: ["./deploy.sh"]
      - name: production
        bake: %s
        deploy:
          command: ["./deploy.sh"]
%s`, w.addr, testInheritEnv, bake, production)
	require.NoError(w.t, os.WriteFile(w.config, []byte(cfg), 0o644))
}

// TestFixLaneThroughLock: with production locked, a fix release created
// by ana goes through staging, bakes its short fix bake, is refused ana's
// own approval, and passes the lock after bo's; the lock stays for every
// other release.
func TestFixLaneThroughLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	approvalsConfig(w, "3s", "        fix: {bake: 1s, approvals: 1}\n")
	w.start()
	ana, bo := w.deployerToken("ana"), w.deployerToken("bo")
	as := func(tok string) []string { return []string{"BAKERY_TOKEN=" + tok} }

	_, stderr, err := w.bakery(as(ana), "release", "create", "web", "v1", "--author", "ana")
	require.NoError(t, err, stderr)
	w.eventually(20*time.Second, "v1 in staging", func() bool { return w.version("web", "staging") == "v1" })
	_, stderr, err = w.bakery(nil, "lock", "web", "production", "--reason", "INC-42: checkout errors")
	require.NoError(t, err, stderr)

	_, stderr, err = w.bakery(as(ana), "release", "create", "web", "fix1", "--fix")
	require.Error(t, err)
	require.Contains(t, stderr, "--fix needs --reason")
	out, stderr, err := w.bakery(as(ana), "release", "create", "web", "fix1", "--fix", "--reason", "INC-42: revert the cache change")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "it is a fix")
	w.eventually(20*time.Second, "the fix goes through staging", func() bool { return w.version("web", "staging") == "fix1" })
	w.eventually(10*time.Second, "the lock's wait says what the fix needs", func() bool {
		return strings.Contains(w.status("web").Environments[1].Waiting.Message,
			"fix fix1 may pass the lock after 1 more approval by someone other than its creator ana (bakery approve web production fix1 --reason R)")
	})

	_, stderr, err = w.bakery(as(ana), "approve", "web", "production", "fix1", "--reason", "looks right to me")
	require.Error(t, err, "the creator cannot approve its own fix")
	require.Contains(t, stderr, "you created the fix fix1; its approval into production must come from someone else")
	time.Sleep(2 * time.Second) // past the fix bake: still locked without bo's approval
	require.Equal(t, "", w.version("web", "production"))
	require.Equal(t, "lock", w.status("web").Environments[1].Waiting.Kind)

	out, stderr, err = w.bakery(as(bo), "approve", "web", "production", "fix1", "--reason", "reviewed the revert")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "bo approved fix1 into production")
	w.eventually(20*time.Second, "the fix passes the lock", func() bool { return w.version("web", "production") == "fix1" })
	st := w.status("web").Environments[1]
	require.True(t, st.Locked, "the lock stays")
	decided := findEvent(w.events("web"), "promotion.decided", "production", "fix1")
	require.NotNil(t, decided)
	require.Contains(t, decided.Reason, "fix fix1 baked in staging for its fix bake of 1s and was approved by bo; it passes the lock by")
	approved := findEvent(w.events("web"), "release.approved", "production", "fix1")
	require.NotNil(t, approved)
	require.Equal(t, "bo", approved.Actor)
	var rel api.ReleaseProgress
	require.Equal(t, 200, w.call(adminToken, "GET", "/api/v1/services/web/releases/fix1", nil, &rel))
	require.True(t, rel.Release.Fix)
	require.Equal(t, "ana", rel.Release.Creator)

	// The lock stays for every other release.
	_, stderr, err = w.bakery(as(ana), "release", "create", "web", "v2")
	require.NoError(t, err, stderr)
	w.eventually(20*time.Second, "v2 in staging", func() bool { return w.version("web", "staging") == "v2" })
	time.Sleep(4 * time.Second) // past v2's 3 s bake
	require.Equal(t, "fix1", w.version("web", "production"))
	require.Equal(t, "lock", w.status("web").Environments[1].Waiting.Kind)
	// Approving a normal release where there is only a fix lane is refused.
	_, stderr, err = w.bakery(as(bo), "approve", "web", "production", "v2", "--reason", "x")
	require.Error(t, err)
	require.Contains(t, stderr, "v2 is not a fix release")
}

// TestApprovalGateWithWindowAndLock: a baked release waits for an approval
// by someone other than its author; approved, it waits for the window;
// with the window open (a reload) a lock still holds it; unlocked, it is
// promoted.
func TestApprovalGateWithWindowAndLock(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{})
	closed := time.Now().UTC().Add(6 * time.Hour).Truncate(time.Minute)
	window := fmt.Sprintf("        windows:\n          timezone: UTC\n          allow: [%q]\n", fmt.Sprintf("Daily %s-%s", closed.Format("15:04"), closed.Add(time.Minute).Format("15:04")))
	gate := "        approval: {required: true, count: 1, not_author: true}\n"
	approvalsConfig(w, "1s", gate+window)
	w.start()
	ana, bo := w.deployerToken("ana"), w.deployerToken("bo")
	as := func(tok string) []string { return []string{"BAKERY_TOKEN=" + tok} }

	_, stderr, err := w.bakery(as(bo), "release", "create", "web", "v1", "--author", "ana")
	require.NoError(t, err, stderr)
	w.eventually(20*time.Second, "v1 baked and waiting for an approval", func() bool {
		return w.status("web").Environments[1].Waiting.Kind == "approval"
	})
	require.Equal(t, "v1 is ready and waits for 1 approval into production: any deployer but its author ana may approve (bakery approve web production v1 --reason R)",
		w.status("web").Environments[1].Waiting.Message)

	_, stderr, err = w.bakery(as(ana), "approve", "web", "production", "v1", "--reason", "mine, fine")
	require.Error(t, err)
	require.Contains(t, stderr, "ana is the author of v1")
	_, stderr, err = w.bakery(as(bo), "approve", "web", "production", "v1", "--reason", "reviewed")
	require.NoError(t, err, stderr)
	w.eventually(10*time.Second, "approved: now the window", func() bool { return w.status("web").Environments[1].Waiting.Kind == "window" })
	_, stderr, err = w.bakery(as(bo), "approve", "web", "production", "v1", "--reason", "again")
	require.Error(t, err)
	require.Contains(t, stderr, "approved v1 into production already")

	_, stderr, err = w.bakery(nil, "lock", "web", "production", "--reason", "freeze")
	require.NoError(t, err, stderr)
	approvalsConfig(w, "1s", gate) // the window opens: no windows block
	require.NoError(t, w.server.cmd.Process.Signal(syscall.SIGHUP))
	w.eventually(10*time.Second, "reloaded", func() bool { return strings.Contains(w.server.Logs(), "configuration reloaded") })
	w.eventually(10*time.Second, "the lock holds", func() bool { return w.status("web").Environments[1].Waiting.Kind == "lock" })
	time.Sleep(time.Second)
	require.Equal(t, "", w.version("web", "production"))
	_, stderr, err = w.bakery(nil, "unlock", "web", "production", "--reason", "freeze over")
	require.NoError(t, err, stderr)
	w.eventually(20*time.Second, "promoted once unlocked", func() bool { return w.version("web", "production") == "v1" })
}
