package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// maxPassphrase bounds what is read from a pipe or file as a passphrase;
// cryptsetup's own limit is 512 bytes for interactive input.
const maxPassphrase = 8 << 10

// readPassphrase returns the passphrase typed on the terminal (without
// echo) when stdin is one, or else the first line of stdin, as cryptsetup
// reads a piped passphrase. The trailing newline is not part of it.
//
// The caller owns the returned slice and wipes it (clear) after use.
func readPassphrase(a *app, prompt string) ([]byte, error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(a.stderr, prompt)
		p, err := readTerminalLine(f)
		fmt.Fprintln(a.stderr)
		if errors.Is(err, errLineTooLong) {
			return nil, usagef("typed passphrase %v", err)
		}
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase from the terminal: %w", err)
		}
		return nonEmpty(p, "typed")
	}
	p, err := pipedPassphrase(a)
	if err != nil {
		return nil, err
	}
	return nonEmpty(p, "read from stdin")
}

// pipedPassphrase reads the first line of stdin, which is not a
// terminal; whether an empty one will do is the caller's to say. The
// caller owns the result and wipes it.
func pipedPassphrase(a *app) ([]byte, error) {
	p, err := readLine(a.stdin, maxPassphrase)
	if errors.Is(err, errLineTooLong) {
		return nil, usagef("passphrase on stdin %v", err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the passphrase from stdin: %w", err)
	}
	return p, nil
}

// readTerminalLine reads a line from the terminal f with echo off, as
// term.ReadPassword does, but into readLine's one wipeable buffer
// (ReadPassword grows its result, leaving copies behind).
func readTerminalLine(f *os.File) ([]byte, error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ECHO
	t.Lflag |= unix.ICANON | unix.ISIG
	t.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	return readLine(f, maxPassphrase)
}

var errLineTooLong = errors.New("line too long")

// readLine reads one line from r a byte at a time, so that nothing past
// it is consumed (later reads share r) and no buffer we cannot wipe holds
// a copy: the line lives in one allocation of max bytes that never grows.
// The "\n" or "\r\n" ending is dropped; EOF ends the last line. A line
// longer than max is wiped and refused, never cut short.
//
// The caller owns the returned slice and wipes it.
func readLine(r io.Reader, max int) ([]byte, error) {
	p := make([]byte, 0, max)
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			if len(p) == max {
				clear(p[:cap(p)])
				return nil, fmt.Errorf("%w: longer than %d bytes", errLineTooLong, max)
			}
			p = append(p, b[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			clear(p)
			return nil, err
		}
	}
	b[0] = 0
	return bytes.TrimSuffix(p, []byte("\r")), nil
}

// readPassphraseFile reads a passphrase stored in a file; one trailing
// newline (as an editor or echo leaves it) is dropped. Use --key-file for
// binary key files, which are taken byte for byte.
//
// The caller owns the returned slice and wipes it.
func readPassphraseFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--passphrase-file: %v", err)
	}
	defer f.Close()
	// One buffer of fixed size, so no copy is left behind by growing it.
	buf := make([]byte, maxPassphrase+1)
	n, err := io.ReadFull(f, buf)
	p := buf[:n]
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		clear(buf)
		return nil, fmt.Errorf("--passphrase-file %s: %w", path, err)
	}
	if n > maxPassphrase {
		clear(buf)
		return nil, usagef("--passphrase-file %s: longer than %d bytes; for a binary key use --key-file", path, maxPassphrase)
	}
	p = bytes.TrimSuffix(p, []byte("\n"))
	return nonEmpty(p, "in "+path)
}

func nonEmpty(p []byte, where string) ([]byte, error) {
	if len(p) == 0 {
		return nil, usagef("empty passphrase %s; type the passphrase, or use --key-file", where)
	}
	return p, nil
}
