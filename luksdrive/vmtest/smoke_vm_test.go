//go:build vmguest

package vmtest_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// The guest smoke suite proves the VM offers what the project's guest tests
// rely on. Each test builds its own images, so they are independent.

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func runIn(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// mkfsImage makes a sparse image file holding an ext4 filesystem with a
// fixed UUID, so the test knows the /dev/disk/by-uuid name to expect.
func mkfsImage(t *testing.T, path, uuid string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	run(t, "mkfs.ext4", "-q", "-F", "-U", uuid, "-L", "smoke", path)
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestGuestDMCrypt(t *testing.T) {
	vmtest.Guest(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "luks.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(32 << 20)
	f.Close()
	const pass = "correct horse"
	runIn(t, pass, "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2",
		// argon2id with parallel lanes: cryptsetup's threads need the
		// dlopened libgcc_s in the guest.
		"--pbkdf", "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "8192",
		"--pbkdf-parallel", "2", "--luks2-metadata-size", "16k",
		"--luks2-keyslots-size", "1m", "--key-file", "-", img)
	runIn(t, pass, "cryptsetup", "open", "--key-file", "-", img, "smokecrypt")
	t.Cleanup(func() { exec.Command("cryptsetup", "close", "smokecrypt").Run() })
	if _, err := os.Stat("/dev/mapper/smokecrypt"); err != nil {
		t.Fatalf("no /dev/mapper link after cryptsetup open: %v", err)
	}
	run(t, "mkfs.ext4", "-q", "/dev/mapper/smokecrypt")
	mnt := filepath.Join(dir, "mnt")
	os.Mkdir(mnt, 0o755)
	run(t, "mount", "-t", "ext4", "/dev/mapper/smokecrypt", mnt)
	if err := os.WriteFile(filepath.Join(mnt, "hello"), []byte("world"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "umount", mnt)
	run(t, "cryptsetup", "close", "smokecrypt")
	if out := run(t, "dmsetup", "ls"); strings.Contains(out, "smokecrypt") {
		t.Fatalf("mapping left after close:\n%s", out)
	}
	// Reopen read-only and read the file back through dm-crypt.
	runIn(t, pass, "cryptsetup", "open", "--readonly", "--key-file", "-", img, "smokecrypt")
	run(t, "mount", "-o", "ro", "/dev/mapper/smokecrypt", mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "hello"))
	run(t, "umount", mnt)
	run(t, "cryptsetup", "close", "smokecrypt")
	if err != nil || string(got) != "world" {
		t.Fatalf("read back %q, %v; want %q", got, err, "world")
	}
}

func TestGuestPlugUSB(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ctxFor(t)
	const uuid = "3f1c2a9e-5b7d-4e21-9c0a-1d2e3f4a5b6c"
	img := filepath.Join(m.SharedDir(), "stick.img")
	mkfsImage(t, img, uuid, 16<<20)

	// Watch udev while plugging: the add events must reach userspace.
	mon := exec.Command("udevadm", "monitor", "--udev", "--subsystem-match=block")
	var events syncBuffer
	mon.Stdout = &events
	if err := mon.Start(); err != nil {
		t.Fatal(err)
	}
	// udevadm prints this header line only once its socket is subscribed:
	// from then on no event can slip past it.
	if !waitOutput(ctx, &events, func(out string) bool {
		return strings.Contains(out, "UDEV - the event which udev sends out after rule processing\n")
	}) {
		mon.Process.Kill()
		t.Fatalf("udevadm monitor never said it was listening:\n%s", events.String())
	}
	dev, err := m.PlugUSB(ctx, "stick1", img)
	if err != nil {
		mon.Process.Kill()
		t.Fatal(err)
	}
	link := "/dev/disk/by-uuid/" + uuid
	target, err := filepath.EvalSymlinks(link)
	if err != nil {
		mon.Process.Kill()
		t.Fatalf("after PlugUSB: %v", err)
	}
	if target != dev {
		t.Errorf("%s -> %s, want %s", link, target, dev)
	}
	if out := run(t, "udevadm", "info", "--query=property", dev); !strings.Contains(out, "ID_BUS=usb") {
		t.Errorf("udev does not see %s as a USB disk:\n%s", dev, out)
	}
	if err := m.Unplug(ctx, "stick1"); err != nil {
		mon.Process.Kill()
		t.Fatal(err)
	}
	// Unplug's settle means udevd has sent the remove event, not that the
	// monitor has read and printed it yet: give it time before killing it.
	name := filepath.Base(dev)
	waitOutput(ctx, &events, func(out string) bool {
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "remove   /devices/") && strings.Contains(l, name) {
				return true
			}
		}
		return false
	})
	mon.Process.Kill()
	mon.Wait()
	if _, err := os.Lstat(link); !os.IsNotExist(err) {
		t.Errorf("after Unplug, %s: %v; want it gone", link, err)
	}
	if _, err := os.Stat(dev); !os.IsNotExist(err) {
		t.Errorf("after Unplug, %s: %v; want it gone", dev, err)
	}
	for _, want := range []string{"add      /devices/", "remove   /devices/"} {
		if !strings.Contains(events.String(), want) || !strings.Contains(events.String(), name) {
			t.Errorf("udev monitor missed %q for %s:\n%s", want, name, events.String())
		}
	}
}

// syncBuffer collects a process's output while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitOutput polls out until ok accepts it, for up to a minute (or until
// ctx ends): under TCG a process can take seconds to start and to print.
func waitOutput(ctx context.Context, out *syncBuffer, ok func(string) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for !ok(out.String()) {
		select {
		case <-ctx.Done():
			return ok(out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

func TestGuestPlugTwoUSB(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ctxFor(t)
	a, b := filepath.Join(m.SharedDir(), "a.img"), filepath.Join(m.SharedDir(), "b.img")
	mkfsImage(t, a, "0a0a0a0a-0000-4000-8000-00000000000a", 8<<20)
	mkfsImage(t, b, "0b0b0b0b-0000-4000-8000-00000000000b", 8<<20)
	devA, err := m.PlugUSB(ctx, "drive", a)
	if err != nil {
		t.Fatal(err)
	}
	devB, err := m.PlugUSB(ctx, "keystick", b)
	if err != nil {
		t.Fatal(err)
	}
	if devA == devB {
		t.Fatalf("both sticks are %s", devA)
	}
	for dev, uuid := range map[string]string{devA: "0a0a0a0a-0000-4000-8000-00000000000a", devB: "0b0b0b0b-0000-4000-8000-00000000000b"} {
		if got := strings.TrimSpace(run(t, "blkid", "-o", "value", "-s", "UUID", dev)); got != uuid {
			t.Errorf("blkid %s = %q, want %q", dev, got, uuid)
		}
	}
	// Unplug happens in Guest's cleanup for "keystick"; do "drive" here.
	if err := m.Unplug(ctx, "drive"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.PlugUSB(ctx, "keystick", b); err == nil {
		t.Error("plugging a second device with an id in use succeeded")
	}
}

func TestGuestAttachSCSI(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ctxFor(t)
	const uuid = "5c5c5c5c-0000-4000-8000-000000000005"
	img := filepath.Join(m.SharedDir(), "scsi.img")
	mkfsImage(t, img, uuid, 16<<20)
	dev, err := m.AttachDisk(ctx, "scsi1", img, vmtest.SCSI)
	if err != nil {
		t.Fatal(err)
	}
	if target, err := filepath.EvalSymlinks("/dev/disk/by-uuid/" + uuid); err != nil || target != dev {
		t.Errorf("by-uuid link -> %q, %v; want %s", target, err, dev)
	}
	// START STOP UNIT reaches the emulated disk through SG_IO.
	run(t, "sg_start", "--stop", dev)
	run(t, "sg_start", "--start", dev)
	if err := m.Unplug(ctx, "scsi1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dev); !os.IsNotExist(err) {
		t.Errorf("after Unplug, %s: %v; want it gone", dev, err)
	}
}

func TestGuestAttachIDE(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ctxFor(t)
	const uuid = "1de1de1d-0000-4000-8000-000000000001"
	img := filepath.Join(m.SharedDir(), "ide.img")
	mkfsImage(t, img, uuid, 64<<20)
	dev, err := m.AttachDisk(ctx, "ide1", img, vmtest.IDE)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(run(t, "blkid", "-p", "-o", "value", "-s", "UUID", dev)); got != uuid {
		t.Errorf("blkid %s = %q, want %q", dev, got, uuid)
	}
	if target, err := filepath.EvalSymlinks("/dev/disk/by-uuid/" + uuid); err != nil || target != dev {
		t.Errorf("by-uuid link -> %q, %v; want %s", target, err, dev)
	}
	// An ATA command through libata: hdparm -C asks the drive's power mode.
	if out := run(t, "hdparm", "-C", dev); !strings.Contains(out, "drive state is") {
		t.Errorf("hdparm -C %s:\n%s", dev, out)
	}
	small := filepath.Join(m.SharedDir(), "small.img")
	mkfsImage(t, small, "1de1de1d-0000-4000-8000-000000000002", 8<<20)
	if _, err := m.AttachDisk(ctx, "ide2", small, vmtest.IDE); err == nil {
		t.Error("attaching an IDE image smaller than the slot succeeded")
	}
	if err := m.Unplug(ctx, "ide1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat("/dev/disk/by-uuid/" + uuid); !os.IsNotExist(err) {
		t.Errorf("after Unplug, by-uuid link: %v; want it gone", err)
	}
}

func TestGuestUhid(t *testing.T) {
	vmtest.Guest(t)
	fi, err := os.Stat("/dev/uhid")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/uhid is %v, want a character device", fi.Mode())
	}
	f, err := os.OpenFile("/dev/uhid", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestGuestUdevDatabase(t *testing.T) {
	vmtest.Guest(t)
	// udevd ran the coldplug trigger: devices have database entries.
	entries, err := os.ReadDir("/run/udev/data")
	if err != nil || len(entries) == 0 {
		t.Fatalf("/run/udev/data: %d entries, %v", len(entries), err)
	}
	if out := run(t, "udevadm", "info", "--query=property", "/sys/class/misc/uhid"); !strings.Contains(out, "DEVNAME=/dev/uhid") {
		t.Errorf("udevadm info for uhid:\n%s", out)
	}
}

func TestGuestCommandsAndTools(t *testing.T) {
	vmtest.Guest(t)
	if got := strings.TrimSpace(run(t, "vmtest-uname")); got != vmtest.KernelVersion {
		t.Errorf("vmtest-uname = %q, want %q", got, vmtest.KernelVersion)
	}
	if out := run(t, "sha256sum", "--version"); !strings.Contains(out, "GNU coreutils") {
		t.Errorf("sha256sum is not the host's coreutils one:\n%s", out)
	}
}
