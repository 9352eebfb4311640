package luksdrive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// These tests mount real tmpfs filesystems on the host (tmpfs needs no
// device-mapper or block device) and read the kernel's mountinfo back.
// Each tmpfs gets a unique source name so the host's own tmpfs mounts
// (/run, /dev/shm) never count as "the same filesystem".

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("mount tests need root")
		}
		t.Skip("mount tests need root")
	}
}

func tmpfsSource(t *testing.T) string {
	return "extdrive-test-" + strings.ReplaceAll(t.Name(), "/", "-")
}

func unmountAtCleanup(t *testing.T, target string) {
	t.Cleanup(func() {
		for unix.Unmount(target, unix.MNT_DETACH) == nil {
		}
	})
}

func liveOptions(t *testing.T, target string) []string {
	t.Helper()
	m, err := mountAt(target)
	if err != nil {
		t.Fatal(err)
	}
	o := append(strings.Split(m.Options, ","), strings.Split(m.VFSOptions, ",")...)
	slices.Sort(o)
	return o
}

func TestMountPolicyReadBack(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	target := filepath.Join(t.TempDir(), "mnt")
	src := tmpfsSource(t)
	unmountAtCleanup(t, target)
	pol := MountPolicy{Sync: true, NoAtime: true, NoDirAtime: true, Owner: &Owner{UID: 1234, GID: 5678, Mode: 0o750}}
	opts := &MountOptions{FSType: "tmpfs", Policy: pol, Create: true}
	if err := Mount(ctx, src, target, opts); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	got := liveOptions(t, target)
	for _, want := range []string{"nodev", "nosuid", "noexec", "noatime", "nodiratime", "sync", "uid=1234", "gid=5678", "mode=750"} {
		if !slices.Contains(got, want) {
			t.Errorf("live mount lacks %s; options %v", want, got)
		}
	}
	if err := CheckMount(target, pol); err != nil {
		t.Errorf("CheckMount after Mount: %v", err)
	}
	// Idempotent: the same filesystem at the same place is success.
	if err := Mount(ctx, src, target, opts); err != nil {
		t.Errorf("second Mount: %v", err)
	}
	if n := countMounts(t, target); n != 1 {
		t.Errorf("%d mounts at %s after a repeated Mount, want 1", n, target)
	}
	if err := Unmount(ctx, target, nil); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if n := countMounts(t, target); n != 0 {
		t.Errorf("%d mounts left at %s after Unmount", n, target)
	}
	// Unmounting what is not mounted is success, so Release can repeat.
	if err := Unmount(ctx, target, nil); err != nil {
		t.Errorf("Unmount of an unmounted target: %v", err)
	}
}

func countMounts(t *testing.T, target string) int {
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(target))
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// TestCheckMountWeak mounts a tmpfs the way a careless fstab line would
// (no noexec) and checks that CheckMount and Mount both refuse it and say
// what is missing.
func TestCheckMountWeak(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	weak := filepath.Join(dir, "weak")
	other := filepath.Join(dir, "other")
	for _, d := range []string{weak, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	src := tmpfsSource(t)
	unmountAtCleanup(t, weak)
	unmountAtCleanup(t, other)
	if err := unix.Mount(src, weak, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID, ""); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		err     error
		mention string
	}{
		{"CheckMount", CheckMount(weak, MountPolicy{}), "noexec"},
		{"CheckMount with noatime", CheckMount(weak, MountPolicy{NoAtime: true}), "noexec,noatime"},
		{"Mount at the weak mount", Mount(ctx, src, weak, &MountOptions{FSType: "tmpfs"}), "without noexec"},
		{"Mount elsewhere", Mount(ctx, src, other, &MountOptions{FSType: "tmpfs"}), "elsewhere, at " + weak},
	} {
		if !errors.Is(tc.err, ErrPolicy) || !strings.Contains(tc.err.Error(), tc.mention) {
			t.Errorf("%s: error %v, want ErrPolicy mentioning %q", tc.name, tc.err, tc.mention)
		}
	}
	if countMounts(t, other) != 0 {
		t.Errorf("a refused Mount left a mount at %s", other)
	}

	// The same options with noexec added pass.
	if err := unix.Mount("", weak, "", unix.MS_REMOUNT|unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	if err := CheckMount(weak, MountPolicy{}); err != nil {
		t.Errorf("CheckMount after remount with noexec: %v", err)
	}
	if err := CheckMount(weak, MountPolicy{Sync: true}); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "sync") {
		t.Errorf("CheckMount wanting sync on an async mount: %v", err)
	}
	if err := CheckMount(weak, MountPolicy{Owner: &Owner{UID: 42, GID: 42}}); !errors.Is(err, ErrPolicy) {
		t.Errorf("CheckMount wanting owner 42:42 on a root-owned mount: %v", err)
	}
	if err := CheckMount(other, MountPolicy{}); !errors.Is(err, ErrNotMounted) {
		t.Errorf("CheckMount on an empty directory: %v, want ErrNotMounted", err)
	}
}

