package migrations

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// ts is a timestamp literal meaning the UTC time s ("2024-01-01 12:00:00")
// in the dialect's column types.
func (d *testDB) ts(s string) string {
	if d.driver == "postgres" {
		return "'" + s + "+00'"
	}
	return "'" + s + "'"
}

func utc(s string) *time.Time {
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		panic(err)
	}
	return &t
}

func requireTime(t *testing.T, want *time.Time, got *time.Time, msgAndArgs ...any) {
	t.Helper()
	require.NotNil(t, got, msgAndArgs...)
	require.True(t, want.Equal(*got), "want %s, got %s %v", want, got, fmt.Sprint(msgAndArgs...))
}

// ---- golang-migrate, by the real CLI ------------------------------------------

func TestGolangMigrate(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			bin := migrateCLI(t)
			d := newTestDB(t, driver)
			dir := filepath.Join(t.TempDir(), "migrations")
			writeFiles(t, dir, map[string]string{
				"20240101120000_users.up.sql":    "CREATE TABLE users (id INTEGER PRIMARY KEY);\n",
				"20240101120000_users.down.sql":  "DROP TABLE users;\n",
				"20240102120000_orders.up.sql":   "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n",
				"20240102120000_orders.down.sql": "DROP TABLE orders;\n",
				// Fails: the table does not exist. golang-migrate leaves the
				// database dirty at this version.
				"20240103120000_broken.up.sql":   "INSERT INTO no_such_table (id) VALUES (1);\n",
				"20240103120000_broken.down.sql": "SELECT 1;\n",
			})
			murl := d.migrateURL
			if driver == "sqlite" {
				murl = bin.sqliteScheme + "://" + strings.TrimPrefix(d.url, "sqlite://")
			}
			all := []string{"20240101120000", "20240102120000", "20240103120000"}

			out, err := run(t, bin.path, "-path", dir, "-database", murl, "up", "2")
			require.NoError(t, err, out)
			st, err := Read(context.Background(), d.source(GolangMigrate))
			require.NoError(t, err)
			require.Equal(t, []string{"20240102120000"}, ids(st))
			require.True(t, st.Latest, "golang-migrate records only the latest version")
			require.False(t, st.Dirty)
			require.Nil(t, st.Applied[0].AppliedAt)
			require.Contains(t, st.Detail, "only the current version")
			require.Equal(t, []string{"20240103120000"}, MissingIDs(st, all))
			require.True(t, st.Has("20240101120000"), "an earlier version counts as applied")

			out, err = run(t, bin.path, "-path", dir, "-database", murl, "up")
			require.Error(t, err, "the broken migration must fail: %s", out)
			st, err = Read(context.Background(), d.source(GolangMigrate))
			require.NoError(t, err)
			require.Equal(t, []string{"20240103120000"}, ids(st))
			require.True(t, st.Dirty, "a failed migration leaves golang-migrate dirty")
			require.Contains(t, st.Detail, "dirty at version 20240103120000")
			require.Contains(t, st.Detail, "migrate force")
			require.Equal(t, []string{"20240103120000"}, MissingIDs(st, all), "the dirty version is not applied")

			// After the operator fixes it: force the last good version.
			out, err = run(t, bin.path, "-path", dir, "-database", murl, "force", "20240102120000")
			require.NoError(t, err, out)
			st, err = Read(context.Background(), d.source(GolangMigrate))
			require.NoError(t, err)
			require.False(t, st.Dirty)
			require.Equal(t, []string{"20240102120000"}, ids(st))

			// All the way down: golang-migrate empties its table.
			out, err = run(t, bin.path, "-path", dir, "-database", murl, "down", "-all")
			require.NoError(t, err, out)
			st, err = Read(context.Background(), d.source(GolangMigrate))
			require.NoError(t, err)
			require.Empty(t, st.Applied)
			require.Equal(t, all, MissingIDs(st, all))
		})
	}
}

// ---- goose, by the real CLI -----------------------------------------------------

