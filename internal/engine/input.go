package engine

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bakery-deploy/bakery/internal/pipeline"
)

// Limits of the free-text fields of commands, in bytes.
const (
	maxArtifact = 2048
	maxMessage  = 64 << 10
	maxAuthor   = 256
	maxReason   = 4096
)

// validText checks one free-text field of a command before anything is
// stored. A NUL byte is refused: it cannot travel in an environment
// variable (the deploy command would fail to start with BAKERY_* set) nor
// be stored in PostgreSQL's text columns, so accepting it would only move
// the failure to later, where nobody sees the cause. Text that is not UTF-8
// is refused for the same reason (PostgreSQL, JSON). field is the name the
// API and the CLI use for it, so the error says what to change.
func validText(field, value string, max int) error {
	if i := strings.IndexByte(value, 0); i >= 0 {
		return fmt.Errorf("%w: %s contains a NUL character (\\x00) at byte %d: remove it; no text field may hold one", ErrInvalid, field, i)
	}
	if !utf8.ValidString(value) {
		return fmt.Errorf("%w: %s is not valid UTF-8: send it as UTF-8 text", ErrInvalid, field)
	}
	if max > 0 && len(value) > max {
		return fmt.Errorf("%w: %s is %d bytes; keep it under %d", ErrInvalid, field, len(value), max)
	}
	return nil
}

// validVersion checks a release version given as field.
func validVersion(field, v string) error {
	if err := validText(field, v, 0); err != nil {
		return err
	}
	if err := pipeline.ValidateVersion(v); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// validRelease checks the fields of a new release (CreateRelease, and
// Emergency when it creates one).
func validRelease(version, artifact, message, author string) error {
	if err := validVersion("version", version); err != nil {
		return err
	}
	for _, f := range []struct {
		name, value string
		max         int
	}{{"artifact", artifact, maxArtifact}, {"message", message, maxMessage}, {"author", author, maxAuthor}} {
		if err := validText(f.name, f.value, f.max); err != nil {
			return err
		}
	}
	return nil
}
