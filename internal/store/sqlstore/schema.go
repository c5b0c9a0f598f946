package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// downSuffix names the file that takes a migration back: NAME.down.sql for
// NAME.sql.
const downSuffix = ".down.sql"

// SchemaDown takes the newest of bakery's schema migrations back, so that
// the previous version of bakery runs on the database as it was before
// the upgrade: only the newest migration this binary knows, only if it is
// the newest applied, and only if it ships a down file. No server may be
// using the database (on SQLite the lock file says so; on PostgreSQL stop
// every replica first). It returns the migration taken back. River's own
// migrations are left alone: they are compatible across bakery versions.
func SchemaDown(ctx context.Context, url string) (string, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return sqliteSchemaDown(ctx, strings.TrimPrefix(url, "sqlite://"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return pgSchemaDown(ctx, url)
	}
	return "", fmt.Errorf("database URL %q is not supported: use sqlite://PATH or postgres://USER@HOST/DB", redact(url))
}

// downStep checks that the newest applied migration is the newest this
// binary knows and has a down file, and returns it with the down file's
// SQL.
func downStep(dialect string, applied []string) (string, string, error) {
	known, err := migrationFiles(dialect)
	if err != nil {
		return "", "", err
	}
	if len(applied) == 0 {
		return "", "", errors.New("the database has no bakery migrations applied: nothing to take back")
	}
	newest, latest := applied[len(applied)-1], known[len(known)-1]
	if newest != latest {
		if !contains(known, newest) {
			return "", "", fmt.Errorf("the database's newest migration %s is newer than this bakery (which knows up to %s): take it back with the bakery that applied it", newest, latest)
		}
		return "", "", fmt.Errorf("the database's newest migration is %s, not this bakery's newest (%s): only the newest version can be taken back, and it is not applied", newest, latest)
	}
	name := strings.TrimSuffix(newest, ".sql") + downSuffix
	body, err := migrationsFS.ReadFile("migrations/" + dialect + "/" + name)
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", fmt.Errorf("migration %s has no down migration: restore the backup taken before the upgrade instead", newest)
	}
	if err != nil {
		return "", "", err
	}
	return newest, string(body), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sqliteSchemaDown(ctx context.Context, path string) (string, error) {
	if path == "" {
		return "", errors.New("sqlite:// URL has no path: use sqlite:///var/lib/bakery/bakery.db")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("cannot open database %s: %w", path, err)
	}
	lockFD, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", fmt.Errorf("error opening lock file for %s: %w", path, err)
	}
	defer lockFD.Close()
	if err := syscall.Flock(int(lockFD.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return "", fmt.Errorf("database %s is in use by a running bakery server (lock %s.lock held): stop it first", path, path)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, false))
	if err != nil {
		return "", err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("error starting transaction: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it does nothing
	applied, err := appliedVersions(ctx, sqlQuerier{tx})
	if err != nil {
		return "", err
	}
	version, body, err := downStep("sqlite", applied)
	if err != nil {
		return "", err
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return "", fmt.Errorf("error taking %s back: %w", version, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM bakery_migrations WHERE version = ?`, version); err != nil {
		return "", fmt.Errorf("error recording that %s was taken back: %w", version, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("error committing: %w", err)
	}
	return version, nil
}

func pgSchemaDown(ctx context.Context, url string) (string, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return "", fmt.Errorf("error connecting to %s: %w", redact(url), err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return "", fmt.Errorf("error connecting to %s: %w", redact(url), err)
	}
	defer conn.Release()
	// The lock replicas take while they migrate at start.
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7262633)`); err != nil {
		return "", fmt.Errorf("error taking migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7262633)`) //nolint:errcheck // released with the session anyway
	var version string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		applied, err := appliedVersions(ctx, pgxQuerier{tx})
		if err != nil {
			return err
		}
		var body string
		version, body, err = downStep("postgres", applied)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, body); err != nil {
			return fmt.Errorf("error taking %s back: %w", version, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM bakery_migrations WHERE version = $1`, version); err != nil {
			return fmt.Errorf("error recording that %s was taken back: %w", version, err)
		}
		return nil
	})
	return version, err
}

// appliedVersions lists bakery's applied migrations, oldest first.
func appliedVersions(ctx context.Context, q querier) ([]string, error) {
	rs, err := q.query(ctx, `SELECT version FROM bakery_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("error reading bakery_migrations (is this a bakery database?): %w", err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var v string
		if err := rs.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}
