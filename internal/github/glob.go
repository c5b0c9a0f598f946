package github

import (
	"path"
	"strings"
)

// MatchPath reports whether name (a repository path such as
// services/web/main.go) matches pattern, a glob of path.Match's syntax per
// segment in which a segment ** matches any number of directories (none
// included): services/web/** matches everything under services/web, and
// **/*.go every Go file.
func MatchPath(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			if len(rest) == 0 {
				return true
			}
			for i := 0; i <= len(name); i++ {
				if matchSegs(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// AnyPathMatches reports whether one of files matches one of patterns.
func AnyPathMatches(patterns, files []string) bool {
	for _, f := range files {
		for _, p := range patterns {
			if MatchPath(p, f) {
				return true
			}
		}
	}
	return false
}
