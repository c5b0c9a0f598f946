package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// termSafe makes text that came from the server safe to print on the
// operator's terminal. Reasons, messages, authors, versions, lock holders,
// check results and errors are written by whoever holds a token (or by a
// deploy script, a metrics provider, a migration table): printed raw, an ESC
// or BEL in them could set the window title, clear the screen, move the
// cursor over earlier lines or, on some terminals, write to the clipboard,
// and a bidi override could make a line read differently from what it is.
//
// It quotes every C0 and C1 control character (newline and tab included, so
// one field stays on one line and in its column), DEL, bytes that are not
// UTF-8, and the Unicode bidi embedding, override and isolate controls as
// visible Go-style escapes (\x1b, \x7f, \u202e); ordinary Unicode (ü, 日本,
// →, emoji) is kept. --json output is not passed through it: JSON escapes
// control characters by itself.
func termSafe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unicode.IsControl(r) || isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size <= 1) || unicode.IsControl(r) || isBidiControl(r) {
			return true
		}
		i += size
	}
	return false
}

// isBidiControl reports the characters that reorder the text around them
// (the "Trojan Source" characters) and the line and paragraph separators.
func isBidiControl(r rune) bool {
	switch {
	case r >= 0x202a && r <= 0x202e: // LRE, RLE, PDF, LRO, RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI, RLI, FSI, PDI
		return true
	case r == 0x200e || r == 0x200f || r == 0x061c: // LRM, RLM, ALM
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	}
	return false
}
