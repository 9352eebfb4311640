//go:build linux

package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestUmountPermission runs extdrive as an unprivileged user (the test
// binary re-executed as nobody) against a real tmpfs mounted by root: it
// must exit 14 with a message saying root is needed, and leave the mount.
func TestUmountPermission(t *testing.T) {
	if os.Getenv("EXTDRIVE_HELPER_MAIN") == "1" {
		// Re-executed as nobody: be the command.
		args := os.Args
		for i, a := range args {
			if a == "--" {
				args = args[i+1:]
				break
			}
		}
		os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
	}
	devNeedRoot(t)
	// Not t.TempDir: its parent is private to root, and nobody must be
	// able to reach the binary and the mount point.
	dir, err := os.MkdirTemp("", "extdrive-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "extdrive.test")
	src, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	dst, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(dst, src)
	src.Close()
	dst.Close()
	if err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("extdrive-perm-test", mnt, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, "mode=755"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })

	cmd := exec.Command(bin, "-test.run=^TestUmountPermission$", "--", "--quiet", "--config", "/nonexistent", "umount", mnt)
	cmd.Env = append(os.Environ(), "EXTDRIVE_HELPER_MAIN=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if code != exitPermission || !strings.Contains(string(out), "needs root") {
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
