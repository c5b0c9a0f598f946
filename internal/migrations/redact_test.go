package migrations

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRedactor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		url, password, text string
	}{
		{"postgres://app:s3cret@db/app", "s3cret", "cannot parse postgres://app:s3cret@db/app: s3cret is wrong"},
		{"postgres://app:s3%2Fc@db/app", "s3/c", "password s3/c, escaped s3%2Fc, url postgres://app:s3%2Fc@db/app"},
		{"app:p@ss:w0rd@tcp(db:3306)/app", "p@ss:w0rd", "dsn app:p@ss:w0rd@tcp(db:3306)/app bad"},
		{"host=db password='s3 cret' user=app", "s3 cret", "conn host=db password='s3 cret' user=app: s3 cret"},
	}
	for _, tc := range cases {
		got := newRedactor(tc.url, tc.password).text(tc.text)
		require.NotContains(t, got, tc.password, got)
		require.NotContains(t, got, tc.url, got)
	}
	// Even a password it was not told about, when it sits in a URL.
	got := newRedactor("").text("dial postgres://app:hunter2@db:5432/app and mysql://root:hunter2@tcp(db)/x and root:hunter2@tcp(db:3306)/x and password=hunter2")
	require.NotContains(t, got, "hunter2", got)
	require.Contains(t, got, "postgres://app:xxxxx@db:5432/app")
	// Ordinary text is left alone.
	msg := `postgres database "app" at db:5432 is unreachable: dial tcp 127.0.0.1:1: connect: connection refused`
	require.Equal(t, msg, newRedactor("").text(msg))
}

func TestSQLitePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"sqlite:///var/lib/app.db":   "/var/lib/app.db",
		"sqlite://app.db":            "app.db",
		"sqlite3:///tmp/x.db?x-a=b":  "/tmp/x.db",
		"file:/tmp/x.db?mode=ro":     "/tmp/x.db",
		"file:///tmp/a%20b.db":       "/tmp/a b.db",
		"/tmp/plain.db":              "/tmp/plain.db",
		"  relative/dir/app.sqlite ": "relative/dir/app.sqlite",
	} {
		require.Equal(t, want, sqlitePath(in), in)
	}
}

func TestMySQLConfig(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][4]string{ // user, password, addr, db
		"app:pw@tcp(db:3307)/app?parseTime=true": {"app", "pw", "db:3307", "app"},
		"mysql://app:pw@tcp(db:3307)/app":        {"app", "pw", "db:3307", "app"},
		"mysql://app:p%40w@db:3307/app":          {"app", "p@w", "db:3307", "app"},
		"mysql://app@db/app?tls=false":           {"app", "", "db:3306", "app"},
		"mariadb://app:pw@[::1]:3306/app":        {"app", "pw", "[::1]:3306", "app"},
	} {
		cfg, err := mysqlConfig(in)
		require.NoError(t, err, in)
		require.Equal(t, want, [4]string{cfg.User, cfg.Passwd, cfg.Addr, cfg.DBName}, in)
	}
}

// TestForViewers: what viewers read about an unreadable migration table
// names none of the database's hosts, ports, users or credentials.
func TestForViewers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		src     Source
		text    string
		hidden  []string
		visible []string
	}{
		{Source{Driver: "postgres", URL: "postgres://reporting:hunter2@db-7.prod.internal:6543/appdb"},
			"postgres database \"appdb\" at db-7.prod.internal:6543 is unreachable: failed to connect to `user=reporting database=appdb`: 10.2.3.4:6543 (db-7.prod.internal): dial error: dial tcp 10.2.3.4:6543: connect: connection refused",
			[]string{"reporting", "hunter2", "db-7.prod.internal", "6543", "10.2.3.4"}, []string{"appdb", "unreachable", "connection refused"}},
		{Source{Driver: "postgres", URL: "host=pg.internal port=5433 user=ops password=s3 dbname=app"},
			`postgres database "app" at pg.internal:5433 is unreachable: ops cannot log in`,
			[]string{"pg.internal", "5433", "ops", "s3"}, []string{`"app"`, "cannot log in"}},
		{Source{Driver: "mysql", URL: "root:pw@tcp(mysql.internal:3307)/shop"},
			`mysql database "shop" at mysql.internal:3307 is unreachable: Error 1045: Access denied for user 'root'@'10.0.0.9'`,
			[]string{"mysql.internal", "3307", "root", "10.0.0.9"}, []string{"shop", "Access denied"}},
		{Source{Driver: "sqlite", URL: "sqlite:///var/lib/app/data/app.db"},
			"sqlite database /var/lib/app/data/app.db is unreachable: no such file or directory",
			[]string{"/var/lib"}, []string{"app.db", "unreachable"}},
	} {
		got := ForViewers(tc.src, tc.text)
		for _, h := range tc.hidden {
			require.NotContains(t, got, h, got)
		}
		for _, v := range tc.visible {
			require.Contains(t, got, v, got)
		}
	}
}
