//go:build vmguest

package luksdrive

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
	"github.com/google/go-cmp/cmp"
)

// Guest tests of the device side. Every test makes its own images (fixed
// UUIDs, so the test can name them) in the shared directory and plugs
// them as USB sticks or attaches them to loop devices.

func devCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func devSh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func devImage(t *testing.T, m *vmtest.Machine, name string, size int64) string {
	t.Helper()
	p := filepath.Join(m.SharedDir(), t.Name()+"-"+name+".img")
	makeImage(t, p, size)
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// devKey writes a 0600 key file and returns its path.
func devKey(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// devLUKSExt4 formats img as LUKS2 (cheap pbkdf2, so TCG stays fast) with
// an ext4 filesystem inside, using cryptsetup itself as the reference. The
// work happens on a copy in the guest's tmpfs: cryptsetup's keyslot I/O
// fails on the shared directory's filesystem.
func devLUKSExt4(t *testing.T, dst, luksUUID, fsUUID, key string) {
	t.Helper()
	st, err := os.Stat(dst)
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "luks.img")
	makeImage(t, img, st.Size())
	defer os.Remove(img)
	defer func() {
		b, err := os.ReadFile(img)
		if err == nil {
			err = os.WriteFile(dst, b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}()
	devSh(t, "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", key,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k",
		"--luks2-keyslots-size", "1m", "--uuid", luksUUID, img)
	name := "prep-" + luksUUID[:8]
	devSh(t, "cryptsetup", "open", "--key-file", key, img, name)
	devSh(t, "mkfs.ext4", "-q", "-F", "-U", fsUUID, "-L", "backup", "/dev/mapper/"+name)
	devSh(t, "cryptsetup", "close", name)
}

func devPlug(t *testing.T, m *vmtest.Machine, ctx context.Context, id, img string) string {
	t.Helper()
	dev, err := m.PlugUSB(ctx, id, img)
	if err != nil {
		t.Fatalf("PlugUSB %s: %v", id, err)
	}
	t.Cleanup(func() { m.Unplug(context.Background(), id) })
	return dev
}

func dmNames(t *testing.T) []string {
	t.Helper()
	out := devSh(t, "dmsetup", "ls")
	var names []string
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] != "No" {
			names = append(names, f[0])
		}
	}
	return names
}

// TestGuestFind looks up hot-plugged USB sticks by every spec form, once
// through udev (links and database) and once by superblock scan alone, as
// in an initramfs without udev. Both must agree.
func TestGuestFind(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := devCtx(t)
	key := devKey(t, "find key")
	driveImg := devImage(t, m, "drive", 16<<20)
	devLUKSExt4(t, driveImg, "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", "3b4e28ba-2fa1-11d2-883f-0016d3cca427", key)
	stickImg := devImage(t, m, "stick", 8<<20)
	devSh(t, "sh", "-c", `printf 'label: gpt\nstart=2048, type=L, uuid=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d, name="key part"\n' | sfdisk -q `+stickImg)
	// Format the partition through a loop device with a partition scan.
	loop := strings.TrimSpace(devSh(t, "losetup", "--show", "-f", "-P", stickImg))
	devSh(t, "mkfs.vfat", "-i", "1a2b3c4d", "-n", "KEYS", loop+"p1")
	devSh(t, "losetup", "-d", loop)

	drive := devPlug(t, m, ctx, "drive", driveImg)
	stick := devPlug(t, m, ctx, "stick", stickImg)
	stickPart := stick + "1"

	cases := []struct{ spec, want string }{
		{"UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", drive},
		{"6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", drive},
		{"UUID=1A2B-3C4D", stickPart},
		{"LABEL=KEYS", stickPart},
		{"PARTUUID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", stickPart},
		{"PARTLABEL=key part", stickPart},
		{drive, drive},
	}
	noUdev := t.TempDir()
	for _, mode := range []struct {
		name string
		f    *finder
	}{
		{"udev", newFinder(nil)},
		{"scan", &finder{dev: "/dev", links: noUdev, sys: "/sys/class/block", udevDB: noUdev, log: discard}},
	} {
		for _, tc := range cases {
			sp, err := ParseSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			got, err := mode.f.find(ctx, sp)
			if err != nil {
				t.Errorf("%s: find(%s): %v", mode.name, tc.spec, err)
				continue
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("%s: find(%s) (-want +got):\n%s", mode.name, tc.spec, diff)
			}
		}
	}

	// A second stick with the same label makes LABEL=KEYS ambiguous.
	twinImg := devImage(t, m, "twin", 4<<20)
	devSh(t, "mkfs.vfat", "-i", "5e6f7a8b", "-n", "KEYS", twinImg)
	twin := devPlug(t, m, ctx, "twin", twinImg)
	_, err := Find(ctx, "LABEL=KEYS", nil)
	if !errors.Is(err, ErrAmbiguous) || !strings.Contains(err.Error(), twin) || !strings.Contains(err.Error(), stickPart) {
		t.Errorf("Find(LABEL=KEYS) with two sticks: %v, want ErrAmbiguous naming %s and %s", err, stickPart, twin)
	}

	// Pulled: gone after the wait, with ErrNoDevice.
	if err := m.Unplug(ctx, "drive"); err != nil {
		t.Fatal(err)
	}
	_, err = Find(ctx, "UUID=6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18", &FindOptions{Timeout: 500 * time.Millisecond})
	if !errors.Is(err, ErrNoDevice) {
		t.Errorf("Find after unplug: %v, want ErrNoDevice", err)
	}
}

// TestGuestFindWaitsForPlug starts Find before the stick is plugged in.
func TestGuestFindWaitsForPlug(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := devCtx(t)
	img := devImage(t, m, "late", 4<<20)
	devSh(t, "mkfs.vfat", "-i", "0badf00d", "-n", "LATE", img)
	type result struct {
		dev string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		d, err := Find(ctx, "UUID=0BAD-F00D", &FindOptions{Timeout: 2 * time.Minute})
		ch <- result{d, err}
	}()
	dev := devPlug(t, m, ctx, "late", img)
	r := <-ch
	if r.err != nil || r.dev != dev {
		t.Fatalf("Find while plugging: %q, %v; want %s", r.dev, r.err, dev)
	}
}
