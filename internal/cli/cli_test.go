package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/api"
	"github.com/bakery-deploy/bakery/internal/config"
	"github.com/bakery-deploy/bakery/internal/engine"
	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

// newTestServer starts a real engine on SQLite behind the real API and
// returns its URL and an admin token's secret.
func newTestServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := func(name string, bake time.Duration) config.Environment {
		return config.Environment{Name: name, Bake: bake, Deploy: config.Deploy{Command: []string{"/bin/true"}, Timeout: time.Minute}}
	}
	cfg := &config.Config{Services: []config.Service{
		{Name: "web", Labels: map[string]string{"team": "payments"}, Environments: []config.Environment{env("staging", 0), env("production", time.Hour)}},
	}}
	e := engine.New(engine.Options{Config: cfg, Logger: log})
	st, err := sqlstore.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "bakery.db"), sqlstore.Options{Workers: e.Workers(), Logger: log})
	require.NoError(t, err)
	require.NoError(t, e.Start(ctx, st))
	srv := httptest.NewServer(api.New(e, log, prometheus.NewRegistry()))
	t.Cleanup(func() {
		srv.Close()
		e.Stop(ctx)
		require.NoError(t, st.Close(ctx))
	})
	_, err = e.CreateToken(ctx, "test", engine.TokenParams{Name: "admin", Role: "admin", Hash: api.HashToken("admin-secret")})
	require.NoError(t, err)
	return srv.URL
}

// run runs one bakery command against server and returns what it printed
// and the error it returned, as main would print it.
func run(t *testing.T, server string, args ...string) string {
	t.Helper()
	var out bytes.Buffer
	root := newRoot(&out)
	root.SetArgs(append([]string{"--server", server}, args...))
	root.SetOut(&out)
	root.SetErr(&out)
	if err := root.ExecuteContext(context.Background()); err != nil {
		out.WriteString("bakery: " + err.Error() + "\n")
	}
	return out.String()
}

// TestServerTextIsEscaped: a reason, message or author holding terminal
// escape sequences (here: set the window title, ring the bell, clear the
// screen) reaches the operator's terminal quoted, never raw; --json keeps
// the text as it is (JSON escapes it).
func TestServerTextIsEscaped(t *testing.T) {
	server := newTestServer(t)
	t.Setenv("BAKERY_TOKEN", "admin-secret")
	const evil = "\x1b]0;pwned\a\x1b[2J"
	const shown = `\x1b]0;pwned\x07\x1b[2J`
	requireSafe := func(out string) {
		t.Helper()
		require.NotContains(t, out, "\x1b", out)
		require.NotContains(t, out, "\a", out)
		require.NotContains(t, out, "\u202e", out)
	}

	out := run(t, server, "lock", "web", "production", "--reason", "incident "+evil+" \u202eevil")
	requireSafe(out)
	require.Contains(t, out, "incident "+shown+` \u202eevil`)

	out = run(t, server, "release", "create", "web", "v1.2.3", "--artifact", "img:"+evil, "--message", "msg "+evil, "--author", "ana"+evil)
	requireSafe(out)

	for _, args := range [][]string{
		{"status", "web"},
		{"status"},
		{"history", "web"},
		{"watch", "web", "v1.2.3", "--interval", "20ms", "--timeout", "200ms"},
		{"unlock", "web", "production", "--reason", "over " + evil},
	} {
		out := run(t, server, args...)
		requireSafe(out)
		require.Contains(t, out, shown, "%v:\n%s", args, out)
	}

	// JSON output is for programs: the text is there, JSON-escaped.
	out = run(t, server, "history", "web", "--json")
	require.NotContains(t, out, "\x1b")
	require.Contains(t, out, `incident \u001b]0;pwned\u0007\u001b[2J`)
}

// TestStatusShowsExposure: bakery status prints an exposure gate's
// progress and the wait that names what is missing.
func TestStatusShowsExposure(t *testing.T) {
	t.Parallel()
	v := "v1"
	view := api.ServiceView{Service: "web", Environments: []api.EnvironmentView{
		{Name: "staging", Version: &v, State: "idle", Waiting: api.WaitView{Kind: "up_to_date", Message: "up to date"}},
		{Name: "production", State: "waiting", Waiting: api.WaitView{Kind: "exposure", Version: "v1",
			Message: "v1 baked 1h; 212 of 500 requests, 1 of 3 people in staging"},
			Exposure: &api.ExposureView{Environment: "staging", Version: "v1", Requests: 212, RequestsNeeded: 500, People: 1, PeopleNeeded: 3}},
	}}
	var out strings.Builder
	printStatus(&out, []api.ServiceView{view}, time.Now())
	require.Contains(t, out.String(), "v1 baked 1h; 212 of 500 requests, 1 of 3 people in staging")
	require.Contains(t, out.String(), "~ production: exposure of v1 in staging: 212 of 500 requests, 1 of 3 people")
}
