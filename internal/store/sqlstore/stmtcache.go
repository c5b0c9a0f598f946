package sqlstore

import (
	"context"
	"database/sql/driver"
	"errors"
	"sync/atomic"

	"modernc.org/sqlite"
)

// A per-connection cache of prepared SQLite statements.
//
// modernc's driver prepares every statement it is asked to run and
// finalizes it afterwards; under a burst, parsing and planning the same
// few dozen statements again was 35 % of the server's CPU, most of it on
// the one writer (bakery's queries and River's alike). Every SQLite
// connection bakery opens is wrapped here: the wrapper does not offer the
// driver's direct Exec/Query, so database/sql asks it to prepare, and it
// hands back the statement prepared earlier on the same connection for
// the same text (reset after each use by the driver), preparing it only
// the first time. A statement still being read (rows open) is not handed
// out twice: a second use while the first is open gets a statement of its
// own, finalized after use. Statements die with their connection.

// stmtCacheSize bounds the statements kept per connection (queries built
// with IN lists of any length would otherwise grow it without end).
const stmtCacheSize = 256

// stmtCounts count preparations and reuses (a test reads them).
type stmtCounts struct{ prepared, reused atomic.Int64 }

// cachingConnector opens modernc connections wrapped in cachingConn.
type cachingConnector struct {
	base   driver.Connector
	counts *stmtCounts
}

func newCachingConnector(dsn string, counts *stmtCounts) (*cachingConnector, error) {
	base, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return &cachingConnector{base: base, counts: counts}, nil
}

func (c *cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &cachingConn{Conn: conn, stmts: map[string]*cachedStmt{}, counts: c.counts}, nil
}

func (c *cachingConnector) Driver() driver.Driver { return c.base.Driver() }

// cachingConn is a driver connection with a statement cache. database/sql
// uses a connection from one goroutine at a time, so the cache needs no
// lock.
type cachingConn struct {
	driver.Conn
	stmts  map[string]*cachedStmt
	counts *stmtCounts
}

var (
	_ driver.ConnPrepareContext = (*cachingConn)(nil)
	_ driver.ConnBeginTx        = (*cachingConn)(nil)
	_ driver.Pinger             = (*cachingConn)(nil)
	_ driver.SessionResetter    = (*cachingConn)(nil)
	_ driver.Validator          = (*cachingConn)(nil)
)

// Unwrap is the driver's own connection.
func (c *cachingConn) Unwrap() driver.Conn { return c.Conn }

func (c *cachingConn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *cachingConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	if s, ok := c.stmts[query]; ok && !s.busy {
		c.counts.reused.Add(1)
		return s, nil
	}
	ds, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.counts.prepared.Add(1)
	if _, taken := c.stmts[query]; taken || len(c.stmts) >= stmtCacheSize {
		return ds, nil // used once and finalized by database/sql
	}
	s := &cachedStmt{Stmt: ds}
	c.stmts[query] = s
	return s, nil
}

func (c *cachingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	return c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
}

func (c *cachingConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

func (c *cachingConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c *cachingConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// Close finalizes the cached statements, then closes the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for q, s := range c.stmts {
		errs = append(errs, s.Stmt.Close())
		delete(c.stmts, q)
	}
	errs = append(errs, c.Conn.Close())
	return errors.Join(errs...)
}

// cachedStmt is a prepared statement kept for its connection: database/sql
// closing it after use only makes it available again.
type cachedStmt struct {
	driver.Stmt
	busy bool // rows from it are open
}

func (s *cachedStmt) Close() error { return nil }

func (s *cachedStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
}

func (s *cachedStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.busy = true
	return &cachedRows{Rows: r, s: s}, nil
}

// cachedRows frees its statement for the next use once closed.
type cachedRows struct {
	driver.Rows
	s *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.s.busy = false
	return err
}