func TestMountPointErrors(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	full := filepath.Join(dir, "full")
	taken := filepath.Join(dir, "taken")
	write(t, file, "x")
	write(t, filepath.Join(full, "old-backup"), "x")
	if err := os.Mkdir(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	unmountAtCleanup(t, taken)
	if err := unix.Mount("other-fs", taken, "tmpfs", unix.MS_NODEV|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		t.Fatal(err)
	}
	src := tmpfsSource(t)
	for _, tc := range []struct {
		name, target, mention string
	}{
		{"missing", filepath.Join(dir, "missing"), "does not exist"},
		{"file", file, "not a directory"},
		{"not empty", full, `not empty (holds "old-backup")`},
		{"other fs mounted", taken, "other-fs is already mounted there"},
	} {
		err := Mount(ctx, src, tc.target, &MountOptions{FSType: "tmpfs"})
		if !errors.Is(err, ErrMountPoint) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: %v, want ErrMountPoint mentioning %q", tc.name, err, tc.mention)
		}
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{"file", "full", "taken"}, names); diff != "" {
		t.Errorf("refused mounts changed the directory (-want +got):\n%s", diff)
	}
}

// TestMountNoFilesystem uses a LUKS image made by cryptsetup: mounting it
// without unlocking must say so instead of a bare EINVAL.
func TestMountNoFilesystem(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "luks.img")
	makeImage(t, img, 4<<20)
	key := filepath.Join(dir, "key")
	write(t, key, "k")
	run(t, "", "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", key,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m", img)
	zero := filepath.Join(dir, "zero.img")
	makeImage(t, zero, 1<<20)
	mnt := filepath.Join(dir, "mnt")
	for _, tc := range []struct{ dev, mention string }{
		{img, "locked LUKS volume"},
		{zero, "no filesystem found"},
	} {
		err := Mount(context.Background(), tc.dev, mnt, &MountOptions{Create: true})
		if !errors.Is(err, ErrNoFilesystem) || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("Mount(%s): %v, want ErrNoFilesystem mentioning %q", filepath.Base(tc.dev), err, tc.mention)
		}
	}
	if err := Mount(context.Background(), filepath.Join(dir, "absent"), mnt, nil); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Mount of a missing device: %v, want ErrNoDevice", err)
	}
}

// TestUnmountBusy holds a tmpfs with two real processes, one by its cwd and
// one by an open file, and checks that Unmount names both.
func TestUnmountBusy(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	target := filepath.Join(t.TempDir(), "mnt")
	unmountAtCleanup(t, target)
	if err := Mount(ctx, tmpfsSource(t), target, &MountOptions{FSType: "tmpfs", Create: true}); err != nil {
		t.Fatal(err)
	}
	// Both holders are sleep itself, with no shell in between: Start
	// returns only after the exec, so the scan below cannot catch a
	// process that is still about to become sleep.
	inCwd := exec.Command("sleep", "300")
	inCwd.Dir = target
	log, err := os.Create(filepath.Join(target, "log"))
	if err != nil {
		t.Fatal(err)
	}
	withFile := exec.Command("sleep", "300")
	withFile.ExtraFiles = []*os.File{log}
	for _, c := range []*exec.Cmd{inCwd, withFile} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	}
	log.Close() // only the child holds it now

	err = Unmount(ctx, target, nil)
	var be *BusyError
	if !errors.Is(err, ErrBusy) || !errors.As(err, &be) {
		t.Fatalf("Unmount of a busy mount: %v, want a *BusyError", err)
	}
	got := map[int]string{}
	for _, h := range be.Holders {
		got[h.PID] = h.Command + " " + h.How
	}
	want := map[int]string{
		inCwd.Process.Pid:    "sleep cwd",
		withFile.Process.Pid: "sleep fd " + filepath.Join(target, "log"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("holders (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "sleep") || strings.Contains(err.Error(), "\n") {
		t.Errorf("busy error should be one line naming the holders: %q", err)
	}
	if countMounts(t, target) != 1 {
		t.Fatal("the busy mount is gone after a failed Unmount")
	}

	inCwd.Process.Kill()
	inCwd.Wait()
	withFile.Process.Kill()
	withFile.Wait()
	if err := Unmount(ctx, target, nil); err != nil {
		t.Fatalf("Unmount after the holders exited: %v", err)
	}
}
