//go:build vmguest

package treecopy_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// usbDrive makes an ext4 image of size bytes, plugs it in as a USB mass
// storage device and mounts it; it returns the mount point.
func usbDrive(t *testing.T, id string, size int64) string {
	t.Helper()
	m := vmtest.Guest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	img := filepath.Join(m.SharedDir(), id+".img")
	f, err := os.Create(img)
	must(t, err)
	must(t, f.Truncate(size))
	f.Close()
	run(t, "mkfs.ext4", "-q", "-F", "-m", "0", img)
	dev, err := m.PlugUSB(ctx, id, img)
	if err != nil {
		t.Fatalf("plug %s: %v", id, err)
	}
	mnt := filepath.Join(t.TempDir(), id)
	must(t, os.MkdirAll(mnt, 0o755))
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		t.Fatalf("mount %s: %v", dev, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
		// The drive's filesystem must be clean after everything the
		// engine did, ENOSPC and cleanup included.
		if out, err := exec.Command("e2fsck", "-fn", dev).CombinedOutput(); err != nil {
			t.Errorf("e2fsck -fn %s: %v\n%s", dev, err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		m.Unplug(ctx, id)
	})
	return mnt
}

// TestGuestSnapshotOnUSBDrive: on a USB-attached ext4 drive a snapshot
// equals rsync -aHAX's copy, the second one links, and ENOSPC removes the
// partial snapshot and keeps the previous one.
func TestGuestSnapshotOnUSBDrive(t *testing.T) {
	mnt := usbDrive(t, "backup", 96<<20)
	src, ref, root := filepath.Join(mnt, "src"), filepath.Join(mnt, "ref"), filepath.Join(mnt, "root")
	makeTree(t, src, 11)
	must(t, os.Mkdir(root, 0o755))
	rsyncRef(t, src, ref)

	res1, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	if err != nil {
		t.Fatal(err)
	}
	first := scanTree(t, res1.Path)
	if diff := cmp.Diff(scanTree(t, ref), first); diff != "" {
		t.Fatalf("snapshot on the USB drive differs from rsync -aHAX (-rsync +snapshot):\n%s", diff)
	}
	must(t, os.RemoveAll(ref))

	// Fill the drive: the next snapshot needs more than is free.
	var sf unix.Statfs_t
	must(t, unix.Statfs(mnt, &sf))
	free := int64(sf.Bavail) * int64(sf.Bsize)
	big := make([]byte, 1<<20)
	rand.New(rand.NewSource(3)).Read(big)
	extra := filepath.Join(t.TempDir(), "extra") // outside the drive: the source grows, the drive does not
	must(t, os.MkdirAll(extra, 0o755))
	n := int(free/(1<<20)) + 4
	for i := range n {
		big[0] = byte(i)
		must(t, os.WriteFile(filepath.Join(extra, fmt.Sprintf("chunk%03d", i)), big, 0o644))
	}
	src2 := filepath.Join(t.TempDir(), "src2")
	must(t, os.MkdirAll(src2, 0o755))
	must(t, os.Rename(extra, filepath.Join(src2, "extra")))
	_, err = treecopy.Snapshot(context.Background(), src2, root, at(1))
	var se *treecopy.SpaceError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SpaceError", err)
	}
	if se.Needed != int64(n)<<20 {
		t.Errorf("Needed = %d, want %d", se.Needed, int64(n)<<20)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "*.inprogress")); len(left) != 0 {
		t.Errorf("partial snapshot not removed: %v", left)
	}
	if diff := cmp.Diff(first, scanTree(t, res1.Path)); diff != "" {
		t.Errorf("previous snapshot changed by the failed run (-before +after):\n%s", diff)
	}
	if l, _ := os.Readlink(filepath.Join(root, "latest")); l != filepath.Base(res1.Path) {
		t.Errorf("latest -> %q, want the previous snapshot", l)
	}

	// The same source again: everything links, nothing is copied.
	res3, err := treecopy.Snapshot(context.Background(), src, root, at(2))
	if err != nil {
		t.Fatal(err)
	}
	if res3.Copied != 0 {
		t.Errorf("unchanged source: copied %d files, want 0", res3.Copied)
	}
	if diff := cmp.Diff(first, scanTree(t, res3.Path)); diff != "" {
		t.Errorf("linked snapshot (-first +third):\n%s", diff)
	}
}
