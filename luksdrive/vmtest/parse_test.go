package vmtest

import (
	"bytes"
	"io/fs"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// guestOutput is real `go test -test.v` output from a guest binary with a
// passing, a failing, a skipped, a parallel test and subtests.
const guestOutput = `=== RUN   TestGuestA
    a_vm_test.go:10: hello from A
--- PASS: TestGuestA (0.01s)
=== RUN   TestGuestB
=== RUN   TestGuestB/sub1
    b_vm_test.go:20: in sub1
=== RUN   TestGuestB/sub2
    b_vm_test.go:22: boom
--- FAIL: TestGuestB (1.50s)
    --- PASS: TestGuestB/sub1 (0.00s)
    --- FAIL: TestGuestB/sub2 (1.50s)
=== RUN   TestGuestC
=== PAUSE TestGuestC
=== RUN   TestGuestD
    d_vm_test.go:5: no hardware
--- SKIP: TestGuestD (0.00s)
=== CONT  TestGuestC
    c_vm_test.go:7: parallel line
--- PASS: TestGuestC (0.20s)
FAIL
`

func TestParserEvents(t *testing.T) {
	var p testParser
	var got []event
	for _, l := range strings.Split(strings.TrimSuffix(guestOutput, "\n"), "\n") {
		got = append(got, p.parse(l))
	}
	out := func(test, line string) event { return event{Kind: evOutput, Test: test, Line: line} }
	want := []event{
		{Kind: evRun, Test: "TestGuestA", Line: "=== RUN   TestGuestA"},
		out("TestGuestA", "    a_vm_test.go:10: hello from A"),
		{Kind: evEnd, Test: "TestGuestA", Line: "--- PASS: TestGuestA (0.01s)", Result: "PASS", Elapsed: 10 * time.Millisecond},
		{Kind: evRun, Test: "TestGuestB", Line: "=== RUN   TestGuestB"},
		out("TestGuestB", "=== RUN   TestGuestB/sub1"),
		out("TestGuestB", "    b_vm_test.go:20: in sub1"),
		out("TestGuestB", "=== RUN   TestGuestB/sub2"),
		out("TestGuestB", "    b_vm_test.go:22: boom"),
		{Kind: evEnd, Test: "TestGuestB", Line: "--- FAIL: TestGuestB (1.50s)", Result: "FAIL", Elapsed: 1500 * time.Millisecond},
		// Go prints subtest results after the parent's line.
		out("TestGuestB", "    --- PASS: TestGuestB/sub1 (0.00s)"),
		out("TestGuestB", "    --- FAIL: TestGuestB/sub2 (1.50s)"),
		{Kind: evRun, Test: "TestGuestC", Line: "=== RUN   TestGuestC"},
		{Kind: evPause, Test: "TestGuestC", Line: "=== PAUSE TestGuestC"},
		{Kind: evRun, Test: "TestGuestD", Line: "=== RUN   TestGuestD"},
		out("TestGuestD", "    d_vm_test.go:5: no hardware"),
		{Kind: evEnd, Test: "TestGuestD", Line: "--- SKIP: TestGuestD (0.00s)", Result: "SKIP"},
		out("TestGuestC", "=== CONT  TestGuestC"),
		out("TestGuestC", "    c_vm_test.go:7: parallel line"),
		{Kind: evEnd, Test: "TestGuestC", Line: "--- PASS: TestGuestC (0.20s)", Result: "PASS", Elapsed: 200 * time.Millisecond},
		out("", "FAIL"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestParserPanicBelongsToRunningTest(t *testing.T) {
	var p testParser
	p.parse("=== RUN   TestGuestX")
	got := p.parse("panic: runtime error: index out of range [3] with length 0")
	if got.Test != "TestGuestX" || got.Kind != evOutput {
		t.Errorf("panic line attributed to %q (kind %d), want TestGuestX output", got.Test, got.Kind)
	}
}

func TestRunPatternForGuest(t *testing.T) {
	for _, tc := range []struct{ host, want string }{
		{"", "^TestGuest"},
		{"TestVM", "^TestGuest"},
		{"TestVM/", "^TestGuest"},
		{"TestVM/TestGuestX", "TestGuestX"},
		{"^TestVM$/^TestGuestX$/sub", "^TestGuestX$/sub"},
		{"TestVM/(TestGuestA|TestGuestB)", "(TestGuestA|TestGuestB)"},
		{"Test[/]VM", "^TestGuest"},
		{`Test\/VM/X`, "X"},
	} {
		if got := guestRunPattern(tc.host); got != tc.want {
			t.Errorf("guestRunPattern(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
}

func TestSkipPatternForGuest(t *testing.T) {
	re := regexp.MustCompile(guestSkipPattern)
	for name, skip := range map[string]bool{
		"TestGuestMount": false, "TestGuest": false, "TestGuestX": false,
		"TestVM": true, "TestMount": true, "TestGues": true, "Test": true,
		"ExampleRun": true, "FuzzParse": true, "TestGuesT": true,
	} {
		if got := re.MatchString(name); got != skip {
			t.Errorf("skip %q = %v, want %v", name, got, skip)
		}
	}
}

func TestSplitElapsed(t *testing.T) {
	name, d := splitElapsed("TestGuestA/with space (12.34s)")
	if name != "TestGuestA/with space" || d != 12340*time.Millisecond {
		t.Errorf("got %q %v", name, d)
	}
}

func TestParseLdd(t *testing.T) {
	// ldd /bin/udevadm on Debian 12.
	out := `	linux-vdso.so.1 (0x00007ffd6b5f2000)
	libkmod.so.2 => /lib/x86_64-linux-gnu/libkmod.so.2 (0x00007f687a5fb000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f687a37b000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f687a77a000)
`
	got, err := parseLdd([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/lib/x86_64-linux-gnu/libkmod.so.2", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := parseLdd([]byte("\tlibfoo.so.1 => not found\n")); err == nil {
		t.Error("a missing library was not reported")
	}
	if got, err := parseLdd([]byte("\tstatically linked\n")); err != nil || len(got) != 0 {
		t.Errorf("static binary: %v, %v", got, err)
	}
}

func TestCPIORoundTrip(t *testing.T) {
	var buf bytes.Buffer
	err := writeCPIO(&buf, []cpioEntry{
		{Name: "usr/bin/tool", Mode: 0o755, Data: []byte("abc")},
		{Name: "/init", Mode: 0o755, Data: []byte("#!/bin/sh\n")},
		{Name: "bin/sh", Mode: fs.ModeSymlink | 0o777, Data: []byte("busybox")},
		{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, DevMajor: 5, DevMinor: 1},
		{Name: "usr/bin/tool", Mode: 0o755, Data: []byte("abc")}, // identical duplicate is fine
	})
	if err != nil {
		t.Fatal(err)
	}
	if buf.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-aligned", buf.Len())
	}
	names, err := readCPIONames(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"bin", "bin/sh", "dev", "dev/console", "init", "usr", "usr/bin", "usr/bin/tool"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	err = writeCPIO(&buf, []cpioEntry{{Name: "a", Data: []byte("1")}, {Name: "a", Data: []byte("2")}})
	if err == nil {
		t.Error("conflicting duplicates were accepted")
	}
}

func TestCPIOMatchesSystemCpio(t *testing.T) {
	cpio, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("cpio not installed")
	}
	var buf bytes.Buffer
	if err := writeCPIO(&buf, []cpioEntry{{Name: "a/b/c", Mode: 0o644, Data: []byte("hello")}, {Name: "l", Mode: fs.ModeSymlink | 0o777, Data: []byte("a/b/c")}}); err != nil {
		t.Fatal(err)
	}
	out, err := runStdin(buf.Bytes(), cpio, "-t", "-v")
	if err != nil {
		t.Fatalf("cpio -t: %v\n%s", err, out)
	}
	for _, want := range []string{"a/b/c", "l -> a/b/c"} {
		if !strings.Contains(out, want) {
			t.Errorf("cpio -t output lacks %q:\n%s", want, out)
		}
	}
}

func runStdin(stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func FuzzTestParser(f *testing.F) {
	for _, l := range strings.Split(guestOutput, "\n") {
		f.Add(l)
	}
	f.Add("    --- FAIL: TestX/a/b (x)")
	f.Add("=== RUN   ")
	f.Fuzz(func(t *testing.T, line string) {
		var p testParser
		p.parse("=== RUN   TestGuestA")
		ev := p.parse(line)
		if ev.Line != strings.TrimRight(line, "\r") {
			t.Fatalf("line changed: %q -> %q", line, ev.Line)
		}
		if ev.Kind != evOutput && ev.Test == "" {
			t.Fatalf("marker event without a test: %+v", ev)
		}
		if strings.Contains(ev.Test, "/") {
			t.Fatalf("event attributed to a subtest: %+v", ev)
		}
	})
}

func FuzzParseLdd(f *testing.F) {
	f.Add([]byte("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n\t/lib64/ld-linux-x86-64.so.2 (0x2)\n"))
	f.Add([]byte("\tnot a dynamic executable\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		libs, err := parseLdd(b)
		if err != nil {
			return
		}
		for _, l := range libs {
			if !strings.HasPrefix(l, "/") {
				t.Fatalf("relative library path %q", l)
			}
		}
	})
}

func FuzzReadCPIONames(f *testing.F) {
	var buf bytes.Buffer
	writeCPIO(&buf, []cpioEntry{{Name: "a/b", Mode: 0o644, Data: []byte("xyz")}})
	f.Add(buf.Bytes())
	f.Add([]byte("070701"))
	f.Fuzz(func(t *testing.T, b []byte) {
		names, err := readCPIONames(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Every member costs at least a 110-byte header.
		if len(names)*110 > len(b) {
			t.Fatalf("%d names from %d bytes", len(names), len(b))
		}
		for _, n := range names {
			if strings.Contains(n, "\x00") {
				t.Fatalf("name %q keeps its NUL", n)
			}
		}
	})
}
