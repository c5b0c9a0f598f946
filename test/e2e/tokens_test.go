package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestTokenLifecycle: create with an expiry, list, revoke, and the revoked
// token refused by the real binary; the bootstrap token applies only
// while no admin exists, and a weak one stops the server.
func TestTokenLifecycle(t *testing.T) {
	t.Parallel()
	w := newWorld(t, worldOpts{bake: time.Second})
	w.start()

	secret, stderr, err := w.bakery(nil, "token", "create", "--name", "ci", "--role", "deployer", "--expires", "90d")
	require.NoError(t, err, stderr)
	secret = strings.TrimSpace(secret)
	require.Contains(t, stderr, "token ci (deployer, expires ")
	_, stderr, err = w.bakery(nil, "token", "create", "--name", "Bakery", "--role", "viewer")
	require.Error(t, err)
	require.Contains(t, stderr, "reserved")

	out, stderr, err := w.bakery(nil, "token", "list")
	require.NoError(t, err, stderr)
	require.Regexp(t, `NAME\s+ROLE\s+CREATED\s+LAST USED\s+EXPIRES\s+STATE`, out)
	require.Regexp(t, `bootstrap\s+admin\s+\S+ \S+\s+\S+ \S+\s+never\s+active`, out)
	require.Regexp(t, `ci\s+deployer\s+\S+ \S+\s+never\s+\d{4}-\d\d-\d\d \S+\s+active`, out)
	_, _, err = w.bakery([]string{"BAKERY_TOKEN=" + secret}, "status", "web")
	require.NoError(t, err, "the new token works")
	out, _, err = w.bakery(nil, "token", "list", "--json")
	require.NoError(t, err)
	var list struct {
		Tokens []struct {
			Name       string     `json:"name"`
			LastUsedAt *time.Time `json:"last_used_at"`
			ExpiresAt  *time.Time `json:"expires_at"`
		} `json:"tokens"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &list))
	require.Len(t, list.Tokens, 2)
	require.Equal(t, "ci", list.Tokens[1].Name)
	require.NotNil(t, list.Tokens[1].LastUsedAt, "its use was recorded")
	require.WithinDuration(t, time.Now().Add(90*24*time.Hour), *list.Tokens[1].ExpiresAt, time.Hour)

	out, stderr, err = w.bakery(nil, "token", "revoke", "ci", "--reason", "leaked")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "token ci revoked")
	_, stderr, err = w.bakery([]string{"BAKERY_TOKEN=" + secret}, "status", "web")
	require.Error(t, err)
	require.Contains(t, stderr, "token revoked (HTTP 401)")

	// A restart with a new bootstrap value while an admin exists adds
	// nothing, and says so.
	w.kill()
	fresh := "Zm9yIHRoZSBzZWNvbmQgc3RhcnQgb25seSwgbm90IHZhbGlk"
	w.env = append(w.env, "BAKERY_BOOTSTRAP_TOKEN="+fresh)
	s := w.start()
	require.Contains(t, s.Logs(), "BAKERY_BOOTSTRAP_TOKEN is set but ignored")
	_, stderr, err = w.bakery([]string{"BAKERY_TOKEN=" + fresh}, "status", "web")
	require.Error(t, err)
	require.Contains(t, stderr, "invalid token (HTTP 401)")

	// A weak bootstrap token stops the server before it starts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bakeryBin, "serve", "--config", w.config, "--db", "sqlite://"+t.TempDir()+"/weak.db", "--addr", freeAddr(t))
	cmd.Env = append(os.Environ(), "BAKERY_BOOTSTRAP_TOKEN=changeme")
	b, err := cmd.CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(b), "at least 32")
	require.Contains(t, string(b), "openssl rand -base64 32")
}
