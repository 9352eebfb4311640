package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

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
		p, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase from the terminal: %w", err)
		}
		return nonEmpty(p, "typed")
	}
	// Byte by byte, so nothing past the first line is consumed and no
	// buffer we cannot wipe holds a copy.
	p := make([]byte, 0, 128)
	b := make([]byte, 1)
	for len(p) < maxPassphrase {
		n, err := a.stdin.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			p = append(p, b[0])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			clear(p)
			return nil, fmt.Errorf("reading the passphrase from stdin: %w", err)
		}
	}
	return nonEmpty(bytes.TrimSuffix(p, []byte("\r")), "read from stdin")
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
	p, err := io.ReadAll(io.LimitReader(f, maxPassphrase+1))
	if err != nil {
		clear(p)
		return nil, fmt.Errorf("--passphrase-file %s: %w", path, err)
	}
	if len(p) > maxPassphrase {
		clear(p)
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
