package config

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInvalid: the file does not parse or a value is out of range.
	ErrInvalid = errors.New("invalid configuration")
	// ErrNoConfig: the configuration file does not exist.
	ErrNoConfig = errors.New("configuration file not found")
	// ErrDuplicate: a drive with the same name or UUID is already configured.
	ErrDuplicate = errors.New("drive already configured")
)

// Error is one problem in a configuration file. Line is 0 when the
// problem is not tied to one line (a missing required section, say).
type Error struct {
	File string
	Line int
	Key  string // dotted path, with the index for arrays of tables: "drive[1].key"
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

func (e *Error) Unwrap() error { return ErrInvalid }

// Errors is every problem found in one file, in file order. Load reports
// them all at once so the user fixes the file in one pass.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "; ")
}

func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}