func TestGoose(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			bin := gooseCLI(t)
			d := newTestDB(t, driver)
			dir := filepath.Join(t.TempDir(), "migrations")
			migration := func(table string) string {
				return "-- +goose Up\nCREATE TABLE " + table + " (id INTEGER PRIMARY KEY);\n\n-- +goose Down\nDROP TABLE " + table + ";\n"
			}
			writeFiles(t, dir, map[string]string{
				"00001_users.sql":  migration("users"),
				"00002_orders.sql": migration("orders"),
				"00003_items.sql":  migration("items"),
			})
			goose := func(args ...string) string {
				t.Helper()
				// goose [OPTIONS] DRIVER DBSTRING COMMAND
				argv := []string{"-dir", dir}
				for len(args) > 1 && strings.HasPrefix(args[0], "-") {
					argv, args = append(argv, args[0]), args[1:]
				}
				argv = append(argv, d.gooseDriver, d.gooseDSN)
				out, err := run(t, bin.path, append(argv, args...)...)
				require.NoError(t, err, out)
				return out
			}
			start := time.Now()

			goose("up")
			st, err := Read(context.Background(), d.source(Goose))
			require.NoError(t, err)
			require.Equal(t, []string{"1", "2", "3"}, ids(st), "version 0, goose's own row, is not a migration")
			require.False(t, st.Latest)
			require.False(t, st.Dirty)
			for _, a := range st.Applied {
				require.NotNil(t, a.AppliedAt, "goose records tstamp")
				// Loose: the database's clock and zone are not ours.
				require.WithinDuration(t, start, *a.AppliedAt, 26*time.Hour)
			}
			require.Empty(t, MissingIDs(st, []string{"00001", "2", "3"}), "goose file prefixes match their versions")

			// goose v3 deletes the row of a migration it rolls back.
			goose("down")
			st, err = Read(context.Background(), d.source(Goose))
			require.NoError(t, err)
			require.Equal(t, []string{"1", "2"}, ids(st))
			require.Equal(t, []string{"3"}, MissingIDs(st, []string{"1", "2", "3"}))

			// Older goose recorded a down as a newer row with is_applied =
			// false; the latest row of a version decides, as goose status
			// says. (goose status orders a version's rows by tstamp, older
			// goose by id; this row is the latest both ways.)
			d.exec(t, "INSERT INTO goose_db_version (version_id, is_applied, tstamp) VALUES (2, FALSE, "+d.ts("2030-01-01 00:00:00")+")")
			st, err = Read(context.Background(), d.source(Goose))
			require.NoError(t, err)
			require.Equal(t, []string{"1"}, ids(st))
			status := goose("status")
			require.Regexp(t, `Pending\s+-- 00002_orders.sql`, status)
			require.Regexp(t, `\d\d:\d\d:\d\d \d{4} -- 00001_users.sql`, status)

			// goose up applies 3 again.
			goose("up")
			st, err = Read(context.Background(), d.source(Goose))
			require.NoError(t, err)
			require.Equal(t, []string{"1", "3"}, ids(st))
			require.Equal(t, []string{"2"}, MissingIDs(st, []string{"1", "2", "3"}))
		})
	}
}

// ---- rails, flyway, prisma: their documented layouts --------------------------

func railsDDL(driver string) string {
	switch driver {
	case "mysql":
		return "CREATE TABLE `schema_migrations` (`version` varchar(255) NOT NULL PRIMARY KEY)"
	case "postgres":
		return `CREATE TABLE "schema_migrations" ("version" character varying NOT NULL PRIMARY KEY)`
	}
	return `CREATE TABLE "schema_migrations" ("version" varchar NOT NULL PRIMARY KEY)`
}

func TestRails(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			d.exec(t, railsDDL(driver),
				"INSERT INTO schema_migrations (version) VALUES ('20240103120000'), ('20240101120000'), ('20240102120000')")
			st, err := Read(context.Background(), d.source(Rails))
			require.NoError(t, err)
			require.Equal(t, []string{"20240101120000", "20240102120000", "20240103120000"}, ids(st))
			require.False(t, st.Latest, "rails records every version")
			require.False(t, st.Dirty)
			require.Nil(t, st.Applied[0].AppliedAt)
			require.Equal(t, []string{"20240104120000"}, MissingIDs(st, []string{"20240101120000", "20240104120000"}))
			// Rails has every version, so an older one that is absent is missing
			// (unlike golang-migrate's latest-version table).
			require.Equal(t, []string{"20231231120000"}, MissingIDs(st, []string{"20231231120000"}))

			// The same table read as golang-migrate lacks its dirty column:
			// the tool comes from the configuration, never from guessing.
			_, err = Read(context.Background(), d.source(GolangMigrate))
			require.ErrorIs(t, err, ErrNoColumn)
			require.Contains(t, err.Error(), "golang-migrate")
		})
	}
}

