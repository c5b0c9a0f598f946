package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/bakery-deploy/bakery/internal/httpx"
	"github.com/bakery-deploy/bakery/internal/store"
)

// backup streams an online, consistent copy of the SQLite database (admin
// only: it holds every service's history and the token hashes). On
// PostgreSQL it answers 501 with the pg_dump command to use instead.
func (s *Server) backup(w http.ResponseWriter, r *http.Request, tok *store.Token) error {
	b, err := s.e.Backup(r.Context())
	if errors.Is(err, store.ErrBackupUnsupported) {
		return &Error{Status: http.StatusNotImplemented, Message: "backup through bakery is not available on PostgreSQL", Detail: err.Error()}
	}
	if err != nil {
		s.log.Error("backup failed", "actor", tok.Name, "error", err)
		return err
	}
	defer b.Close()
	// A large database may take longer than the server's write timeout
	// to send.
	if err := httpx.Stream(w); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/vnd.sqlite3")
	w.Header().Set("Content-Length", strconv.FormatInt(b.Size(), 10))
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "bakery-"+s.e.Now().UTC().Format("20060102T150405Z")+".db"))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	n, err := io.Copy(w, b)
	if err != nil {
		// The status is sent already; the client sees a short body
		// (Content-Length) and refuses it.
		s.log.Error("backup interrupted while sending", "actor", tok.Name, "sent", n, "size", b.Size(), "error", err)
		return nil
	}
	s.log.Info("backup taken", "actor", tok.Name, "bytes", n)
	return nil
}
