//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func devNeedRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root")
		}
		t.Skip("needs root")
	}
}

// TestMountCommandRefusals: every refusal is one line, its own exit code,
// and leaves the mount point as it was.
func TestMountCommandRefusals(t *testing.T) {
	devNeedRoot(t)
	f := newLUKSFixture(t)
	empty := filepath.Join(f.dir, "empty")
	full := filepath.Join(f.dir, "full")
	os.Mkdir(empty, 0o755)
	os.Mkdir(full, 0o755)
	devFile(t, filepath.Join(full, "old"), nil, 0o644)
	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"locked LUKS", []string{f.img, empty}, exitNoFilesystem, "locked LUKS volume; unlock it first"},
		{"mount point not empty", []string{f.img, full}, exitMountPoint, "not empty"},
		{"mount point missing", []string{f.img, filepath.Join(f.dir, "nope")}, exitMountPoint, "does not exist"},
		{"mount point is a file", []string{f.img, f.key}, exitMountPoint, "not a directory"},
		{"device missing", []string{filepath.Join(f.dir, "absent"), empty}, exitNoDevice, "device not found"},
		{"fstype the kernel lacks", []string{"--fstype", "nosuchfs", f.img, empty}, exitUnsupported, "does not support filesystem type nosuchfs"},
		{"no dir", []string{f.img}, exitUsage, "give DIR"},
		{"bad mode", []string{"--mode", "999", f.img, empty}, exitUsage, "octal"},
		{"bad owner", []string{"--owner", "root", f.img, empty}, exitUsage, "USER:GROUP"},
		{"unknown user", []string{"--owner", "no-such-user-x:root", f.img, empty}, exitUsage, "no user"},
	} {
		code, _, errOut := runCLI(t, "", append([]string{"--quiet", "mount"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d, one line with %q", tc.name, code, errOut, tc.code, tc.msg)
		}
	}
	if _, err := os.Stat(filepath.Join(f.dir, "nope")); err == nil {
		t.Error("a refused mount created the mount point")
	}
	if ents, _ := os.ReadDir(empty); len(ents) != 0 {
		t.Error("a refused mount wrote into the mount point")
	}
}

// TestUmountCommand holds a real tmpfs busy with a process and checks the
// message names it, then unmounts once it is gone.
func TestUmountCommand(t *testing.T) {
	devNeedRoot(t)
	dir := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(dir, 0o755)
	if err := unix.Mount("extdrive-cli-test", dir, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	holder := exec.Command("sleep", "300")
	holder.Dir = dir
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })

	code, _, errOut := runCLI(t, "", "--quiet", "umount", dir)
	if code != exitBusy || !strings.Contains(errOut, "(sleep) cwd") || strings.Count(errOut, "\n") != 1 {
		t.Fatalf("umount busy: exit %d, stderr %q; want %d naming sleep", code, errOut, exitBusy)
	}
	holder.Process.Kill()
	holder.Wait()
	code, out, errOut := runCLI(t, "", "--quiet", "umount", dir)
	if code != exitOK || out != "unmounted "+dir+"\n" {
		t.Fatalf("umount: exit %d, %q %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "", "--quiet", "umount", dir)
	if code != exitOK {
		t.Errorf("umount of an unmounted dir: exit %d %q", code, errOut)
	}
	f := newLUKSFixture(t)
	code, out, _ = runCLI(t, "", "--quiet", "umount", f.img)
	if code != exitOK || !strings.Contains(out, "is not mounted") {
		t.Errorf("umount IMAGE: exit %d %q", code, out)
	}
	code, _, _ = runCLI(t, "", "--quiet", "umount", "PARTUUID=")
	if code != exitBadSpec {
		t.Errorf("umount PARTUUID=: exit %d, want %d", code, exitBadSpec)
	}
}

func TestLockCommand(t *testing.T) {
	f := newLUKSFixture(t)
	code, out, errOut := runCLI(t, "", "--quiet", "lock", f.img)
	if code != exitOK || out != "locked "+f.img+"\n" {
		t.Errorf("lock of a locked image: exit %d, %q %q", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "", "--quiet", "lock", "SERIAL=1")
	if code != exitBadSpec || !strings.Contains(errOut, "unknown key SERIAL=") {
		t.Errorf("lock SERIAL=1: exit %d %q", code, errOut)
	}
	code, _, _ = runCLI(t, "", "--quiet", "lock")
	if code != exitUsage {
		t.Errorf("lock without argument: exit %d", code)
	}
}

// TestMountCheck checks real tmpfs mounts: one without noexec (exit 8,
// naming noexec), one meeting the policy, and an empty directory (exit 18).
func TestMountCheck(t *testing.T) {
	devNeedRoot(t)
	dir := t.TempDir()
	weak, good, none := filepath.Join(dir, "weak"), filepath.Join(dir, "good"), filepath.Join(dir, "none")
	for _, d := range []string{weak, good, none} {
		os.Mkdir(d, 0o755)
	}
	for d, flags := range map[string]uintptr{
		weak: unix.MS_NODEV | unix.MS_NOSUID,
		good: unix.MS_NODEV | unix.MS_NOSUID | unix.MS_NOEXEC | unix.MS_SYNCHRONOUS,
	} {
		if err := unix.Mount("extdrive-check-test", d, "tmpfs", flags, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Unmount(d, unix.MNT_DETACH) })
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{weak}, exitPolicy, "lacks noexec"},
		{[]string{"--sync", weak}, exitPolicy, "lacks noexec,sync"},
		{[]string{"--sync", good}, exitOK, ""},
		{[]string{"--noatime", good}, exitPolicy, "lacks noatime"},
		{[]string{none}, exitNotMounted, "nothing is mounted"},
		{[]string{good, none}, exitUsage, "one DIR"},
	} {
		code, out, errOut := runCLI(t, "", append([]string{"mount", "--check"}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("mount --check %v: exit %d, stderr %q; want %d with %q", tc.args, code, errOut, tc.code, tc.msg)
		}
		if code == exitOK && out != good+" meets the policy\n" {
			t.Errorf("mount --check %v: stdout %q", tc.args, out)
		}
	}
}
