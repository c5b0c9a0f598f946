package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ReadTimeout bounds one Read when ctx has no earlier deadline: connecting,
// reading and closing.
const ReadTimeout = 10 * time.Second

// dialect is what differs between the three databases.
type dialect struct {
	name  string // "postgres", "mysql", "sqlite"
	quote func(string) string
}

var (
	postgresDialect = dialect{name: "postgres", quote: doubleQuote}
	mysqlDialect    = dialect{name: "mysql", quote: backQuote}
	// Not "x" on SQLite: it reads a double-quoted name that is no column
	// as a string literal, so a wrong column would silently "work".
	sqliteDialect = dialect{name: "sqlite", quote: backQuote}
)

func doubleQuote(s string) string { return `"` + s + `"` }
func backQuote(s string) string   { return "`" + s + "`" }

// identRE is what a table or column name may be: letters, digits, _ and $.
// Names are validated and then quoted, never interpolated as given.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]{0,62}$`)

// quoteName validates a possibly schema-qualified name and quotes each part.
func (d dialect) quoteName(name string) (string, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return "", fmt.Errorf("%q is not a table or column name: use name or schema.name", name)
	}
	for i, p := range parts {
		if !identRE.MatchString(p) {
			return "", fmt.Errorf("%q is not a table or column name: use letters, digits and _ (at most 63), starting with a letter or _", name)
		}
		parts[i] = d.quote(p)
	}
	return strings.Join(parts, "."), nil
}

// normalDriver maps a driver name and its aliases to postgres, mysql or
// sqlite; "" when unknown.
func normalDriver(driver string) string {
	switch strings.ToLower(strings.TrimSpace(driver)) {
	case "postgres", "postgresql", "pgx":
		return "postgres"
	case "mysql", "mariadb":
		return "mysql"
	case "sqlite", "sqlite3":
		return "sqlite"
	}
	return ""
}

func invalid(format string, args ...any) error {
	return &Error{Kind: ErrInvalidSource, msg: fmt.Sprintf(format, args...)}
}

// check validates the parts of src that do not need the database.
func (src Source) check() error {
	if normalDriver(src.Driver) == "" {
		return invalid("migration database driver %q is not supported: use postgres, mysql or sqlite", src.Driver)
	}
	if strings.TrimSpace(src.URL) == "" {
		return invalid("the %s migration database URL is empty (is its environment variable set?)", normalDriver(src.Driver))
	}
	if !src.Tool.Valid() {
		names := make([]string, len(Tools))
		for i, t := range Tools {
			names[i] = string(t)
		}
		return invalid("migration tool %q is not supported: use one of %s", src.Tool, strings.Join(names, ", "))
	}
	if src.Tool == Table {
		if src.Table == "" || src.Column == "" {
			return invalid("migration tool table needs the table and the column that holds the migration IDs")
		}
	} else if src.Column != "" || src.AppliedColumn != "" {
		return invalid("column and applied column apply only to migration tool table, not %s", src.Tool)
	}
	for what, name := range map[string]string{"table": src.Table, "column": src.Column, "applied column": src.AppliedColumn} {
		if name == "" {
			continue
		}
		if _, err := postgresDialect.quoteName(name); err != nil { // the rules are the same for every dialect
			return invalid("migration %s: %v", what, err)
		}
	}
	return nil
}

// conn is an opened (not yet connected) database and how to talk about it.
type conn struct {
	db    *sql.DB
	d     dialect
	where string // e.g. `postgres database "app" at db.internal:5432`, no credentials
	red   redactor
}

