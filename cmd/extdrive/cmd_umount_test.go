//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUmountPermission runs extdrive as an unprivileged user (the test
// binary re-executed as nobody) against a real tmpfs mounted by root: it
// must exit 14 with a message saying root is needed, and leave the mount.
func TestUmountPermission(t *testing.T) {
	devNeedRoot(t)
	dir, bin := nobodyDir(t, 0o755)
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("extdrive-perm-test", mnt, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })

	stdout, stderr, code := runAsNobody(t, bin, "--quiet", "--config", "/nonexistent", "umount", mnt)
	if out := stdout + stderr; code != exitPermission || !strings.Contains(out, "needs root") {
		t.Errorf("umount as nobody: exit %d, output %q; want %d saying root is needed", code, out, exitPermission)
	}
	if n := strings.Count(readFile(t, "/proc/self/mountinfo"), " "+mnt+" "); n != 1 {
		t.Errorf("%d mounts at %s after the refused umount, want 1", n, mnt)
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
