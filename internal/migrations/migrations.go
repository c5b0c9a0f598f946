// Package migrations reads, read-only, which schema migrations an
// environment's database has really applied — from the migration tool's own
// table — and computes drift between the environments of a pipeline
// (SPEC rule 12): a migration applied in a later environment but never in
// the earlier one (it skipped the rehearsal), a migration applied in an
// earlier environment and still missing in the next one after the bake, a
// database that could not be read, and a failed (dirty) migration.
//
// Read never writes: it opens one connection, reads in a read-only
// transaction (PostgreSQL and MySQL/MariaDB; SQLite files are opened with
// mode=ro and query_only), and closes the connection. Its errors never
// contain the password or the full database URL.
package migrations

import (
	"errors"
	"time"
)

// Tool names the migration tool whose table is read.
type Tool string

// The tools whose tables Read understands.
const (
	// GolangMigrate is github.com/golang-migrate/migrate: table
	// schema_migrations (version bigint, dirty bool) with one row, the
	// current version. It records only the latest version, so a State read
	// from it has Latest set.
	GolangMigrate Tool = "golang-migrate"
	// Goose is github.com/pressly/goose: table goose_db_version (id,
	// version_id, is_applied, tstamp).
	Goose Tool = "goose"
	// Rails is Active Record: table schema_migrations (version varchar),
	// one row per applied migration.
	Rails Tool = "rails"
	// Flyway is table flyway_schema_history (installed_rank, version,
	// description, type, script, checksum, installed_by, installed_on,
	// execution_time, success).
	Flyway Tool = "flyway"
	// Prisma is table _prisma_migrations (id, checksum, finished_at,
	// migration_name, logs, rolled_back_at, started_at,
	// applied_steps_count).
	Prisma Tool = "prisma"
	// Table is a custom table: Source.Table, with the migration IDs in
	// Source.Column.
	Table Tool = "table"
)

// Tools lists every Tool, for validation messages and documentation.
var Tools = []Tool{GolangMigrate, Goose, Rails, Flyway, Prisma, Table}

// Valid reports whether t is one of Tools.
func (t Tool) Valid() bool {
	for _, k := range Tools {
		if t == k {
			return true
		}
	}
	return false
}

// DefaultTable is the table each tool keeps its history in when Source.Table
// does not name another one.
func (t Tool) DefaultTable() string {
	switch t {
	case GolangMigrate, Rails:
		return "schema_migrations"
	case Goose:
		return "goose_db_version"
	case Flyway:
		return "flyway_schema_history"
	case Prisma:
		return "_prisma_migrations"
	}
	return ""
}

// Source says where to read.
type Source struct {
	// Driver is "postgres", "mysql" or "sqlite" ("postgresql", "pgx",
	// "mariadb" and "sqlite3" are accepted as the same).
	Driver string
	// URL is the DSN: postgres://… (or a key=value connection string); a
	// MySQL DSN user:pass@tcp(host:port)/db or a mysql://user:pass@host:port/db
	// URL; an SQLite file path, sqlite://path or file:path.
	URL string
	// Tool is the migration tool whose table is read.
	Tool Tool
	// Table is, for Tool == Table, the table holding the migration IDs. For
	// the other tools it may name the tool's table when it was configured
	// to use another name (goose -table, flyway.table, golang-migrate
	// x-migrations-table); empty means the tool's default. It may be
	// schema-qualified (schema.table); names are quoted, so they are
	// case-sensitive on PostgreSQL.
	Table string
	// Column is, for Tool == Table only, the column holding migration IDs.
	Column string
	// AppliedColumn is, for Tool == Table only and optional, a column that
	// must be true or non-null for a row to count as applied.
	AppliedColumn string
}

// Applied is one applied migration.
type Applied struct {
	// ID is normalised: the golang-migrate version ("20240101120000"), the
	// goose version as a decimal string, the rails version, the flyway
	// version (or the script name for a repeatable migration, which has no
	// version), the prisma migration_name, or the custom table's column.
	ID string
	// AppliedAt is when the tool recorded it (goose tstamp, flyway
	// installed_on, prisma finished_at, a custom table's AppliedColumn when
	// it is a timestamp), in UTC; nil when the tool records no time
	// (golang-migrate, rails).
	AppliedAt *time.Time
}

// State is what one read found.
type State struct {
	// Applied are the applied migrations, ordered as the tool orders them:
	// by version for goose and rails (numerically when the versions are
	// numbers), by installed_rank for flyway, by started_at for prisma, by
	// the ID column for a custom table.
	Applied []Applied
	// Latest says that Applied holds only the latest applied migration and
	// that every migration with a lower (numeric) ID counts as applied too.
	// golang-migrate sets it: its table records only the current version.
	Latest bool
	// Dirty says a migration failed or is incomplete: golang-migrate's dirty
	// flag (then the current version itself counts as not applied), flyway
	// rows with success = false, prisma rows that never finished or were
	// rolled back (and never applied again).
	Dirty bool
	// Detail is a sentence for people about Dirty (what failed and how the
	// tool fixes it) or, for golang-migrate, about what its table records;
	// empty otherwise.
	Detail string
}

// Errors that Read returns wrap one of these kinds, for errors.Is.
var (
	// ErrInvalidSource: the Source is incomplete or malformed.
	ErrInvalidSource = errors.New("invalid migration source")
	// ErrUnreachable: the database could not be connected to (down, wrong
	// host, refused credentials, missing database or file) or did not
	// answer in time.
	ErrUnreachable = errors.New("database unreachable")
	// ErrNoTable: the tool's table does not exist in the database.
	ErrNoTable = errors.New("migration table not found")
	// ErrNoColumn: the table lacks a column the tool's layout has.
	ErrNoColumn = errors.New("migration column not found")
	// ErrUnreadable: the table exists but reading it failed otherwise.
	ErrUnreadable = errors.New("migration table unreadable")
)

// Error is an error from Read. Its message says plainly what went wrong and
// never contains a password or the database URL; Unwrap returns one of the
// Err* kinds above.
type Error struct {
	Kind error
	msg  string
}

func (e *Error) Error() string { return e.msg }

// Unwrap returns the error's kind.
func (e *Error) Unwrap() error { return e.Kind }