// Read opens the database, reads the tool's table read-only and returns
// what is applied. The connection is closed before Read returns; ctx bounds
// the whole read, and ReadTimeout applies when ctx has no earlier deadline.
//
// An unreachable database, a missing table or a missing column is an *Error
// (see ErrUnreachable, ErrNoTable, ErrNoColumn) whose message says so
// plainly and contains neither the password nor the URL.
func Read(ctx context.Context, src Source) (State, error) {
	if err := src.check(); err != nil {
		return State{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, ReadTimeout)
	defer cancel()

	c, err := open(src)
	if err != nil {
		return State{}, err
	}
	defer c.db.Close()

	tx, err := c.begin(ctx)
	if err != nil {
		return State{}, err
	}
	defer func() { _ = tx.Rollback() }()

	table := src.Table
	if table == "" {
		table = src.Tool.DefaultTable()
	}
	qtable, err := c.d.quoteName(table)
	if err != nil {
		return State{}, invalid("migration table: %v", err)
	}
	r := reader{ctx: ctx, tx: tx, c: c, src: src, table: table, qtable: qtable}
	st, err := r.read()
	if err != nil {
		return State{}, err
	}
	return st, nil
}

// begin connects and begins the read-only transaction Read reads in.
func (c *conn) begin(ctx context.Context) (*sql.Tx, error) {
	if err := c.db.PingContext(ctx); err != nil {
		return nil, c.fail(ErrUnreachable, "%s is unreachable: %v", c.where, err)
	}
	tx, err := c.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, c.fail(ErrUnreachable, "%s is unreachable: cannot begin a read-only transaction: %v", c.where, err)
	}
	return tx, nil
}

// fail builds an *Error whose message has been stripped of credentials.
func (c *conn) fail(kind error, format string, args ...any) error {
	return &Error{Kind: kind, msg: c.red.text(fmt.Sprintf(format, args...))}
}

// queryFail classifies an error from reading table.
func (c *conn) queryFail(ctx context.Context, src Source, table string, err error) error {
	tool := string(src.Tool)
	switch {
	case isNoTable(err):
		return c.fail(ErrNoTable, "the %s table %s does not exist in %s (is the tool right, and has it migrated this database?): %v", tool, table, c.where, err)
	case isNoColumn(err):
		return c.fail(ErrNoColumn, "the table %s in %s lacks a column the %s layout has (is the tool or the column right?): %v", table, c.where, tool, err)
	case ctx.Err() != nil:
		return c.fail(ErrUnreachable, "%s is unreachable: reading %s did not finish in time: %v", c.where, table, err)
	}
	return c.fail(ErrUnreadable, "reading the %s table %s in %s failed: %v", tool, table, c.where, err)
}

func isNoTable(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "42P01" || pg.Code == "3F000" // undefined_table, invalid_schema_name
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1146 // ER_NO_SUCH_TABLE
	}
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "unknown database")
}

func isNoColumn(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "42703" // undefined_column
	}
	var my *mysql.MySQLError
	if errors.As(err, &my) {
		return my.Number == 1054 // ER_BAD_FIELD_ERROR
	}
	return strings.Contains(err.Error(), "no such column")
}

// open prepares the database handle for src; nothing is connected yet.
func open(src Source) (*conn, error) {
	switch normalDriver(src.Driver) {
	case "postgres":
		return openPostgres(src.URL)
	case "mysql":
		return openMySQL(src.URL)
	default:
		return openSQLite(src.URL)
	}
}

func openPostgres(raw string) (*conn, error) {
	red := newRedactor(raw)
	cfg, err := pgx.ParseConfig(raw)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidSource, msg: "the postgres migration database URL cannot be parsed (use postgres://USER:PASSWORD@HOST:PORT/DB): " + red.text(err.Error())}
	}
	red = newRedactor(raw, cfg.Password)
	// The simple protocol prepares nothing, so the read also works through
	// poolers such as PgBouncer in transaction mode; for the same reason no
	// startup parameters are added (the transaction is what is read-only).
	cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	where := fmt.Sprintf("postgres database %q at %s", cfg.Database, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	if strings.HasPrefix(cfg.Host, "/") {
		where = fmt.Sprintf("postgres database %q at %s", cfg.Database, cfg.Host)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(1)
	return &conn{db: db, d: postgresDialect, where: where, red: red}, nil
}

// mysqlConfig parses a go-sql-driver DSN (user:pass@tcp(host:port)/db),
// the same with a mysql:// prefix (golang-migrate's form), or a
// mysql://user:pass@host:port/db?params URL.
func mysqlConfig(raw string) (*mysql.Config, error) {
	s := strings.TrimSpace(raw)
	rest, isURL := strings.CutPrefix(s, "mysql://")
	if !isURL {
		rest, isURL = strings.CutPrefix(s, "mariadb://")
	}
	if !isURL || strings.Contains(rest, "tcp(") || strings.Contains(rest, "unix(") {
		return mysql.ParseDSN(rest)
	}
	u, err := url.Parse("mysql://" + rest)
	if err != nil {
		return nil, errors.New("it is neither a DSN USER:PASSWORD@tcp(HOST:PORT)/DB nor a URL mysql://USER:PASSWORD@HOST:PORT/DB")
	}
	host := u.Host
	if host == "" {
		host = "127.0.0.1"
	}
	if u.Port() == "" {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "3306")
	}
	dsn := "tcp(" + host + ")/" + strings.TrimPrefix(u.Path, "/")
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	if u.User != nil {
		cfg.User = u.User.Username()
		cfg.Passwd, _ = u.User.Password()
	}
	return cfg, nil
}

