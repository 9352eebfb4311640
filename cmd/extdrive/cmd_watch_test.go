package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// The daemon itself runs against real netlink in the udevwatch guest
// tests (TestGuestWatchCommand); here, its refusals.
func TestWatchCommandRefusals(t *testing.T) {
	cfg := watchConfig(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad mode", []string{"--config", cfg, "watch", "--mode", "systemd"}, exitUsage, "use auto, udev or kernel"},
		{"no config", []string{"--config", filepath.Join(t.TempDir(), "none.toml"), "watch"}, exitNoConfig, ""},
		{"stray argument", []string{"--config", cfg, "watch", "sdb"}, exitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errs)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, tc.msg) {
				t.Errorf("stderr %q: want one line containing %q", errs, tc.msg)
			}
		})
	}
}
