package vmtest

import (
	"strings"
	"time"
)

// eventKind is what a line of `go test -test.v` output means.
type eventKind int

const (
	evOutput eventKind = iota // a line printed while a test was current
	evRun                     // === RUN of a top-level test
	evPause                   // === PAUSE of a top-level test (t.Parallel)
	evEnd                     // --- PASS/FAIL/SKIP of a top-level test
)

// event is one parsed line, attributed to the top-level test it belongs to
// ("" for package-level output such as the final PASS/FAIL line).
type event struct {
	Kind    eventKind
	Test    string // top-level test name
	Line    string // the raw line (for evOutput, also for the others)
	Result  string // "PASS", "FAIL" or "SKIP" for evEnd
	Elapsed time.Duration
}

// testParser turns the chatty -test.v stream into per-test events, the way
// cmd/test2json does: the === RUN/PAUSE/CONT/NAME markers say which test
// later lines belong to, and --- lines end a test. Subtests are folded into
// their top-level test, which is the unit the host reports.
type testParser struct {
	current string // full name of the test that owns following lines
}

// parse consumes one line (without its newline) and returns its event.
func (p *testParser) parse(line string) event {
	line = strings.TrimRight(line, "\r")
	for _, m := range []string{"=== RUN   ", "=== PAUSE ", "=== CONT  ", "=== NAME  "} {
		if name, ok := strings.CutPrefix(line, m); ok && name != "" {
			p.current = name
			top := topLevel(name)
			switch {
			case m == "=== RUN   " && top == name:
				return event{Kind: evRun, Test: top, Line: line}
			case m == "=== PAUSE " && top == name:
				return event{Kind: evPause, Test: top, Line: line}
			}
			return event{Kind: evOutput, Test: top, Line: line}
		}
	}
	trimmed := strings.TrimLeft(line, " ")
	if indent := len(line) - len(trimmed); indent%4 == 0 {
		for _, r := range []string{"PASS", "FAIL", "SKIP"} {
			rest, ok := strings.CutPrefix(trimmed, "--- "+r+": ")
			if !ok {
				continue
			}
			name, elapsed := splitElapsed(rest)
			if name == "" {
				break
			}
			top := topLevel(name)
			if name == top {
				p.current = ""
				return event{Kind: evEnd, Test: top, Line: line, Result: r, Elapsed: elapsed}
			}
			p.current = parent(name)
			return event{Kind: evOutput, Test: top, Line: line}
		}
	}
	return event{Kind: evOutput, Test: topLevel(p.current), Line: line}
}

// splitElapsed splits "TestX (1.23s)" into its name and duration.
func splitElapsed(s string) (string, time.Duration) {
	i := strings.LastIndex(s, " (")
	if i < 0 || !strings.HasSuffix(s, "s)") {
		return s, 0
	}
	d, err := time.ParseDuration(s[i+2 : len(s)-1])
	if err != nil {
		return s, 0
	}
	return s[:i], d
}

func topLevel(name string) string {
	top, _, _ := strings.Cut(name, "/")
	return top
}

func parent(name string) string {
	if i := strings.LastIndex(name, "/"); i >= 0 {
		return name[:i]
	}
	return ""
}

// guestRunPattern derives the guest's -test.run from the host's: the host
// pattern's first element selects TestVM, the rest (if any) selects guest
// tests and their subtests. Slashes inside brackets or parentheses, or
// escaped with a backslash, belong to a regexp, as in the testing package.
func guestRunPattern(hostRun string) string {
	const def = "^TestGuest"
	depth := 0
	for i := 0; i < len(hostRun); i++ {
		switch hostRun[i] {
		case '\\':
			i++
		case '[', '(':
			depth++
		case ']', ')':
			if depth > 0 {
				depth--
			}
		case '/':
			if depth == 0 {
				if rest := hostRun[i+1:]; rest != "" {
					return rest
				}
				return def
			}
		}
	}
	return def
}

// guestSkipPattern keeps the guest from running anything but TestGuest*
// tests even when a host pattern such as TestVM/Mount would also match a
// host-only test compiled into the same binary. Go's regexp has no
// lookahead, so it spells out "every top-level name not starting with
// TestGuest".
const guestSkipPattern = `^(?:[^T]|T[^e]|Te[^s]|Tes[^t]|Test[^G]|TestG[^u]|TestGu[^e]|TestGue[^s]|TestGues[^t]|.{0,8}$)`
