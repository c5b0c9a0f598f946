package migrations

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/bakery-deploy/bakery/internal/testutil"
)

// ---- MariaDB ---------------------------------------------------------------

const mariadbd = "/usr/sbin/mariadbd"

// mysqlAdminDSN is the MariaDB server the tests use; BAKERY_TEST_MYSQL_DSN
// overrides it.
func mysqlAdminDSN() string {
	if d := os.Getenv("BAKERY_TEST_MYSQL_DSN"); d != "" {
		return d
	}
	return "root@tcp(127.0.0.1:3306)/test"
}

var mariaOnce = sync.OnceValue(startMariaDB)

// startMariaDB makes sure MariaDB answers: when it does not and it is
// installed, it starts it and waits for its port.
func startMariaDB() error {
	cfg, err := mysql.ParseDSN(mysqlAdminDSN())
	if err != nil {
		return err
	}
	if pingMySQL(mysqlAdminDSN()) == nil {
		return nil
	}
	if _, err := os.Stat(mariadbd); err != nil {
		return fmt.Errorf("MariaDB is not reachable at %s and %s is not installed: install it (apt-get install mariadb-server)", cfg.Addr, mariadbd)
	}
	out, err := exec.Command("start-stop-daemon", "--start", "--oknodo", "--background", "--exec", mariadbd).CombinedOutput()
	if err != nil {
		return fmt.Errorf("starting %s: %v: %s", mariadbd, err, out)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", cfg.Addr, time.Second); err == nil {
			_ = c.Close()
			if err := pingMySQL(mysqlAdminDSN()); err == nil {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("started %s but it does not answer at %s after 60s", mariadbd, cfg.Addr)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func pingMySQL(dsn string) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return db.PingContext(ctx)
}

// newMySQLDB creates an empty MariaDB database for one test, drops it after,
// and returns its DSN (user@tcp(host:port)/name).
func newMySQLDB(t testing.TB) string {
	t.Helper()
	if err := mariaOnce(); err != nil {
		testutil.SkipOrFail(t, "%v", err)
		return ""
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bakery_mig_" + hex.EncodeToString(b)
	admin, err := sql.Open("mysql", mysqlAdminDSN())
	require.NoError(t, err)
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
	require.NoError(t, err)
	t.Cleanup(func() {
		db, err := sql.Open("mysql", mysqlAdminDSN())
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	})
	cfg, err := mysql.ParseDSN(mysqlAdminDSN())
	require.NoError(t, err)
	cfg.DBName = name
	return cfg.FormatDSN()
}

// ---- the three databases, uniformly -----------------------------------------

// testDB is a fresh database of one kind.
type testDB struct {
	driver string // postgres, mysql, sqlite
	url    string // what Read takes
	// migrateURL and gooseDSN are how the golang-migrate and goose CLIs
	// name the same database.
	migrateURL, gooseDriver, gooseDSN string
	db                                *sql.DB // for setting up tables
}

var drivers = []string{"postgres", "mysql", "sqlite"}

func newTestDB(t testing.TB, driver string) *testDB {
	t.Helper()
	var d testDB
	d.driver = driver
	var err error
	switch driver {
	case "postgres":
		d.url = testutil.NewPostgresDB(t)
		d.migrateURL, d.gooseDriver, d.gooseDSN = d.url, "postgres", d.url
		d.db, err = sql.Open("pgx", d.url)
	case "mysql":
		dsn := newMySQLDB(t)
		d.url = dsn
		d.migrateURL = "mysql://" + dsn
		cfg, perr := mysql.ParseDSN(dsn)
		require.NoError(t, perr)
		cfg.ParseTime = true
		d.gooseDriver, d.gooseDSN = "mysql", cfg.FormatDSN()
		cfg.MultiStatements = true
		cfg.Params = map[string]string{"time_zone": "'+00:00'"} // timestamps written as UTC
		d.db, err = sql.Open("mysql", cfg.FormatDSN())
	case "sqlite":
		path := filepath.Join(t.TempDir(), "app.db")
		d.url = "sqlite://" + path
		d.gooseDriver, d.gooseDSN = "sqlite3", path
		d.db, err = sql.Open("sqlite", path)
	default:
		t.Fatalf("unknown driver %s", driver)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.db.Close() })
	// Make the SQLite file exist, as the tools would.
	require.NoError(t, d.db.Ping())
	return &d
}

// exec runs setup statements one by one.
func (d *testDB) exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		_, err := d.db.Exec(s)
		require.NoError(t, err, "%s: %s", d.driver, s)
	}
}

