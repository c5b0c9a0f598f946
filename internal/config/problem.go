package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a config file. It carries a position and a
// field path so that a user (or an editor parsing the output) can go straight
// to the mistake, and a message that says both what is wrong and how to fix it.
type Problem struct {
	// File is the path as given to Load or Parse, or, for a value written
	// in an included file, that file's path: the include pattern joined to
	// the directory of the including file as given (services/base.yaml).
	File string
	// Line is the 1-based line of the mistake; 0 when yaml could not tell.
	Line int
	// Column is the 1-based column of the mistake; 0 when unknown.
	Column int
	// Field is the path of the offending field, e.g.
	// "services[0].environments[1].bake"; "" for problems that are not
	// about one field, such as malformed YAML.
	Field string
	// Message says what is wrong and how to fix it.
	Message string
}

// String formats the problem the way compilers do, so terminals and editors
// can link it:
//
//	bakery.yaml:12:9: services[0].environments[1].bake: invalid duration "1x"; write a Go duration such as 30s, 10m or 1h
//
// Parts that are unknown (no file, line 0, no field) are left out.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		if b.Len() > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(p.Line))
		if p.Column > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Column))
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// ValidationError is returned by Load and Parse when the file has problems.
// It lists every one, in file order, so a user can fix them all at once
// rather than discovering them one run at a time.
type ValidationError struct {
	// Problems are sorted by file (the main file first, then included
	// files in the order they were read), line and column; there is at
	// least one.
	Problems []Problem
}

// Error lists the problems, one per line, each formatted by Problem.String.
func (e *ValidationError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sortProblems orders problems by file (in the order of files, the main
// file first; others after them) and position, keeping the walk order for
// problems at the same position, so output reads top to bottom.
func sortProblems(ps []Problem, files ...string) []Problem {
	rank := func(f string) int {
		if i := slices.Index(files, f); i >= 0 {
			return i
		}
		return len(files)
	}
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(rank(a.File), rank(b.File)), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	return ps
}
