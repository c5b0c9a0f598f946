// Package secret keeps the values bakery knows to be secret out of what it
// stores and shows (rule 13 of SPEC.md).
//
// A Masker holds the secret values in force: the contents of every
// environment variable the configuration names as holding a secret
// (migrations.database.url_env, a Datadog check's api_key_env and
// app_key_env, server.mask_env, …) and the bootstrap token. Everything a
// child process prints goes through a Writer before it is kept, and
// everything bakery writes to its event log and deployment records goes
// through Mask, so a deploy script that runs `env` or echoes a key shows
// "***" to every reader of the dashboard and the API.
package secret

import (
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Mask replaces a secret value wherever it appears.
const Mask = "***"

// MinLen is the shortest value that is masked. Shorter values would turn
// ordinary output into noise ("1" or "on" appear everywhere) and are too
// short to be a secret worth the name anyway.
const MinLen = 4

// Masker replaces known secret values by Mask. The zero Masker masks
// nothing; a nil *Masker is valid and masks nothing. It is safe for
// concurrent use, and Set may be called while others mask (a configuration
// reload changes the set).
type Masker struct {
	set atomic.Pointer[valueSet]
}

type valueSet struct {
	values   []string // longest first, so a value containing another is replaced whole
	replacer *strings.Replacer
	longest  int
}

// NewMasker returns a Masker for values.
func NewMasker(values ...string) *Masker {
	m := &Masker{}
	m.Set(values)
	return m
}

// Set replaces the secret values. Values shorter than MinLen are ignored.
// A value that is a URL with a password also masks the password alone (a
// tool may print it on its own), and a value with characters that JSON or
// URLs escape also masks its escaped forms.
func (m *Masker) Set(values []string) {
	seen := map[string]bool{}
	add := func(v string) {
		if len(v) >= MinLen && !seen[v] {
			seen[v] = true
		}
	}
	for _, v := range values {
		add(v)
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if pw, ok := u.User.Password(); ok {
				add(pw)
				add(url.QueryEscape(pw))
			}
		}
		add(jsonEscape(v))
		add(url.QueryEscape(v))
	}
	vs := &valueSet{}
	for v := range seen {
		vs.values = append(vs.values, v)
		vs.longest = max(vs.longest, len(v))
	}
	slices.SortFunc(vs.values, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	if len(vs.values) > 0 {
		pairs := make([]string, 0, 2*len(vs.values))
		for _, v := range vs.values {
			pairs = append(pairs, v, Mask)
		}
		vs.replacer = strings.NewReplacer(pairs...)
	}
	m.set.Store(vs)
}

func (m *Masker) current() *valueSet {
	if m == nil {
		return nil
	}
	vs := m.set.Load()
	if vs == nil || vs.replacer == nil {
		return nil
	}
	return vs
}

// Len returns how many distinct values (with their derived forms) are
// masked.
func (m *Masker) Len() int {
	if vs := m.current(); vs != nil {
		return len(vs.values)
	}
	return 0
}

// Mask returns s with every secret value replaced by Mask.
func (m *Masker) Mask(s string) string {
	vs := m.current()
	if vs == nil || s == "" {
		return s
	}
	return vs.replacer.Replace(s)
}

// MaskAny masks every string inside v, which is what encoding/json
// produces or accepts: strings, maps with string keys, slices; other
// values are returned as they are. Maps and slices are copied, never
// changed in place.
func (m *Masker) MaskAny(v any) any {
	if m.current() == nil {
		return v
	}
	switch x := v.(type) {
	case string:
		return m.Mask(x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = m.MaskAny(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.MaskAny(e)
		}
		return out
	case []string:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = m.Mask(e)
		}
		return out
	case error:
		return m.Mask(x.Error())
	}
	return v
}

// jsonEscape is how encoding/json writes s inside a string (without the
// quotes), so that a secret is found in stored JSON too.
func jsonEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '<':
			b.WriteString(`\u003c`)
		case '>':
			b.WriteString(`\u003e`)
		case '&':
			b.WriteString(`\u0026`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Writer masks a stream: a secret split across two writes is masked all
// the same. It holds back the end of what it was given for as long as that
// end could be the start of a secret, so what it passes on never holds a
// secret, nor a piece of one at its end. Close passes on what it held
// back. Safe for concurrent use.
type Writer struct {
	mu      sync.Mutex
	m       *Masker
	w       io.Writer
	pending []byte
}

// NewWriter returns a Writer masking what it passes on to w. With a nil
// or empty Masker it still works (and masks nothing).
func (m *Masker) NewWriter(w io.Writer) *Writer {
	return &Writer{m: m, w: w}
}

// Write masks p and passes on all of it that cannot be part of a secret
// still being written. It reports len(p) unless w fails.
func (x *Writer) Write(p []byte) (int, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	vs := x.m.current()
	if vs == nil && len(x.pending) == 0 {
		return x.w.Write(p)
	}
	x.pending = append(x.pending, p...)
	if vs == nil {
		return len(p), x.flushLocked()
	}
	text := vs.replacer.Replace(string(x.pending))
	hold := heldBack(text, vs)
	x.pending = append(x.pending[:0], text[len(text)-hold:]...)
	if out := text[:len(text)-hold]; out != "" {
		if _, err := io.WriteString(x.w, out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Close passes on what was held back. A held-back piece of MinLen bytes
// or more is the start of a secret the stream never finished: it is
// masked, so no prefix of a secret is shown either. Close does not close
// the underlying writer.
func (x *Writer) Close() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.flushLocked()
}

func (x *Writer) flushLocked() error {
	if len(x.pending) == 0 {
		return nil
	}
	out := string(x.pending)
	x.pending = x.pending[:0]
	if vs := x.m.current(); vs != nil {
		out = vs.replacer.Replace(out)
		if hold := heldBack(out, vs); hold >= MinLen {
			out = out[:len(out)-hold] + Mask
		}
	}
	_, err := io.WriteString(x.w, out)
	return err
}

// heldBack is the length of the longest end of text that is the start of
// a secret value (shorter than the whole value): the bytes that must wait
// for the next write.
func heldBack(text string, vs *valueSet) int {
	limit := min(len(text), vs.longest-1)
	for n := limit; n > 0; n-- {
		end := text[len(text)-n:]
		for _, v := range vs.values {
			if len(v) > n && strings.HasPrefix(v, end) {
				return n
			}
		}
	}
	return 0
}