func flywayDDL(driver string) string {
	switch driver {
	case "mysql":
		return "CREATE TABLE `flyway_schema_history` (" +
			"`installed_rank` INT NOT NULL, `version` VARCHAR(50), `description` VARCHAR(200) NOT NULL," +
			" `type` VARCHAR(20) NOT NULL, `script` VARCHAR(1000) NOT NULL, `checksum` INT," +
			" `installed_by` VARCHAR(100) NOT NULL, `installed_on` TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP," +
			" `execution_time` INT NOT NULL, `success` BOOL NOT NULL," +
			" CONSTRAINT `flyway_schema_history_pk` PRIMARY KEY (`installed_rank`)) ENGINE=InnoDB"
	case "postgres":
		return `CREATE TABLE "flyway_schema_history" (` +
			`"installed_rank" INT NOT NULL, "version" VARCHAR(50), "description" VARCHAR(200) NOT NULL,` +
			` "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, "checksum" INTEGER,` +
			` "installed_by" VARCHAR(100) NOT NULL, "installed_on" TIMESTAMP NOT NULL DEFAULT now(),` +
			` "execution_time" INTEGER NOT NULL, "success" BOOLEAN NOT NULL,` +
			` CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank"))`
	}
	return `CREATE TABLE "flyway_schema_history" (` +
		`"installed_rank" INT NOT NULL PRIMARY KEY, "version" VARCHAR(50), "description" VARCHAR(200) NOT NULL,` +
		` "type" VARCHAR(20) NOT NULL, "script" VARCHAR(1000) NOT NULL, "checksum" INT,` +
		` "installed_by" VARCHAR(100) NOT NULL, "installed_on" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),` +
		` "execution_time" INT NOT NULL, "success" BOOLEAN NOT NULL)`
}

func TestFlyway(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			row := func(rank int, version, typ, script, on string, success bool) string {
				v := "NULL"
				if version != "" {
					v = "'" + version + "'"
				}
				return fmt.Sprintf("INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, installed_on, execution_time, success)"+
					" VALUES (%d, %s, 'd', '%s', '%s', 1, 'deployer', %s, 7, %t)", rank, v, typ, script, d.ts(on), success)
			}
			d.exec(t, flywayDDL(driver),
				row(1, "1", "BASELINE", "<< Flyway Baseline >>", "2024-01-01 12:00:00", true),
				row(2, "2", "SQL", "V2__users.sql", "2024-01-02 12:00:00", true),
				row(3, "", "SQL", "R__views.sql", "2024-01-02 12:00:01", true),
				row(4, "3", "SQL", "V3__orders.sql", "2024-01-03 12:00:00", false),
				row(5, "", "SQL", "R__views.sql", "2024-01-04 12:00:00", true), // re-applied after a change
			)
			st, err := Read(context.Background(), d.source(Flyway))
			require.NoError(t, err)
			require.Equal(t, []string{"1", "2", "R__views.sql"}, ids(st), "the baseline counts; a repeatable is its script, once")
			requireTime(t, utc("2024-01-01 12:00:00"), st.Applied[0].AppliedAt, "installed_on")
			requireTime(t, utc("2024-01-02 12:00:00"), st.Applied[1].AppliedAt, "installed_on")
			requireTime(t, utc("2024-01-02 12:00:01"), st.Applied[2].AppliedAt, "first installed_on of the repeatable")
			require.True(t, st.Dirty, "a success = false row")
			require.Contains(t, st.Detail, "3")
			require.Contains(t, st.Detail, "flyway repair")
			require.Equal(t, []string{"3"}, MissingIDs(st, []string{"1", "2", "3"}))

			// flyway repair removes the failed row; an undo takes 2 back out.
			d.exec(t, "DELETE FROM flyway_schema_history WHERE success = FALSE",
				row(6, "2", "UNDO_SQL", "U2__users.sql", "2024-01-05 12:00:00", true))
			st, err = Read(context.Background(), d.source(Flyway))
			require.NoError(t, err)
			require.False(t, st.Dirty)
			require.Empty(t, st.Detail)
			require.Equal(t, []string{"1", "R__views.sql"}, ids(st))
		})
	}
}

