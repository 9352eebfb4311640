//go:build vmguest

package luksdrive

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
	"golang.org/x/sys/unix"
)

// TestGuestMountDMCrypt mounts a real ext4 on a dm-crypt mapping (opened
// by cryptsetup, the reference) and checks the policy in mountinfo, the
// ownership of the root, refusals, and the busy unmount naming its holder.
func TestGuestMountDMCrypt(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := devCtx(t)
	key := devKey(t, "mount key")
	img := devImage(t, m, "drive", 16<<20)
	devLUKSExt4(t, img, "11111111-2222-4333-8444-555555555555", "aaaaaaaa-2222-4333-8444-555555555555", key)
	loop := strings.TrimSpace(devSh(t, "losetup", "--show", "-f", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	devSh(t, "cryptsetup", "open", "--key-file", key, loop, "mnt-test")
	t.Cleanup(func() { exec.Command("cryptsetup", "close", "mnt-test").Run() })
	mapper := "/dev/mapper/mnt-test"
	target := filepath.Join(t.TempDir(), "backup")

	pol := MountPolicy{Sync: true, NoAtime: true, NoDirAtime: true, Owner: &Owner{UID: 1000, GID: 1000, Mode: 0o750}}
	if err := Mount(ctx, mapper, target, &MountOptions{Policy: pol, Create: true}); err != nil {
		t.Fatalf("Mount: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(target, unix.MNT_DETACH) })
	mi, err := mountAt(target)
	if err != nil {
		t.Fatal(err)
	}
	opts := append(strings.Split(mi.Options, ","), strings.Split(mi.VFSOptions, ",")...)
	for _, o := range []string{"nodev", "nosuid", "noexec", "noatime", "nodiratime", "sync", "rw"} {
		if !slices.Contains(opts, o) {
			t.Errorf("mountinfo lacks %s: %s / %s", o, mi.Options, mi.VFSOptions)
		}
	}
	if mi.FSType != "ext4" {
		t.Errorf("fstype %s, want ext4 (probed)", mi.FSType)
	}
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil || st.Uid != 1000 || st.Gid != 1000 || st.Mode&0o777 != 0o750 {
		t.Errorf("mount root: uid %d gid %d mode %o (%v), want 1000:1000 750", st.Uid, st.Gid, st.Mode&0o777, err)
	}
	// noexec is real: a script on the drive does not run.
	script := filepath.Join(target, "evil.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(script).CombinedOutput(); err == nil {
		t.Errorf("a script on the noexec mount ran: %s", out)
	}
	if err := Mount(ctx, mapper, target, &MountOptions{Policy: pol}); err != nil {
		t.Errorf("repeated Mount: %v", err)
	}

	// The same filesystem mounted elsewhere without noexec poisons it.
	weak := filepath.Join(t.TempDir(), "weak")
	os.Mkdir(weak, 0o755)
	devSh(t, "mount", "-o", "nodev,nosuid", mapper, weak)
	other := filepath.Join(t.TempDir(), "other")
	os.Mkdir(other, 0o755)
	if err := Mount(ctx, mapper, other, nil); !errors.Is(err, ErrPolicy) || !strings.Contains(err.Error(), "noexec") {
		t.Errorf("Mount while mounted elsewhere without noexec: %v, want ErrPolicy naming noexec", err)
	}
	devSh(t, "umount", weak)

	// Busy: a shell sitting in the drive.
	holder := exec.Command("sleep", "300")
	holder.Dir = target
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	err = Unmount(ctx, target, nil)
	var be *BusyError
	if !errors.As(err, &be) || !errors.Is(err, ErrBusy) {
		t.Fatalf("Unmount with a holder: %v, want *BusyError", err)
	}
	found := false
	for _, h := range be.Holders {
		found = found || h.PID == holder.Process.Pid && h.Command == "sleep" && h.How == "cwd"
	}
	if !found {
		t.Errorf("holders %v do not name sleep (pid %d) by its cwd", be.Holders, holder.Process.Pid)
	}
	holder.Process.Kill()
	holder.Wait()
	if err := Unmount(ctx, target, nil); err != nil {
		t.Fatalf("Unmount: %v", err)
	}
	if _, err := mountAt(target); !errors.Is(err, ErrNotMounted) {
		t.Errorf("still mounted after Unmount: %v", err)
	}
	// The file written through the sync mount is on the drive.
	devSh(t, "mount", "-o", "ro", mapper, weak)
	if b, err := os.ReadFile(filepath.Join(weak, "evil.sh")); err != nil || !strings.Contains(string(b), "echo ran") {
		t.Errorf("file written before Unmount: %q, %v", b, err)
	}
	devSh(t, "umount", weak)
}
