package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bakery-deploy/bakery/internal/store/sqlstore"
)

func newBackupCmd(g *globals) *cobra.Command {
	var db string
	cmd := &cobra.Command{
		Use:   "backup FILE [--db sqlite://PATH]",
		Short: "Write an online, consistent copy of the SQLite database to FILE (needs an admin token)",
		Long: `Write an online, consistent copy of bakery's SQLite database to FILE.

By default the running server makes the copy (GET /api/v1/backup, an admin
token in BAKERY_TOKEN): SQLite's VACUUM INTO takes a snapshot of one read
transaction while the server keeps working, in a temporary 0600 file in the
database's directory that is removed afterwards. With --db the database file
is read directly instead (with or without a server running; it is not
changed).

FILE is written atomically (a temporary file beside it, then a rename) and
readable by its owner only (0600): it holds every service's history and the
API tokens' hashes. An existing FILE is replaced.

PostgreSQL is backed up with pg_dump, which bakery does not replace: on
PostgreSQL this command fails and prints the pg_dump command to use.

Restore with 'bakery restore FILE --db sqlite://PATH' while no server uses
PATH.`,
		Example: `  bakery backup /var/backups/bakery/bakery-$(date +%F).db
  bakery backup --db sqlite:///var/lib/bakery/bakery.db /var/backups/bakery/now.db`,
		Args: exactArgs(1, "FILE, the file to write"),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := args[0]
			if db != "" {
				b, err := sqlstore.BackupURL(cmd.Context(), db)
				if err != nil {
					return err
				}
				defer b.Close()
				n, err := writeAtomic(file, b, b.Size())
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "wrote %s (%d bytes) from %s\n", file, n, strings.TrimPrefix(db, "sqlite://"))
				return nil
			}
			c, err := newClient(g.server)
			if err != nil {
				return err
			}
			n, err := c.download(cmd.Context(), "/api/v1/backup", file)
			if err != nil {
				return fmt.Errorf("error taking a backup: %w", err)
			}
			fmt.Fprintf(g.out, "wrote %s (%d bytes) from %s\n", file, n, c.base)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "read this database directly (sqlite://PATH) instead of asking the server")
	return cmd
}

func newRestoreCmd(g *globals) *cobra.Command {
	var db string
	var force bool
	cmd := &cobra.Command{
		Use:   "restore FILE --db sqlite://PATH [--force]",
		Short: "Put a backup in place as the SQLite database at PATH (no server may be using PATH)",
		Long: `Put a backup written by 'bakery backup' in place as the SQLite database at
PATH, then start 'bakery serve --db sqlite://PATH' on it: the pipeline carries
on from the backup's state (locks held, bakes running with their original
deadlines, deployments that were running are retried).

Before anything is written, FILE is checked: it must be a SQLite database
that passes PRAGMA integrity_check, be bakery's (a bakery_migrations table),
and have no schema migration newer than this binary knows. The restore takes
the lock file a server takes (PATH.lock), so it refuses while a server holds
PATH, and a server cannot start on a half-restored file. The file is written
atomically (a temporary file beside PATH, synced, then renamed), mode 0600,
and a write-ahead log the old database left is removed.

An existing database at PATH is replaced only with --force.

PostgreSQL is restored with pg_restore, not with this command.`,
		Example: `  systemctl stop bakery
  bakery restore /var/backups/bakery/bakery-2026-12-01.db --db sqlite:///var/lib/bakery/bakery.db --force
  systemctl start bakery`,
		Args: exactArgs(1, "FILE, the backup to restore"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if db == "" {
				return errors.New("--db is required: the database to restore into, as sqlite://PATH")
			}
			if err := sqlstore.Restore(cmd.Context(), sqlstore.RestoreParams{From: args[0], To: db, Force: force}); err != nil {
				return err
			}
			fmt.Fprintf(g.out, "restored %s into %s; start the server with --db %s\n", args[0], strings.TrimPrefix(db, "sqlite://"), db)
			return nil
		},
	}
	cmd.Flags().StringVar(&db, "db", "", "the SQLite database to restore into (sqlite://PATH)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing database at PATH")
	return cmd
}

// exactArgs is cobra.ExactArgs with a message that names the argument.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %d argument(s): %s (got %d)", cmd.Name(), n, what, len(args))
		}
		return nil
	}
}

// download GETs path and writes the body to file atomically; an error
// answer is decoded like any API error.
func (c *client) download(ctx context.Context, path, file string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	// A large database takes longer than the client's usual 30 s.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the bakery server at %s: %w (is 'bakery serve' running? set --server or BAKERY_SERVER)", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		apiErr := &APIError{Status: resp.StatusCode}
		if json.Unmarshal(data, apiErr) != nil || apiErr.Message == "" {
			apiErr.Message = strings.TrimSpace(string(data))
		}
		return 0, apiErr
	}
	return writeAtomic(file, resp.Body, resp.ContentLength)
}

// writeAtomic writes r to file through a 0600 temporary file in the same
// directory, synced and renamed into place, so file is either the old one
// or the whole new one. want, if not negative, is the length r must have:
// a short copy (a connection cut) is refused.
func writeAtomic(file string, r io.Reader, want int64) (int64, error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*") // 0600
	if err != nil {
		return 0, fmt.Errorf("error creating a temporary file in %s: %w", dir, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, r)
	if err != nil {
		return n, fmt.Errorf("error writing %s after %d bytes: %w", file, n, err)
	}
	if want >= 0 && n != want {
		return n, fmt.Errorf("the backup is incomplete (%d of %d bytes); %s was not written", n, want, file)
	}
	head := make([]byte, 16)
	if _, err := tmp.ReadAt(head, 0); err != nil || string(head) != "SQLite format 3\x00" {
		return n, fmt.Errorf("what arrived is not a SQLite database; %s was not written", file)
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("error syncing %s: %w", file, err)
	}
	if err := tmp.Close(); err != nil {
		return n, fmt.Errorf("error writing %s: %w", file, err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return n, fmt.Errorf("error putting %s in place: %w", file, err)
	}
	done = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return n, nil
}
