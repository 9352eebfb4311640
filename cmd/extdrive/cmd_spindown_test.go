package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad input to "extdrive spindown": each case must fail before any
// command reaches a device, with its own exit code and a one-line reason.
// The power commands themselves are tested against a real kernel in
// luksdrive/spindown's guest tests.
func TestSpindownBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-device")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no target", []string{"spindown"}, exitUsage, "takes one device"},
		{"timer too long", []string{"spindown", "--timer", "6h", "/dev/sda"}, exitUsage, "5h30m maximum"},
		{"timer negative", []string{"spindown", "--timer=-5m", "/dev/sda"}, exitUsage, "negative"},
		{"raw value out of range", []string{"spindown", "-S", "300", "/dev/sda"}, exitUsage, "0-255"},
		{"reserved raw value", []string{"spindown", "-S", "254", "/dev/sda"}, exitUsage, "reserved"},
		{"both timer forms", []string{"spindown", "--timer", "10m", "-S", "120", "/dev/sda"}, exitUsage, "give one"},
		{"after without watch", []string{"spindown", "--after", "5m", "/dev/sda"}, exitUsage, "--watch"},
		{"zero idle time", []string{"spindown", "--watch", "--after", "0s", "/dev/sda"}, exitUsage, "positive"},
		{"bad spec key", []string{"spindown", "SERIAL=123", "--now"}, exitUsage, "unknown key"},
		{"missing path", []string{"spindown", "--now", "/dev/extdrive-no-such-disk"}, exitNoDevice, "no such file"},
		{"unknown mapping", []string{"spindown", "--now", "extdrive-no-such-mapping"}, exitNoDevice, "/dev/mapper"},
		{"regular file", []string{"spindown", "--now", file}, exitNotDisk, "neither a block device nor a mount point"},
		{"proc mount", []string{"spindown", "--now", "/proc"}, exitNotDisk, "proc mount, not on a disk"},
		{"directory", []string{"spindown", "--check", t.TempDir()}, exitNotDisk, "not a mount point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, strings.NewReader(""), &stdout, &stderr)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.msg) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tt.msg)
			}
			if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 {
				t.Errorf("error is %d lines, want one: %s", n+1, stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout: %q", stdout.String())
			}
		})
	}
}
