package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// yamlLineRE matches yaml.v3's syntax errors that carry a line number, such
// as "yaml: line 3: mapping values are not allowed in this context".
var yamlLineRE = regexp.MustCompile(`(?s)^yaml: line ([0-9]+): (.*)$`)

// decode parses data into a node tree. It returns the first document (nil
// for an empty file) and ok=false when the file is not valid YAML, in which
// case the syntax problem has been recorded and there is nothing to walk.
// A second document is reported, since bakery would silently ignore it.
func (p *parser) decode(data []byte) (doc *yaml.Node, ok bool) {
	defer func() {
		// yaml.v3 turns its own failures into errors; anything else it
		// panics with is still a file it cannot parse, not a reason to
		// crash a server that is reloading its configuration.
		if r := recover(); r != nil {
			p.add(nil, "", "invalid YAML: the parser failed (%v); check the file with a YAML linter", r)
			doc, ok = nil, false
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var first yaml.Node
	if err := dec.Decode(&first); errors.Is(err, io.EOF) {
		return nil, true
	} else if err != nil {
		p.syntax(data, err)
		return nil, false
	}
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			p.syntax(data, err)
			break
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			p.add(&next, "", `a second YAML document starts here, but bakery reads only the first: move its settings into the first document and remove the "---" line`)
			break
		}
	}
	return &first, true
}

// syntax records a YAML syntax error, with the line yaml.v3 reports when it
// reports one. Errors without a line are located where that is possible.
func (p *parser) syntax(data []byte, err error) {
	msg := err.Error()
	pr := Problem{File: p.file}
	hint := `check the indentation and quoting on this line and the one before it (quote values that contain ": " or start with characters such as * & ! { [)`
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		pr.Line, _ = strconv.Atoi(m[1])
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
		switch {
		case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "control characters"), strings.Contains(msg, "Unicode character"):
			// The reader rejected a character; yaml.v3 gives no position.
			pr.Line, pr.Column = locateBadChar(data)
			hint = "save the file as UTF-8 text, without control characters"
		case strings.HasPrefix(msg, "unknown anchor '"):
			name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
			pr.Line, pr.Column = locate(data, "*"+name)
			hint = fmt.Sprintf("define the anchor with &%s on a value before using *%s", name, name)
		case strings.Contains(msg, "UTF-16"), strings.Contains(msg, "surrogate"):
			hint = "save the file as UTF-8 text"
		default:
			// yaml.v3 leaves the line out when it is the first one.
			pr.Line = 1
		}
	}
	pr.Message = fmt.Sprintf("invalid YAML: %s; %s", msg, hint)
	p.problems = append(p.problems, pr)
}

// locateBadChar returns the 1-based line and column of the first character
// that yaml.v3's reader rejects (invalid UTF-8 or a control character), or
// 0, 0 if there is none.
func locateBadChar(data []byte) (line, col int) {
	line, col = 1, 1
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		switch {
		case r == utf8.RuneError && size <= 1:
			return line, col
		case r == '\n':
			line, col = line+1, 1
		case r == '\t', r == '\r', r >= 0x20 && r <= 0x7E, r == 0x85,
			r >= 0xA0 && r <= 0xD7FF, r >= 0xE000 && r <= 0xFFFD, r >= 0x10000 && r <= 0x10FFFF:
			col++
		default:
			return line, col
		}
		data = data[size:]
	}
	return 0, 0
}

// locate returns the 1-based line and column of the first occurrence of s
// in data, or 0, 0 if it does not occur.
func locate(data []byte, s string) (line, col int) {
	i := bytes.Index(data, []byte(s))
	if i < 0 {
		return 0, 0
	}
	before := data[:i]
	line = bytes.Count(before, []byte("\n")) + 1
	if nl := bytes.LastIndexByte(before, '\n'); nl >= 0 {
		before = before[nl+1:]
	}
	return line, utf8.RuneCount(before) + 1
}
