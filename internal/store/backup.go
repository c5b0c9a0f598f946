package store

import (
	"context"
	"errors"
	"io"
)

// ErrBackupUnsupported is returned by a store that cannot copy itself
// online: PostgreSQL, whose own tool (pg_dump) does it better. The error's
// text says what to run instead.
var ErrBackupUnsupported = errors.New("backup through bakery is not supported on this database")

// Backup is an online, consistent copy of a database, ready to be read
// once. Close removes whatever temporary file holds it.
type Backup interface {
	io.ReadCloser
	// Size is the copy's length in bytes.
	Size() int64
}

// Backuper is implemented by stores that can copy themselves while they
// serve (SQLite). The engine finds it behind its wrappers.
type Backuper interface {
	// Backup takes a consistent copy of the database now. The caller
	// reads it and closes it.
	Backup(ctx context.Context) (Backup, error)
}