func prismaDDL(driver string) string {
	switch driver {
	case "mysql":
		return "CREATE TABLE _prisma_migrations (" +
			"id VARCHAR(36) PRIMARY KEY NOT NULL, checksum VARCHAR(64) NOT NULL, finished_at DATETIME(3)," +
			" migration_name VARCHAR(255) NOT NULL, logs TEXT, rolled_back_at DATETIME(3)," +
			" started_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), applied_steps_count INTEGER UNSIGNED NOT NULL DEFAULT 0" +
			") DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
	case "postgres":
		return `CREATE TABLE "_prisma_migrations" (` +
			`"id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,` +
			` "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,` +
			` "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`
	}
	return `CREATE TABLE "_prisma_migrations" (` +
		`"id" TEXT PRIMARY KEY NOT NULL, "checksum" TEXT NOT NULL, "finished_at" DATETIME,` +
		` "migration_name" TEXT NOT NULL, "logs" TEXT, "rolled_back_at" DATETIME,` +
		` "started_at" DATETIME NOT NULL DEFAULT current_timestamp, "applied_steps_count" INTEGER UNSIGNED NOT NULL DEFAULT 0)`
}

func TestPrisma(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			lit := func(s string) string {
				if s == "" {
					return "NULL"
				}
				return d.ts(s)
			}
			row := func(id, name, started, finished, rolledBack string, steps int) string {
				return fmt.Sprintf("INSERT INTO _prisma_migrations (id, checksum, finished_at, migration_name, logs, rolled_back_at, started_at, applied_steps_count)"+
					" VALUES ('%s', 'c0ffee', %s, '%s', NULL, %s, %s, %d)", id, lit(finished), name, lit(rolledBack), lit(started), steps)
			}
			d.exec(t, prismaDDL(driver),
				row("a1", "20240101000000_init", "2024-01-01 00:00:00", "2024-01-01 00:00:01", "", 1),
				// failed, resolved as rolled back, then applied again
				row("b1", "20240102000000_orders", "2024-01-02 00:00:00", "", "2024-01-02 01:00:00", 0),
				row("b2", "20240102000000_orders", "2024-01-02 02:00:00", "2024-01-02 02:00:01", "", 1),
				// failed and left so
				row("c1", "20240103000000_bad", "2024-01-03 00:00:00", "", "", 0),
				// finished, then rolled back
				row("d1", "20240104000000_undone", "2024-01-04 00:00:00", "2024-01-04 00:00:01", "2024-01-04 01:00:00", 1),
			)
			st, err := Read(context.Background(), d.source(Prisma))
			require.NoError(t, err)
			require.Equal(t, []string{"20240101000000_init", "20240102000000_orders"}, ids(st))
			requireTime(t, utc("2024-01-01 00:00:01"), st.Applied[0].AppliedAt, "finished_at")
			requireTime(t, utc("2024-01-02 02:00:01"), st.Applied[1].AppliedAt, "finished_at of the row that finished")
			require.True(t, st.Dirty)
			require.Contains(t, st.Detail, "20240103000000_bad failed")
			require.Contains(t, st.Detail, "20240104000000_undone rolled back")
			require.NotContains(t, st.Detail, "orders", "applied again after its rollback")
			require.Equal(t, []string{"20240103000000_bad", "20240104000000_undone"},
				MissingIDs(st, []string{"20240101000000_init", "20240102000000_orders", "20240103000000_bad", "20240104000000_undone"}))
		})
	}
}

