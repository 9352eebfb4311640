package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadPassphrase(t *testing.T) {
	for _, tc := range []struct {
		in, want, rest string
		usage          bool
	}{
		{"secret\n", "secret", "", false},
		{"secret\r\nmore\n", "secret", "more\n", false},
		{"no newline", "no newline", "", false},
		{"with  spaces \n", "with  spaces ", "", false},
		{"\n", "", "", true},
		{"", "", "", true},
		// Exactly the limit is taken; one byte more is refused, not cut.
		{strings.Repeat("x", maxPassphrase) + "\n", strings.Repeat("x", maxPassphrase), "", false},
		{strings.Repeat("x", maxPassphrase+1) + "\nnext\n", "", "", true},
	} {
		r := strings.NewReader(tc.in)
		a := &app{stdin: r, stderr: &bytes.Buffer{}}
		got, err := readPassphrase(a, "pass: ")
		if tc.usage {
			if !isUsage(err) {
				t.Errorf("readPassphrase(%q) = %q, %v; want a usage error", tc.in, got, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want {
			t.Errorf("readPassphrase(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		// Only the first line is consumed: the rest stays for the caller.
		if rest := tc.in[len(tc.in)-r.Len():]; rest != tc.rest {
			t.Errorf("readPassphrase(%q) left %q unread, want %q", tc.in, rest, tc.rest)
		}
	}
}

func TestReadPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content, want string
		usage         bool
	}{
		{"pass\n", "pass", false},
		{"pass\n\n", "pass\n", false},
		{"pass", "pass", false},
		{"\n", "", true},
		{strings.Repeat("x", maxPassphrase+1), "", true},
		{strings.Repeat("x", maxPassphrase), strings.Repeat("x", maxPassphrase), false},
	} {
		p := filepath.Join(dir, "p")
		os.WriteFile(p, []byte(tc.content), 0o600)
		got, err := readPassphraseFile(p)
		if tc.usage != isUsage(err) || (!tc.usage && (err != nil || string(got) != tc.want)) {
			t.Errorf("readPassphraseFile(%q) = %q, %v", tc.content, got, err)
		}
	}
	if _, err := readPassphraseFile(filepath.Join(dir, "absent")); !isUsage(err) {
		t.Errorf("missing passphrase file: %v, want a usage error", err)
	}
}

// FuzzReadLine: whatever comes down the pipe, readLine returns the first
// line exactly (without its ending) and consumes nothing after it, or
// refuses a line over the limit.
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"", "\n", "a\r\nb", "pass\n\nnext", strings.Repeat("y", 70)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 64
		r := bytes.NewReader(in)
		got, err := readLine(r, max)
		line, _, found := bytes.Cut(in, []byte("\n"))
		consumed := len(in) - r.Len()
		if len(line) > max {
			if err == nil {
				t.Fatalf("readLine took a %d-byte line, limit %d", len(line), max)
			}
			return
		}
		if err != nil {
			t.Fatalf("readLine(%q): %v", in, err)
		}
		if want := bytes.TrimSuffix(line, []byte("\r")); !bytes.Equal(got, want) {
			t.Fatalf("readLine(%q) = %q, want %q", in, got, want)
		}
		if want := len(line) + map[bool]int{true: 1}[found]; consumed != want {
			t.Fatalf("readLine(%q) consumed %d bytes, want %d", in, consumed, want)
		}
		if cap(got) > max {
			t.Fatalf("buffer grew to %d", cap(got))
		}
	})
}
