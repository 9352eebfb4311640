//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestReadPassphraseTerminal types a passphrase on a real pseudo-terminal:
// it is read without echo, and the terminal's settings come back after.
func TestReadPassphraseTerminal(t *testing.T) {
	ptm, pts := openPTY(t)
	defer ptm.Close()
	defer pts.Close()
	before, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag&unix.ECHO == 0 {
		t.Fatal("a new terminal without echo")
	}
	var prompt bytes.Buffer
	a := &app{stdin: pts, stderr: &prompt}
	type result struct {
		p   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := readPassphrase(a, "Passphrase: ")
		done <- result{p, err}
	}()
	// Type only once echo is off, as a person would after the prompt.
	for deadline := time.Now().Add(10 * time.Second); ; {
		st, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
		if err == nil && st.Lflag&unix.ECHO == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("echo was never turned off")
		}
		time.Sleep(time.Millisecond)
	}
	ptm.Write([]byte("tty secret\n"))
	r := <-done
	if r.err != nil || string(r.p) != "tty secret" {
		t.Fatalf("readPassphrase = %q, %v", r.p, r.err)
	}
	after, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil || *after != *before {
		t.Errorf("terminal settings after: %+v, %v; want them restored to %+v", after, err, before)
	}
	// Whatever the terminal echoed back must not include the passphrase.
	// (openPTY's Fd calls left the master blocking: poll before reading.)
	echo := make([]byte, 256)
	n := 0
	if k, _ := unix.Poll([]unix.PollFd{{Fd: int32(ptm.Fd()), Events: unix.POLLIN}}, 200); k == 1 {
		n, _ = ptm.Read(echo)
	}
	if strings.Contains(string(echo[:n]), "secret") {
		t.Errorf("the terminal echoed %q", echo[:n])
	}
	if prompt.String() != "Passphrase: \n" {
		t.Errorf("prompt %q", prompt.String())
	}
}

// openPTY returns a new pseudo-terminal's master and slave.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	return m, s
}