func TestCustomTable(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			d.exec(t, "CREATE TABLE app_migrations (name VARCHAR(200) NOT NULL, applied_at TIMESTAMP NULL, ok BOOLEAN NOT NULL)",
				"INSERT INTO app_migrations (name, applied_at, ok) VALUES ('0003_c', NULL, FALSE), ('0001_a', "+d.ts("2024-01-01 00:00:00")+", TRUE), ('0002_b', "+d.ts("2024-01-02 00:00:00")+", TRUE)")
			src := d.source(Table)
			src.Table, src.Column = "app_migrations", "name"
			st, err := Read(context.Background(), src)
			require.NoError(t, err)
			require.Equal(t, []string{"0001_a", "0002_b", "0003_c"}, ids(st))

			for _, applied := range []string{"applied_at", "ok"} {
				src.AppliedColumn = applied
				st, err = Read(context.Background(), src)
				require.NoError(t, err, applied)
				require.Equal(t, []string{"0001_a", "0002_b"}, ids(st), applied)
			}

			src.AppliedColumn = "nope"
			_, err = Read(context.Background(), src)
			require.ErrorIs(t, err, ErrNoColumn)
			require.Contains(t, err.Error(), "app_migrations")

			src.Table, src.AppliedColumn = "no_such_table", ""
			_, err = Read(context.Background(), src)
			require.ErrorIs(t, err, ErrNoTable)
			require.Contains(t, err.Error(), "no_such_table does not exist")
		})
	}
}

// ---- errors ------------------------------------------------------------------

func TestReadMissingTable(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			for _, tool := range []Tool{GolangMigrate, Goose, Rails, Flyway, Prisma} {
				_, err := Read(context.Background(), d.source(tool))
				require.ErrorIs(t, err, ErrNoTable, tool)
				require.Contains(t, err.Error(), tool.DefaultTable()+" does not exist", tool)
				require.NotContains(t, err.Error(), d.url, "never the URL")
			}
		})
	}
}

func TestReadUnreachableIsRedacted(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nope", "app.db")
	cases := []struct {
		name   string
		src    Source
		kind   error
		secret []string
	}{
		{"postgres URL", Source{Driver: "postgres", URL: "postgres://user:s3cret@127.0.0.1:1/db", Tool: GolangMigrate}, ErrUnreachable, nil},
		{"postgres URL, escaped password", Source{Driver: "postgresql", URL: "postgres://user:s3c%40ret@127.0.0.1:1/db?sslmode=disable", Tool: Goose}, ErrUnreachable, []string{"s3c@ret", "s3c%40ret"}},
		{"postgres key=value", Source{Driver: "postgres", URL: "host=127.0.0.1 port=1 user=u password=s3cret dbname=db", Tool: Rails}, ErrUnreachable, nil},
		{"postgres unparsable", Source{Driver: "postgres", URL: "postgres://user:s3cret@127.0.0.1:notaport/db", Tool: Rails}, ErrInvalidSource, nil},
		{"mysql DSN", Source{Driver: "mysql", URL: "root:s3cret@tcp(127.0.0.1:1)/db", Tool: Flyway}, ErrUnreachable, nil},
		{"mysql URL", Source{Driver: "mariadb", URL: "mysql://root:s3cret@127.0.0.1:1/db", Tool: Prisma}, ErrUnreachable, nil},
		{"mysql migrate URL", Source{Driver: "mysql", URL: "mysql://root:s3cret@tcp(127.0.0.1:1)/db", Tool: GolangMigrate}, ErrUnreachable, nil},
		{"mysql unparsable", Source{Driver: "mysql", URL: "root:s3cret@tcp(127.0.0.1:1", Tool: Rails}, ErrInvalidSource, nil},
		{"sqlite missing file", Source{Driver: "sqlite", URL: "sqlite://" + missing, Tool: Rails}, ErrUnreachable, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			_, err := Read(context.Background(), tc.src)
			require.Error(t, err)
			require.ErrorIs(t, err, tc.kind)
			msg := err.Error()
			t.Log(msg)
			if tc.kind == ErrUnreachable {
				require.Contains(t, msg, "unreachable")
			}
			for _, s := range append(tc.secret, "s3cret", tc.src.URL) {
				require.NotContains(t, msg, s)
			}
			require.Less(t, time.Since(start), ReadTimeout)
		})
	}
	_, err := os.Stat(filepath.Dir(missing))
	require.True(t, os.IsNotExist(err), "Read must not create a missing SQLite database")
}

// A password MariaDB refuses: the server's message must not carry it either.
func TestReadMySQLWrongPasswordIsRedacted(t *testing.T) {
	t.Parallel()
	dsn := newMySQLDB(t)
	user, rest, ok := strings.Cut(dsn, "@")
	require.True(t, ok)
	wrong := user + ":s3cret-pw@" + rest
	_, err := Read(context.Background(), Source{Driver: "mysql", URL: wrong, Tool: Rails})
	require.ErrorIs(t, err, ErrUnreachable)
	t.Log(err)
	require.NotContains(t, err.Error(), "s3cret")
	require.NotContains(t, err.Error(), wrong)
}

