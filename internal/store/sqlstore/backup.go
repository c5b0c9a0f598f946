package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/bakery-deploy/bakery/internal/store"
)

// sqliteMagic opens every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// fileBackup is a consistent copy in a temporary file that is removed when
// it is closed.
type fileBackup struct {
	*os.File
	size int64
}

func (b *fileBackup) Size() int64 { return b.size }

func (b *fileBackup) Close() error {
	err := b.File.Close()
	if rmErr := os.Remove(b.File.Name()); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	return err
}

// Backup copies the database with VACUUM INTO on the read pool: a
// snapshot as of one read transaction, taken while the server keeps
// writing (WAL readers never block the writer). The copy goes to a 0600
// temporary file in the database's own directory (same disk, same
// protection as the database) and is removed when the backup is closed.
func (s *sqliteStore) Backup(ctx context.Context) (store.Backup, error) {
	var path string
	if err := s.write.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&path); err != nil {
		return nil, fmt.Errorf("error finding the database file: %w", err)
	}
	return vacuumInto(ctx, s.read, path)
}

// vacuumInto writes a consistent copy of the database at path, read
// through db, to a temporary file next to it and opens it for reading.
func vacuumInto(ctx context.Context, db *sql.DB, path string) (store.Backup, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bakery-backup-*.db") // 0600
	if err != nil {
		return nil, fmt.Errorf("error creating a temporary file for the backup next to %s: %w", path, err)
	}
	name := tmp.Name()
	tmp.Close()
	fail := func(err error) (store.Backup, error) {
		os.Remove(name)
		os.Remove(name + "-journal")
		return nil, err
	}
	// VACUUM INTO accepts an empty existing file, so the file keeps the
	// mode CreateTemp gave it.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, name); err != nil {
		return fail(fmt.Errorf("error copying %s with VACUUM INTO: %w", path, err))
	}
	f, err := os.Open(name)
	if err != nil {
		return fail(fmt.Errorf("error opening the backup copy: %w", err))
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fail(fmt.Errorf("error reading the backup copy: %w", err))
	}
	return &fileBackup{File: f, size: st.Size()}, nil
}

// Backup on PostgreSQL is PostgreSQL's own tool's job.
func (s *pgStore) Backup(ctx context.Context) (store.Backup, error) {
	return nil, pgBackupError(s.pool.Config().ConnString())
}

func pgBackupError(url string) error {
	return fmt.Errorf("%w: bakery's PostgreSQL database is backed up with pg_dump, which takes a consistent snapshot while bakery runs: pg_dump --format=custom --file=bakery.dump '%s' (restore with pg_restore --clean --dbname=URL bakery.dump while bakery is stopped)",
		store.ErrBackupUnsupported, redact(url))
}

// BackupURL takes a consistent copy of the database at url directly,
// without a server: for a SQLite file (whether or not a server holds it;
// the copy is a snapshot of one read transaction). It does not migrate
// or otherwise change the database. On PostgreSQL it returns an error
// saying how to run pg_dump.
func BackupURL(ctx context.Context, url string) (store.Backup, error) {
	switch {
	case strings.HasPrefix(url, "sqlite://"):
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return nil, pgBackupError(url)
	default:
		return nil, fmt.Errorf("database URL %q is not supported: use sqlite://PATH (PostgreSQL is backed up with pg_dump)", redact(url))
	}
	path := strings.TrimPrefix(url, "sqlite://")
	if path == "" {
		return nil, errors.New("sqlite:// URL has no path: use sqlite:///var/lib/bakery/bakery.db")
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("cannot back up %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", sqliteDSN(path, true))
	if err != nil {
		return nil, fmt.Errorf("error opening %s: %w", path, err)
	}
	defer db.Close()
	if _, err := schemaVersions(ctx, db, path); err != nil {
		return nil, err
	}
	return vacuumInto(ctx, db, path)
}

// schemaVersions checks that db is a bakery database and returns the
// migrations it has applied.
func schemaVersions(ctx context.Context, db *sql.DB, path string) ([]string, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'bakery_migrations'`).Scan(&n); err != nil {
		return nil, fmt.Errorf("%s is not a readable SQLite database: %w", path, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%s is a SQLite database but not bakery's: it has no bakery_migrations table", path)
	}
	rows, err := db.QueryContext(ctx, `SELECT version FROM bakery_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("error reading the migrations of %s: %w", path, err)
	}
	defer rows.Close()
	var versions []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		versions = append(versions, v)
	}
	return versions, rows.Err()
}

