package engine

import (
	"errors"

	"github.com/bakery-deploy/bakery/internal/migrations"
	"github.com/bakery-deploy/bakery/internal/redact"
)

// forViewers returns the text of a failure as it is stored and shown to
// everyone who can read bakery (viewer tokens, the dashboard, notifications):
// absolute paths cut to their base names, credentials, database hosts and
// users and network addresses masked (package redact). When that changed
// anything, the full text goes to the server's log with attrs, so the
// operator still has it.
func (e *Engine) forViewers(what, full string, attrs ...any) string {
	v := redact.ForViewers(full)
	if v != full {
		e.log.Warn(what, append(attrs, "error", full)...)
	}
	return v
}

// viewerError is an error whose text is fit for viewers; errors.Is and
// errors.As still see the original.
type viewerError struct {
	msg string
	err error
}

func (v *viewerError) Error() string { return v.msg }
func (v *viewerError) Unwrap() error { return v.err }

// migrationErrorForViewers logs the full error of reading src's migration
// table and returns one that names none of its hosts, ports, users or
// credentials (migrations.ForViewers).
func (e *Engine) migrationErrorForViewers(src migrations.Source, err error, attrs ...any) error {
	if err == nil {
		return nil
	}
	msg := migrations.ForViewers(src, err.Error())
	if msg == err.Error() {
		return err
	}
	e.log.Warn("migration table unreadable", append(attrs, "error", err)...)
	var v *viewerError
	if errors.As(err, &v) {
		return err
	}
	return &viewerError{msg: msg, err: err}
}