// A server that accepts the connection and never answers: the read gives up
// at ctx's deadline.
func TestReadTimesOut(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := ln.Addr().String()
	for _, src := range []Source{
		{Driver: "postgres", URL: "postgres://u:s3cret@" + addr + "/db?sslmode=disable", Tool: Rails},
		{Driver: "mysql", URL: "u:s3cret@tcp(" + addr + ")/db", Tool: Rails},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		start := time.Now()
		_, err := Read(ctx, src)
		cancel()
		require.ErrorIs(t, err, ErrUnreachable, src.Driver)
		require.NotContains(t, err.Error(), "s3cret")
		require.Less(t, time.Since(start), 3*time.Second, src.Driver)
	}
}

func TestReadInvalidSource(t *testing.T) {
	t.Parallel()
	cases := map[string]Source{
		"driver":            {Driver: "oracle", URL: "x", Tool: Rails},
		"empty URL":         {Driver: "postgres", Tool: Rails},
		"tool":              {Driver: "postgres", URL: "postgres://u@127.0.0.1:1/db", Tool: "liquibase"},
		"table, no column":  {Driver: "sqlite", URL: "x.db", Tool: Table, Table: "t"},
		"column, not table": {Driver: "sqlite", URL: "x.db", Tool: Rails, Column: "c"},
	}
	for name, src := range cases {
		_, err := Read(context.Background(), src)
		require.ErrorIs(t, err, ErrInvalidSource, name)
	}

	// Names are validated before they reach SQL.
	d := newTestDB(t, "sqlite")
	d.exec(t, railsDDL("sqlite"))
	for _, bad := range []string{"t; DROP TABLE schema_migrations", `t"`, "a.b.c", "1t"} {
		src := d.source(Table)
		src.Table, src.Column = bad, "version"
		_, err := Read(context.Background(), src)
		require.ErrorIs(t, err, ErrInvalidSource, bad)
		src.Table, src.Column = "schema_migrations", bad
		_, err = Read(context.Background(), src)
		require.ErrorIs(t, err, ErrInvalidSource, bad)
	}
	src := d.source(Table)
	src.Table, src.Column = "schema_migrations", "version"
	_, err := Read(context.Background(), src)
	require.NoError(t, err, "the table is still there")
}

// The read happens in a read-only transaction.
func TestReadIsReadOnly(t *testing.T) {
	t.Parallel()
	for _, driver := range drivers {
		t.Run(driver, func(t *testing.T) {
			t.Parallel()
			d := newTestDB(t, driver)
			d.exec(t, railsDDL(driver), "INSERT INTO schema_migrations (version) VALUES ('1')")
			c, err := open(d.source(Rails))
			require.NoError(t, err)
			defer c.db.Close()
			ctx := context.Background()
			tx, err := c.begin(ctx) // as Read does
			require.NoError(t, err)
			defer func() { _ = tx.Rollback() }()
			_, err = tx.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ('2')")
			require.Error(t, err, "a write inside Read's transaction must fail")
			_ = tx.Rollback()
			if driver == "sqlite" { // the file is opened read-only too
				_, err = c.db.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES ('3')")
				require.Error(t, err)
			}
			st, err := Read(ctx, d.source(Rails))
			require.NoError(t, err)
			require.Equal(t, []string{"1"}, ids(st))
		})
	}
}

// BenchmarkRead is one Read of a rails table of 200 migrations: connect,
// read, close. (100 services × 2 environments is 200 of these; run them
// concurrently.)
func BenchmarkRead(b *testing.B) {
	for _, driver := range drivers {
		b.Run(driver, func(b *testing.B) {
			d := newTestDB(b, driver)
			var vals []string
			for i := range 200 {
				vals = append(vals, fmt.Sprintf("('%d')", 20240101000000+i))
			}
			d.exec(b, railsDDL(driver), "INSERT INTO schema_migrations (version) VALUES "+strings.Join(vals, ", "))
			b.ResetTimer()
			for b.Loop() {
				st, err := Read(context.Background(), d.source(Rails))
				if err != nil || len(st.Applied) != 200 {
					b.Fatalf("%v %d", err, len(st.Applied))
				}
			}
		})
	}
}