func (d *testDB) source(tool Tool) Source {
	return Source{Driver: d.driver, URL: d.url, Tool: tool}
}

// ---- the real golang-migrate and goose CLIs ---------------------------------

const (
	migrateModule = "github.com/golang-migrate/migrate/v4/cmd/migrate@v4.20.1"
	gooseModule   = "github.com/pressly/goose/v3/cmd/goose@v3.30.0"
)

// toolsDir is where the CLIs are installed, shared by the tests (and by
// later runs, where go install then only relinks from the build cache).
func toolsDir() string {
	return filepath.Join(os.TempDir(), "bakery-migrations-tools")
}

// cli is one built tool.
type cli struct {
	path string
	// sqliteScheme is golang-migrate's URL scheme for SQLite: sqlite3
	// (mattn, cgo) or, when that tag does not build, sqlite (modernc).
	sqliteScheme string
	took         time.Duration
}

func goInstall(tags, module string) (time.Duration, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return 0, fmt.Errorf("the go command is not in PATH: %v", err)
	}
	if err := os.MkdirAll(toolsDir(), 0o755); err != nil {
		return 0, err
	}
	args := []string{"install"}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, module)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = os.TempDir() // outside bakery's module
	cmd.Env = append(os.Environ(), "GOBIN="+toolsDir(), "GOWORK=off", "CGO_ENABLED=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return time.Since(start), nil
}

var migrateCLIOnce = sync.OnceValues(func() (cli, error) {
	took, err := goInstall("postgres mysql sqlite3", migrateModule)
	scheme := "sqlite3"
	if err != nil {
		// The sqlite3 tag needs cgo; modernc's pure-Go driver is tag sqlite.
		took2, err2 := goInstall("postgres mysql sqlite", migrateModule)
		if err2 != nil {
			return cli{}, fmt.Errorf("%v\nand with tag sqlite: %v", err, err2)
		}
		took, scheme = took+took2, "sqlite"
	}
	return cli{path: filepath.Join(toolsDir(), "migrate"), sqliteScheme: scheme, took: took}, nil
})

var gooseCLIOnce = sync.OnceValues(func() (cli, error) {
	took, err := goInstall("", gooseModule)
	if err != nil {
		return cli{}, err
	}
	return cli{path: filepath.Join(toolsDir(), "goose"), took: took}, nil
})

var logBuildOnce sync.Map

func buildCLI(t *testing.T, name string, once func() (cli, error)) cli {
	t.Helper()
	c, err := once()
	if err != nil {
		testutil.SkipOrFail(t, "cannot build the %s CLI from the Go module proxy: %v", name, err)
	}
	if _, loaded := logBuildOnce.LoadOrStore(name, true); !loaded {
		t.Logf("built the %s CLI in %s", name, c.took.Round(time.Millisecond))
	}
	return c
}

func migrateCLI(t *testing.T) cli { return buildCLI(t, "golang-migrate", migrateCLIOnce) }
func gooseCLI(t *testing.T) cli   { return buildCLI(t, "goose", gooseCLIOnce) }

// run runs a CLI and returns its combined output and error.
func run(t *testing.T, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	return string(out), err
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
}

func ids(st State) []string {
	out := []string{}
	for _, a := range st.Applied {
		out = append(out, a.ID)
	}
	return out
}
