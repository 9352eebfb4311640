package treecopy

import (
	"fmt"
	"path"
	"strings"
)

// Excludes is a compiled list of exclude patterns.
//
// Syntax, a subset of rsync's filter rules that covers what backup scripts
// use:
//   - "name" (no slash) matches an entry with that name at any depth;
//   - "/a/b" (leading slash) matches the path relative to the source root;
//   - "a/b" (slash inside) is anchored like "/a/b";
//   - a trailing slash ("cache/") matches directories only;
//   - "*", "?" and "[...]" match within one path component (path.Match),
//     "**" as a whole component matches any number of components ("a/**/z"
//     matches "a/z"), but at the end at least one ("dir/**" is what is
//     inside dir).
//
// An excluded directory is not descended into.
type Excludes struct {
	pats []excludePattern
}

type excludePattern struct {
	segs    []string
	dirOnly bool
}

// ParseExcludes compiles patterns. An error wraps ErrBadPattern and names
// the pattern.
func ParseExcludes(patterns []string) (*Excludes, error) {
	x := &Excludes{}
	for _, p := range patterns {
		pat, err := parseExclude(p)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %s", ErrBadPattern, p, err)
		}
		x.pats = append(x.pats, pat)
	}
	return x, nil
}

func parseExclude(p string) (excludePattern, error) {
	var pat excludePattern
	s := p
	if strings.HasSuffix(s, "/") {
		pat.dirOnly = true
		s = strings.TrimSuffix(s, "/")
	}
	anchored := strings.HasPrefix(s, "/")
	s = strings.TrimPrefix(s, "/")
	if s == "" {
		return pat, fmt.Errorf("pattern is empty")
	}
	if strings.Contains(s, "/") {
		anchored = true
	}
	if strings.ContainsRune(s, 0) {
		return pat, fmt.Errorf("pattern contains a NUL byte")
	}
	if !anchored {
		pat.segs = append(pat.segs, "**")
	}
	for _, seg := range strings.Split(s, "/") {
		switch {
		case seg == "":
			return pat, fmt.Errorf("empty path component (double slash)")
		case seg == "." || seg == "..":
			return pat, fmt.Errorf("%q components are not allowed", seg)
		case seg == "**":
			if n := len(pat.segs); n > 0 && pat.segs[n-1] == "**" {
				continue // "**/**" is "**"; repeats would make matching exponential
			}
		case strings.Contains(seg, "**"):
			return pat, fmt.Errorf("** must be a whole path component")
		default:
			if _, err := path.Match(seg, ""); err != nil {
				return pat, fmt.Errorf("component %q: unbalanced [ or trailing \\", seg)
			}
		}
		pat.segs = append(pat.segs, seg)
	}
	return pat, nil
}

// Match reports whether the entry at rel (slash-separated, relative to the
// source root, without leading slash) is excluded. A nil *Excludes matches
// nothing.
func (x *Excludes) Match(rel string, isDir bool) bool {
	if x == nil || len(x.pats) == 0 {
		return false
	}
	names := strings.Split(rel, "/")
	for i := range x.pats {
		p := &x.pats[i]
		if p.dirOnly && !isDir {
			continue
		}
		if matchSegs(p.segs, names) {
			return true
		}
	}
	return false
}

func matchSegs(pats, names []string) bool {
	for len(pats) > 0 {
		if pats[0] == "**" {
			rest := pats[1:]
			if len(rest) == 0 {
				// "dir/**" is what is inside dir, not dir itself.
				return len(names) > 0
			}
			for i := 0; i < len(names); i++ {
				if matchSegs(rest, names[i:]) {
					return true
				}
			}
			return false
		}
		if len(names) == 0 {
			return false
		}
		if ok, _ := path.Match(pats[0], names[0]); !ok {
			return false
		}
		pats, names = pats[1:], names[1:]
	}
	return len(names) == 0
}