// RestoreParams says what Restore restores where.
type RestoreParams struct {
	// From is the backup file (from bakery backup).
	From string
	// To is the database URL to restore into: sqlite://PATH.
	To string
	// Force replaces an existing database at To (never one a running
	// server holds).
	Force bool
}

// Restore checks that p.From is a sound bakery database whose schema this
// binary knows, and puts it in place at p.To atomically (a temporary file
// in the same directory, synced, then renamed). It refuses while a server
// holds the database: it takes the same lock file a server takes
// (PATH.lock) and keeps it until the copy is in place, so a server cannot
// start on a half-restored database either.
func Restore(ctx context.Context, p RestoreParams) error {
	if !strings.HasPrefix(p.To, "sqlite://") {
		if strings.HasPrefix(p.To, "postgres://") || strings.HasPrefix(p.To, "postgresql://") {
			return errors.New("--db: restore into PostgreSQL with pg_restore (pg_restore --clean --dbname=URL bakery.dump) while bakery is stopped; bakery restore writes SQLite files only")
		}
		return fmt.Errorf("--db %q: give the SQLite database to restore into as sqlite://PATH", redact(p.To))
	}
	dst := strings.TrimPrefix(p.To, "sqlite://")
	if dst == "" {
		return errors.New("--db sqlite:// has no path: use sqlite:///var/lib/bakery/bakery.db")
	}
	if err := checkBackupFile(ctx, p.From); err != nil {
		return err
	}
	if err := mkdirPrivate(filepath.Dir(dst)); err != nil {
		return fmt.Errorf("error creating directory for database %s: %w", dst, err)
	}
	lockFD, err := os.OpenFile(dst+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("error opening lock file for %s: %w", dst, err)
	}
	defer lockFD.Close()
	if err := syscall.Flock(int(lockFD.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("database %s is in use by a running bakery server (lock %s.lock held): stop the server first, or restore into another path and point the server at it", dst, dst)
	}
	if st, err := os.Stat(dst); err == nil && st.Size() > 0 && !p.Force {
		return fmt.Errorf("database %s exists already: pass --force to replace it (the server using it must be stopped), or restore into a new path", dst)
	}
	src, err := os.Open(p.From)
	if err != nil {
		return fmt.Errorf("error opening backup %s: %w", p.From, err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".bakery-restore-*.db") // 0600
	if err != nil {
		return fmt.Errorf("error creating a temporary file next to %s: %w", dst, err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, src); err != nil {
		return fmt.Errorf("error copying %s: %w", p.From, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("error syncing the restored copy: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("error writing the restored copy: %w", err)
	}
	// A write-ahead log left by the old database would be replayed onto
	// the new one: remove it (and its index) before the new file appears.
	for _, name := range []string{dst + "-wal", dst + "-shm"} {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("error removing the old database's %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("error putting the restored database in place at %s: %w", dst, err)
	}
	committed = true
	if dir, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// checkBackupFile checks that path is a SQLite file that passes
// integrity_check and is a bakery database of a schema this binary knows.
func checkBackupFile(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read backup %s: %w", path, err)
	}
	head := make([]byte, len(sqliteMagic))
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil || string(head) != sqliteMagic {
		return fmt.Errorf("%s is not a SQLite database (no SQLite header): give a file written by 'bakery backup'", path)
	}
	// immutable: the backup is only read, and no -shm or -journal file is
	// made beside it.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&immutable=1")
	if err != nil {
		return fmt.Errorf("error opening backup %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fmt.Errorf("backup %s cannot be checked: %w", path, err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		if s != "ok" {
			problems = append(problems, s)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("backup %s cannot be checked: %w", path, err)
	}
	if len(problems) > 0 {
		if len(problems) > 3 {
			problems = append(problems[:3], fmt.Sprintf("and %d more", len(problems)-3))
		}
		return fmt.Errorf("backup %s is damaged (integrity_check: %s): use another backup", path, strings.Join(problems, "; "))
	}
	versions, err := schemaVersions(ctx, db, path)
	if err != nil {
		return err
	}
	known, err := migrationFiles("sqlite")
	if err != nil {
		return err
	}
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	for _, v := range versions {
		if !isKnown[v] {
			return fmt.Errorf("backup %s has schema migration %s, which this bakery does not know: it was written by a newer bakery; restore it with that version (this one knows up to %s)", path, v, known[len(known)-1])
		}
	}
	return nil
}
