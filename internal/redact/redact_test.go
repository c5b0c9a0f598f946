package redact

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestForViewers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		// Absolute paths keep their base name; short and relative ones stay.
		{`deploy command "/srv/bakery/deploy/web.sh" not started: fork/exec /srv/bakery/deploy/web.sh: permission denied`,
			`deploy command "web.sh" not started: fork/exec web.sh: permission denied`},
		{"run `chmod +x /home/ana/deploy.sh`", "run `chmod +x deploy.sh`"},
		{"open /var/lib/bakery/app.db: no such file", "open app.db: no such file"},
		{"GET /healthz answered 503", "GET /healthz answered 503"},
		{"./scripts/deploy.sh exited 1", "./scripts/deploy.sh exited 1"},
		{"bin/deploy/x failed", "bin/deploy/x failed"},
		// Web URLs keep host and path, lose credentials and secret parameters.
		{`Get "https://ana:pw@staging.example.com/healthz?token=abc&x=1": EOF`, `Get "https://***@staging.example.com/healthz?token=***&x=1": EOF`},
		{"GET https://staging.example.com/api/v1/health: 503", "GET https://staging.example.com/api/v1/health: 503"},
		// Database URLs lose user, password, host and port.
		{"cannot connect to postgres://app:s3cret@db.internal:5432/appdb?sslmode=disable: refused",
			"cannot connect to postgres://***@***/appdb?sslmode=disable: refused"},
		{"sqlite:///var/lib/app/app.db is locked", "sqlite:///app.db is locked"},
		{"mysql://root@10.0.0.5/app.", "mysql://***@***/app."},
		// Connection strings and DSNs.
		{"failed to connect to `user=app database=appdb`: 10.0.0.5:5432 (db.internal): dial error",
			"failed to connect to `user=*** database=appdb`: *** (db.internal): dial error"},
		{"host=db.internal port=5432 user=app password='s 3' dbname=x", "host=*** port=5432 user=*** password=*** dbname=x"},
		{"dsn app:pw@tcp(db.internal:3306)/app bad", "dsn ***@tcp(***)/app bad"},
		// Network errors keep the operation, not the address.
		{"dial tcp 10.0.0.5:5432: connect: connection refused", "dial tcp ***: connect: connection refused"},
		{"dial tcp: lookup db.internal on 127.0.0.53:53: no such host", "dial tcp: lookup *** on ***: no such host"},
		{"read tcp 10.0.0.1:50412->10.0.0.5:5432: i/o timeout", "read tcp ***: i/o timeout"},
		{"dial unix /var/run/postgresql/.s.PGSQL.5432: no such file", "dial unix ***: no such file"},
		{"dial tcp [fd00::5]:5432: refused", "dial tcp ***: refused"},
		{"peer 192.168.1.20 reset", "peer *** reset"},
		// Ordinary text is left alone.
		{"deploy command exited 1 after 2.5s; read the output above", "deploy command exited 1 after 2.5s; read the output above"},
		{"check errors: 0.7 > max 0.5 (v1.2.3)", "check errors: 0.7 > max 0.5 (v1.2.3)"},
		{"", ""},
	} {
		require.Equal(t, tc.want, ForViewers(tc.in), tc.in)
	}
}

func TestForViewersKnownWords(t *testing.T) {
	t.Parallel()
	got := ForViewers(`postgres database "appdb" at db-7.prod.internal:5432 is unreachable as reporting`,
		"db-7.prod.internal", "reporting")
	require.Equal(t, `postgres database "appdb" at ***:5432 is unreachable as ***`, got)
	// A known word inside a longer one stays.
	require.Equal(t, "application *** ok", ForViewers("application app ok", "app"))
}

func FuzzForViewers(f *testing.F) {
	f.Add("dial tcp 10.0.0.5:5432: postgres://u:p@h/db /a/b/c user=x")
	f.Fuzz(func(t *testing.T, s string) {
		out := ForViewers(s)
		require.Equal(t, out, ForViewers(out), "idempotent")
	})
}
