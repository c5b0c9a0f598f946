package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/bakery-deploy/bakery/internal/store"
)

//go:embed migrations
var migrationsFS embed.FS

// Queue names the workers run: the engine's (engine.QueueDeploy and
// engine.QueueDefault, which own them; an engine test keeps the two in
// step). Deploy commands get their own queue so that long deploys never
// hold up quick bookkeeping jobs.
const (
	QueueDeploy  = "deploy"
	QueueDefault = river.QueueDefault
	// QueueGitHub runs the calls to GitHub (internal/github): a GitHub
	// outage fills this queue, never the others.
	QueueGitHub = "github"
	// QueueNotify carries notifications (internal/notify): a slow or dead
	// destination never holds up deploys or bookkeeping.
	QueueNotify = "notify"
)

// Options configures Open.
type Options struct {
	// Workers are the River workers this process runs. Nil opens an
	// insert-only store (for tools that only read or enqueue).
	Workers *river.Workers
	Logger  *slog.Logger
	// DeployWorkers is how many deploy commands may run at once in this
	// process (default 100 on SQLite, 20 on PostgreSQL). On SQLite, with
	// 20, a burst of 1,000 releases or bake deadlines waited seconds for
	// a free worker; on PostgreSQL 100 made the deadlines later (the
	// workers' transactions queue for the pool's few connections ahead of
	// the decisions): docs/PERFORMANCE.md.
	DeployWorkers int

	// fetchPoll replaces the SQLite fetch poll's interval (a test sets an
	// hour to see that the wake-up alone brings a job to its worker).
	fetchPoll time.Duration
}

// Open opens the database named by url (sqlite://PATH or postgres://…),
// applies bakery's and River's schema migrations, and returns the store.
func Open(ctx context.Context, url string, opts Options) (store.Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	switch {
	case strings.HasPrefix(url, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(url, "sqlite://"), opts)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return openPostgres(ctx, url, opts)
	}
	return nil, fmt.Errorf("database URL %q is not supported: use sqlite://PATH or postgres://USER@HOST/DB", redact(url))
}

// redact hides a password in a database URL before it reaches a message.
func redact(url string) string {
	at := strings.LastIndex(url, "@")
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 {
		return url
	}
	userinfo := url[scheme+3 : at]
	if colon := strings.Index(userinfo, ":"); colon >= 0 {
		return url[:scheme+3] + userinfo[:colon] + ":***" + url[at:]
	}
	return url
}

// sqliteBackstopPoll is how often River's producers look for jobs on
// SQLite when nothing woke them.
const sqliteBackstopPoll = 5 * time.Second