func openMySQL(raw string) (*conn, error) {
	red := newRedactor(raw)
	cfg, err := mysqlConfig(raw)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidSource, msg: "the mysql migration database DSN cannot be parsed (use USER:PASSWORD@tcp(HOST:PORT)/DB or mysql://USER:PASSWORD@HOST:PORT/DB): " + red.text(err.Error())}
	}
	red = newRedactor(raw, cfg.Passwd)
	cfg.ParseTime = true
	if cfg.Timeout == 0 {
		cfg.Timeout = ReadTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	// TIMESTAMP columns are then returned in UTC, which is how the driver
	// reads them (cfg.Loc defaults to UTC).
	if _, ok := cfg.Params["time_zone"]; !ok && cfg.Loc == time.UTC {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, &Error{Kind: ErrInvalidSource, msg: red.text(fmt.Sprintf("the mysql migration database DSN is not usable: %v", err))}
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(1)
	where := fmt.Sprintf("mysql database %q at %s", cfg.DBName, cfg.Addr)
	return &conn{db: db, d: mysqlDialect, where: where, red: red}, nil
}

// sqlitePath returns the file an SQLite URL names: sqlite://PATH (so
// sqlite:///abs/x.db is /abs/x.db), sqlite3://PATH, file:PATH, or a path.
func sqlitePath(raw string) string {
	s := strings.TrimSpace(raw)
	if rest, ok := strings.CutPrefix(s, "file:"); ok {
		if i := strings.IndexByte(rest, '?'); i >= 0 {
			rest = rest[:i]
		}
		if strings.HasPrefix(rest, "///") {
			rest = rest[2:]
		}
		if u, err := url.PathUnescape(rest); err == nil {
			rest = u
		}
		return rest
	}
	for _, p := range []string{"sqlite3://", "sqlite://", "sqlite3:", "sqlite:"} {
		if rest, ok := strings.CutPrefix(s, p); ok {
			if i := strings.IndexByte(rest, '?'); i >= 0 {
				rest = rest[:i]
			}
			return rest
		}
	}
	return s
}

func openSQLite(raw string) (*conn, error) {
	path := sqlitePath(raw)
	red := newRedactor("")
	if path == "" {
		return nil, invalid("the sqlite migration database URL names no file: use sqlite:///abs/path.db or a file path")
	}
	where := fmt.Sprintf("sqlite database %s", path)
	// Never create the file: a missing database is unreachable, not empty.
	if _, err := os.Stat(path); err != nil {
		return nil, &Error{Kind: ErrUnreachable, msg: fmt.Sprintf("%s is unreachable: %v", where, errors.Unwrap(err))}
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	dsn := "file:" + esc + "?mode=ro&_pragma=query_only(1)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, &Error{Kind: ErrUnreachable, msg: fmt.Sprintf("%s is unreachable: %v", where, err)}
	}
	db.SetMaxOpenConns(1)
	return &conn{db: db, d: sqliteDialect, where: where, red: red}, nil
}
