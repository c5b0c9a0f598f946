package engine

import (
	"context"

	"github.com/bakery-deploy/bakery/internal/store"
)

// Unwrap gives the store the masking wrapper wraps (Backup looks for the
// database's own store behind the engine's wrappers).
func (s maskingStore) Unwrap() store.Store { return s.Store }

// Unwrap gives the store the actor wrapper wraps.
func (s actorStore) Unwrap() store.Store { return s.Store }

// Backup takes an online, consistent copy of the database (SQLite). On
// PostgreSQL it returns an error wrapping store.ErrBackupUnsupported that
// says how to run pg_dump. The copy is the database's bytes: secrets in it
// were masked when written, token secrets are stored only as hashes.
func (e *Engine) Backup(ctx context.Context) (store.Backup, error) {
	b, ok := findStore[store.Backuper](e.store)
	if !ok {
		return nil, store.ErrBackupUnsupported
	}
	return b.Backup(ctx)
}