func riverConfig(opts Options, sqlite bool) *river.Config {
	cfg := &river.Config{
		Logger: opts.Logger.With("component", "river"),
		ID:     workerID(),
	}
	if opts.Workers == nil {
		return cfg
	}
	deployWorkers, defaultWorkers := opts.DeployWorkers, 10
	if sqlite {
		// On SQLite's one writer: 100 on the default queue, not 10, since
		// a burst of deadlines makes as many reconcile jobs (each finding
		// the decision taken already, jobs.go), and a fetch takes at most
		// a queue's free workers: with 10, a hundred fetches (each a
		// commit) competed with the deploys for the writer.
		defaultWorkers = 100
	}
	if deployWorkers <= 0 {
		deployWorkers = 20
		if sqlite {
			deployWorkers = 100
		}
	}
	cfg.Workers = opts.Workers
	cfg.Queues = map[string]river.QueueConfig{
		QueueDeploy:  {MaxWorkers: deployWorkers},
		QueueDefault: {MaxWorkers: defaultWorkers},
		QueueGitHub:  {MaxWorkers: 4},
		QueueNotify:  {MaxWorkers: 20},
	}
	// Deploy commands have their own timeouts; River must not cancel them.
	// With a negative timeout River's rescuer (v0.51) skips every running
	// job, so River never hands out again a job whose process died: bakery
	// does that itself, from its replicas' heartbeats, within
	// HeartbeatTimeout (engine/recovery.go, store.Tx.JobRescue). River's own
	// rescue measures from when a job was handed out, so it could not tell
	// a long deploy from a dead one.
	cfg.JobTimeout = -1
	if sqlite {
		// One process owns a SQLite database, so River's notification
		// table (polled every 50 ms on the single writer connection) buys
		// nothing: see docs/PERFORMANCE.md.
		cfg.PollOnly = true
		// A wake-up fetches at once; more wake-ups within the cooldown
		// make one fetch at its end. (10 ms, to bound the fetches under a
		// burst as the 10 ms poll did, made no difference measured at 300
		// releases from 8 clients: docs/PERFORMANCE.md.)
		cfg.FetchCooldown = 2 * time.Millisecond
		// The store wakes the producers after each commit that enqueued
		// jobs, and at the time of each job scheduled for later (wake.go);
		// the poll is only the backstop for anything missed. Each poll of
		// each queue is a write transaction whose statement SQLite
		// prepares again: at 1 s it was a quarter of the idle CPU.
		cfg.FetchPollInterval = sqliteBackstopPoll
		if opts.fetchPoll > 0 {
			cfg.FetchPollInterval = opts.fetchPoll
		}
	} else {
		// LISTEN/NOTIFY wakes workers at once, but River rate-limits its
		// insert notifications per queue; the poll is the bound when a
		// notification was skipped.
		cfg.FetchCooldown = 10 * time.Millisecond
		cfg.FetchPollInterval = 50 * time.Millisecond
	}
	return cfg
}

// workerID names this process's job workers: the holder recorded on every
// job they take, and the name of the replica heartbeat that says they are
// alive (store.Store.WorkerID). Host, process and start time make it unique
// even for two replicas started on one host in the same microsecond.
func workerID() string {
	host, _ := os.Hostname()
	if len(host) > 50 {
		host = host[:50]
	}
	return fmt.Sprintf("%s_%d_%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano(), 36))
}

func migrationFiles(dialect string) ([]string, error) {
	entries, err := fs.ReadDir(migrationsFS, "migrations/"+dialect)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		// NAME.down.sql takes NAME.sql back (SchemaDown); it is never
		// applied on the way up.
		if !strings.HasSuffix(e.Name(), downSuffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// migrate applies bakery's own migrations that q has not seen yet.
func migrate(ctx context.Context, q querier, dialect string) error {
	if _, err := q.exec(ctx, `CREATE TABLE IF NOT EXISTS bakery_migrations (version TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("error creating migrations table: %w", err)
	}
	names, err := migrationFiles(dialect)
	if err != nil {
		return err
	}
	for _, name := range names {
		var seen string
		err := q.queryRow(ctx, `SELECT version FROM bakery_migrations WHERE version = ?`, name).Scan(&seen)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("error reading migrations table: %w", err)
		}
		body, err := migrationsFS.ReadFile("migrations/" + dialect + "/" + name)
		if err != nil {
			return err
		}
		if _, err := q.exec(ctx, string(body)); err != nil {
			return fmt.Errorf("error applying migration %s: %w", name, err)
		}
		if _, err := q.exec(ctx, `INSERT INTO bakery_migrations (version, applied_at) VALUES (?, ?)`, name, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("error recording migration %s: %w", name, err)
		}
	}
	return nil
}

// --- SQLite ---

type sqliteStore struct {
	queries
	write *sql.DB
	read  *sql.DB
	river *river.Client[*sql.Tx]
	// unsubscribe ends the subscription to River's job events (nil
	// without workers).
	unsubscribe func()
	lockFD      *os.File
	// pilot wakes this process's producers after a commit that enqueued
	// jobs (wake.go); queues are all the queues they serve.
	pilot  *wakePilot
	queues []string
	// reqs carries units of work to the committer goroutine, which runs
	// them in groups (groupcommit.go) until quit is closed.
	reqs          chan *txReq
	quit          chan struct{}
	committerDone chan struct{}
	closeOnce     sync.Once
	groups        groupCounts
	stmtCounts    stmtCounts
}

// openCachingDB opens a SQLite pool whose connections keep their prepared
// statements.
func openCachingDB(dsn string, counts *stmtCounts) (*sql.DB, error) {
	c, err := newCachingConnector(dsn, counts)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

func sqliteDSN(path string, readOnly bool) string {
	// synchronous(FULL): a decision must survive not only a crash of bakery
	// but of the machine before its side effect starts (rule 10). It costs
	// about 0.3 ms per commit here, far below a deploy's overhead budget.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=foreign_keys(1)&_txlock=immediate"
	if readOnly {
		dsn += "&mode=ro"
	}
	return dsn
}

func openSQLite(ctx context.Context, path string, opts Options) (*sqliteStore, error) {
	if path == "" {
		return nil, errors.New("sqlite:// URL has no path: use sqlite:///var/lib/bakery/bakery.db or sqlite://bakery.db")
	}
	if err := privateFiles(path, opts.Logger); err != nil {
		return nil, err
	}
	// One process at a time owns a SQLite database: River's single writer
	// connection and bakery's leadership both assume it.
	lockFD, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("error opening lock file for %s: %w", path, err)
	}
	if err := syscall.Flock(int(lockFD.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lockFD.Close()
		return nil, fmt.Errorf("database %s is in use by another bakery process (lock %s.lock held): stop it, or use PostgreSQL to run several replicas", path, path)
	}
	// Every connection keeps its prepared statements (stmtcache.go).
	s := &sqliteStore{lockFD: lockFD}
	write, err := openCachingDB(sqliteDSN(path, false), &s.stmtCounts)
	if err != nil {
		lockFD.Close()
		return nil, fmt.Errorf("error opening %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	s.queries, s.write = queries{q: sqlQuerier{write}}, write
	fail := func(err error) (*sqliteStore, error) {
		write.Close()
		lockFD.Close()
		return nil, err
	}
	if err := write.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("error opening %s: %w", path, err))
	}
	tx, err := write.BeginTx(ctx, nil)
	if err != nil {
		return fail(fmt.Errorf("error starting migration transaction: %w", err))
	}
	if err := migrate(ctx, sqlQuerier{tx}, "sqlite"); err != nil {
		tx.Rollback()
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(fmt.Errorf("error committing migrations: %w", err))
	}
	driver := riversqlite.New(write)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: opts.Logger.With("component", "river")})
	if err != nil {
		return fail(fmt.Errorf("error preparing River migrations: %w", err))
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fail(fmt.Errorf("error applying River migrations: %w", err))
	}
	// SQLite creates the -wal and -shm files with the database file's
	// mode; check, in case they were left by an older bakery.
	if err := privateFiles(path, opts.Logger); err != nil {
		return fail(err)
	}
	s.read, err = openCachingDB(sqliteDSN(path, true), &s.stmtCounts)
	if err != nil {
		return fail(fmt.Errorf("error opening read pool for %s: %w", path, err))
	}
	// Idle connections are kept, with their prepared statements.
	s.read.SetMaxOpenConns(4)
	s.read.SetMaxIdleConns(4)
	s.queries = queries{q: sqlQuerier{s.read}}
	wd := newWakeDriver(driver)
	rcfg := riverConfig(opts, true)
	s.river, err = river.NewClient[*sql.Tx](wd, rcfg)
	if err != nil {
		s.read.Close()
		return fail(fmt.Errorf("error creating River client: %w", err))
	}
	s.pilot = wd.pilot
	if len(rcfg.Queues) > 0 {
		// River tells when it put a job back for later (a retry, a
		// snooze): its producers are woken at its time (wake.go).
		events, cancel := s.river.Subscribe(river.EventKindJobFailed, river.EventKindJobSnoozed)
		s.unsubscribe = cancel
		go s.pilot.wakeForOutcomes(events)
	}
	for q := range rcfg.Queues {
		s.queues = append(s.queues, q)
	}
	sort.Strings(s.queues)
	s.reqs, s.quit, s.committerDone = make(chan *txReq), make(chan struct{}), make(chan struct{})
	go s.committer()
	return s, nil
}

// sqliteFiles are the files SQLite and bakery keep for a database.
func sqliteFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm", path + ".lock"}
}

// privateFiles keeps a SQLite database readable by its owner only: the
// database holds token hashes and deployment output. A missing directory
// is created 0700 (an existing one the operator chose, such as /tmp, is
// left alone), a missing database file is created 0600 before the driver
// opens it, and an existing file that others may read is tightened, with a
// log line saying so. Modes are set with chmod, so the umask does not
// matter.
func privateFiles(path string, log *slog.Logger) error {
	if err := mkdirPrivate(filepath.Dir(path)); err != nil {
		return fmt.Errorf("error creating directory for database %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	switch {
	case err == nil:
		f.Close()
		if err := os.Chmod(path, 0o600); err != nil {
			return fmt.Errorf("error making database %s private: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("error creating database %s: %w", path, err)
	}
	for _, name := range sqliteFiles(path) {
		st, err := os.Stat(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("error checking %s: %w", name, err)
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 || mode&0o600 != 0o600 {
			if err := os.Chmod(name, 0o600); err != nil {
				return fmt.Errorf("error making %s private (mode %#o): %w", name, mode, err)
			}
			if mode&0o077 != 0 {
				log.Warn("database file was readable by others; made it private", "file", name, "was", fmt.Sprintf("%#o", mode), "now", "0600")
			}
		}
	}
	return nil
}

// mkdirPrivate creates dir and any missing parents with mode 0700; it does
// not change directories that exist.
func mkdirPrivate(dir string) error {
	if st, err := os.Stat(dir); err == nil {
		if !st.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirPrivate(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made by someone else meanwhile: theirs
		}
		return err
	}
	return os.Chmod(dir, 0o700)
}

func (s *sqliteStore) Kind() string { return "sqlite" }

// InTx runs fn as one unit of work on the writer. Units that wait for the
// writer together share one commit (groupcommit.go); each returns only
// once its writes are committed.
func (s *sqliteStore) InTx(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	r := &txReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case s.reqs <- r:
	case <-s.quit:
		return errStoreClosed
	case <-ctx.Done():
		return fmt.Errorf("error starting transaction: %w", ctx.Err())
	}
	// Once handed over, the unit is waited for even if ctx ends: fn may
	// be running, and its outcome is only known at the commit.
	<-r.done
	if r.panicked != nil {
		panic(r.panicked)
	}
	return r.err
}

func (s *sqliteStore) LeaderAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	return queries{q: sqlQuerier{s.write}}.leaderAcquire(ctx, name, holder, now, ttl)
}

func (s *sqliteStore) LeaderResign(ctx context.Context, name, holder string) error {
	return queries{q: sqlQuerier{s.write}}.leaderResign(ctx, name, holder)
}

func (s *sqliteStore) Start(ctx context.Context) error {
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("error starting River: %w", err)
	}
	// Jobs made available before River started (rescued from a dead
	// process at start-up: their wake-up found no producer) run now, not
	// at the first poll.
	s.pilot.wake(s.queues)
	return nil
}

func (s *sqliteStore) Close(ctx context.Context) error {
	var errs []error
	if err := s.river.Stop(ctx); err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "not started") {
		errs = append(errs, fmt.Errorf("error stopping River: %w", err))
	}
	s.closeOnce.Do(func() { close(s.quit) })
	<-s.committerDone
	if s.unsubscribe != nil {
		s.unsubscribe()
	}
	s.pilot.stop()
	errs = append(errs, s.read.Close(), s.write.Close(), s.lockFD.Close())
	return errors.Join(errs...)
}

type sqliteTx struct {
	queries
	tx    *sql.Tx
	river *river.Client[*sql.Tx]
	// woken are the queues this transaction enqueued jobs in; wakeAll is
	// set when it handed rescued jobs back (of any queue). The store wakes
	// their producers once it has committed.
	woken   []string
	wakeAll bool
	// later are the jobs it scheduled for later: their producers are woken
	// at their time.
	later []laterJob
}

type laterJob struct {
	queue string
	at    time.Time
}

// --- PostgreSQL ---

type pgStore struct {
	queries
	pool  *pgxpool.Pool
	river *river.Client[pgx.Tx]
}

func openPostgres(ctx context.Context, url string, opts Options) (*pgStore, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("error connecting to %s: %w", redact(url), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("error connecting to %s: %w", redact(url), err)
	}
	s := &pgStore{queries: queries{q: pgxQuerier{pool}, postgres: true}, pool: pool}
	fail := func(err error) (*pgStore, error) {
		pool.Close()
		return nil, err
	}
	// Replicas starting together take turns migrating: a session lock held
	// on one connection while both bakery's and River's migrations run.
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fail(fmt.Errorf("error acquiring connection for migrations: %w", err))
	}
	err = func() error {
		defer conn.Release()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock(7262633)`); err != nil {
			return fmt.Errorf("error taking migration lock: %w", err)
		}
		defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7262633)`) //nolint:errcheck // released with the session anyway
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error { return migrate(ctx, pgxQuerier{tx}, "postgres") }); err != nil {
			return err
		}
		migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: opts.Logger.With("component", "river")})
		if err != nil {
			return fmt.Errorf("error preparing River migrations: %w", err)
		}
		if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("error applying River migrations: %w", err)
		}
		return nil
	}()
	if err != nil {
		return fail(err)
	}
	s.river, err = river.NewClient(riverpgxv5.New(pool), riverConfig(opts, false))
	if err != nil {
		return fail(fmt.Errorf("error creating River client: %w", err))
	}
	return s, nil
}

func (s *pgStore) Kind() string { return "postgres" }

func (s *pgStore) InTx(ctx context.Context, fn func(context.Context, store.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("error starting transaction: %w", err)
	}
	t := &pgTx{queries: queries{q: pgxQuerier{tx}, postgres: true}, tx: tx, river: s.river}
	if err := fn(ctx, t); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("error committing transaction: %w", mapErr(err))
	}
	return nil
}

func (s *pgStore) LeaderAcquire(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	return s.queries.leaderAcquire(ctx, name, holder, now, ttl)
}

func (s *pgStore) LeaderResign(ctx context.Context, name, holder string) error {
	return s.queries.leaderResign(ctx, name, holder)
}

func (s *pgStore) Start(ctx context.Context) error {
	if err := s.river.Start(ctx); err != nil {
		return fmt.Errorf("error starting River: %w", err)
	}
	return nil
}

func (s *pgStore) Close(ctx context.Context) error {
	var err error
	if stopErr := s.river.Stop(ctx); stopErr != nil && !errors.Is(stopErr, context.Canceled) && !strings.Contains(stopErr.Error(), "not started") {
		err = fmt.Errorf("error stopping River: %w", stopErr)
	}
	s.pool.Close()
	return err
}

type pgTx struct {
	queries
	tx    pgx.Tx
	river *river.Client[pgx.Tx]
}

// RawExec runs a statement the store's API does not offer. Only the
// conformance suite uses it, to prove the database refuses forbidden writes.
func (t *sqliteTx) RawExec(ctx context.Context, q string) error {
	_, err := t.q.exec(ctx, q)
	return err
}

// RawExec runs a statement the store's API does not offer. Only the
// conformance suite uses it, to prove the database refuses forbidden writes.
func (t *pgTx) RawExec(ctx context.Context, q string) error {
	_, err := t.q.exec(ctx, q)
	return err
}
