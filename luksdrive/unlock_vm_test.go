//go:build vmguest

package luksdrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/sys/mountinfo"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// Guest tests for Unlock and Lock against the real dm-crypt of the VM's
// kernel. Images are made in the guest by cryptsetup (the reference), with
// the cheapest KDF so the slow emulated CPU spends its time on the code
// under test.

func ulCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func ulRun(t *testing.T, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func ulFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

// ulPattern is deterministic data to write through one mapping and read
// back through the other.
func ulPattern(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func ulReadDev(t *testing.T, dev string, n int) []byte {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, 0); err != nil {
		t.Fatalf("read %s: %v", dev, err)
	}
	return b
}

func ulWriteDev(t *testing.T, dev string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, 0); err != nil {
		t.Fatalf("write %s: %v", dev, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// ulTable is `dmsetup table --showkeys NAME` with the backing device
// field replaced, so mappings of one image through different loop devices
// compare equal.
//
// cryptsetup loads LUKS2 volume keys through the kernel keyring, so its
// table names a key (":64:logon:cryptsetup:…"); that field is replaced by
// the volume key cryptsetup dumps for the device, vkHex.
func ulTable(t *testing.T, name, vkHex string) string {
	f := strings.Fields(ulRun(t, nil, "dmsetup", "table", "--showkeys", name))
	if len(f) > 6 {
		f[6] = "DEV"
		if strings.HasPrefix(f[4], ":") {
			f[4] = vkHex
		}
	}
	return strings.Join(f, " ")
}

// ulVolumeKey is the volume key in hex as cryptsetup dumps it.
func ulVolumeKey(t *testing.T, dev string, pass []byte) string {
	out := ulRun(t, pass, "cryptsetup", "luksDump", "--dump-volume-key", "-q", "--key-file", "-", dev)
	m := mkDumpRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no volume key in luksDump output: %s", out)
	}
	return strings.Join(strings.Fields(m[1]), "")
}

func ulDMUUID(t *testing.T, name string) string {
	return ulRun(t, nil, "dmsetup", "info", "-c", "--noheadings", "-o", "uuid", name)
}

// ulLoopsGone waits up to 30 s for the loop devices backed by img to
// detach and returns what `losetup -j` still lists then. Autoclear detaches
// on the last close, and udevd may still hold the device open probing it
// for the change events of its attach: on a slow guest that can outlast
// the mapping, so the detach comes a moment after Lock.
func ulLoopsGone(ctx context.Context, img string) []byte {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		out, _ := exec.Command("losetup", "-j", img).CombinedOutput()
		if out = bytes.TrimSpace(out); len(out) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return out
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestGuestUnlockMapping opens LUKS2 xts and LUKS1 cbc-essiv volumes (and
// others) with Unlock and checks the mapping against cryptsetup's own:
// same dm table, same plaintext; then idempotence, a name clash, a held
// mapping, a read-only mapping and Lock.
func TestGuestUnlockMapping(t *testing.T) {
	vmtest.Guest(t)
	for _, tc := range []struct {
		name   string
		format []string
		loop   bool // open through losetup rather than the image file
		noRO   bool // luks.go fallback: no read-only mappings
	}{
		{"luks2-xts-argon2id", []string{"--type", "luks2", "--cipher", "aes-xts-plain64", "--key-size", "512", "--pbkdf", "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "64", "--pbkdf-parallel", "4"}, false, false},
		{"luks1-cbc-essiv", []string{"--type", "luks1", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256", "--hash", "sha1", "--pbkdf-force-iterations", "1000"}, true, false},
		{"luks1-cbc-plain64", []string{"--type", "luks1", "--cipher", "aes-cbc-plain64", "--key-size", "128", "--hash", "sha512", "--pbkdf-force-iterations", "1000"}, false, false},
		{"luks2-sha3-via-luks.go", []string{"--type", "luks2", "--cipher", "aes-xts-plain64", "--key-size", "256", "--hash", "sha3-256", "--pbkdf", "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1"}, false, true},
		{"luks2-essiv-4k", []string{"--type", "luks2", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256", "--sector-size", "4096", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := ulCtx(t)
			pass := []byte("guest " + tc.name)
			img := ulFile(t, t.TempDir(), "vol.img", 24<<20)
			ulRun(t, pass, "cryptsetup", append(append([]string{"luksFormat", "-q", "--key-file", "-"}, tc.format...), img)...)
			dev := img
			if tc.loop {
				dev = ulRun(t, nil, "losetup", "-f", "--show", img)
				t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })
			}

			// The reference: cryptsetup's mapping, its table and plaintext.
			want := ulPattern(256 << 10)
			ulRun(t, pass, "cryptsetup", "open", "--key-file", "-", dev, "ref")
			vk := ulVolumeKey(t, dev, pass)
			refTable := ulTable(t, "ref", vk)
			refUUID := ulDMUUID(t, "ref")
			ulWriteDev(t, "/dev/mapper/ref", want)
			ulRun(t, nil, "cryptsetup", "close", "ref")

			m, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: pass, Slot: AnySlot}, Name: "ref"})
			if err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			if m.Name != "ref" || m.Path != "/dev/mapper/ref" || m.Slot != 0 || m.Device != dev {
				t.Errorf("mapping %+v", m)
			}
			// udevd runs here: the path is its link, not a node Unlock
			// made after giving up on udev.
			if fi, err := os.Lstat(m.Path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Errorf("%s is not udev's link (%v): Unlock did not wait for udev", m.Path, err)
			}
			if raw := strings.Fields(ulRun(t, nil, "dmsetup", "table", "--showkeys", "ref")); !tc.noRO && !strings.HasPrefix(raw[4], ":") {
				t.Errorf("volume key spelled out in the dm table (%.8s…), not passed through the kernel keyring", raw[4])
			}
			if got := ulTable(t, "ref", vk); got != refTable {
				t.Errorf("dm table\n got %s\nwant %s (cryptsetup's)", got, refTable)
			}
			if got := ulDMUUID(t, "ref"); got != refUUID {
				t.Errorf("dm uuid %s, cryptsetup's %s", got, refUUID)
			}
			if got := ulReadDev(t, m.Path, len(want)); !bytes.Equal(got, want) {
				t.Errorf("plaintext through our mapping differs from what cryptsetup's mapping wrote")
			}

			// Idempotent: the same device again, under any name, is the
			// open mapping, without a key check.
			again, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: []byte("not even the key"), Slot: AnySlot}, Name: "other"})
			if err != nil || again.Name != "ref" || again.Slot != -1 {
				t.Errorf("second Unlock: %+v, %v; want the open mapping", again, err)
			}
			if om, err := OpenMappingFor(dev); err != nil || om == nil || om.Name != "ref" || om.UUID != m.UUID {
				t.Errorf("OpenMappingFor: %+v, %v", om, err)
			}

			// The name is taken by this device: another volume is ErrBusy.
			other := ulFile(t, t.TempDir(), "other.img", 24<<20)
			ulRun(t, []byte("o"), "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "-", other)
			if _, err := Unlock(ctx, other, &UnlockOptions{Key: Key{Passphrase: []byte("o"), Slot: AnySlot}, Name: "ref"}); !errors.Is(err, ErrBusy) {
				t.Errorf("name clash: %v, want ErrBusy", err)
			}

			// Held open: Lock says busy and leaves the mapping.
			held, err := os.Open(m.Path)
			if err != nil {
				t.Fatal(err)
			}
			if err := Lock(ctx, "ref"); !errors.Is(err, ErrBusy) {
				t.Errorf("Lock while held: %v, want ErrBusy", err)
			}
			held.Close()
			if err := Lock(ctx, "ref"); err != nil {
				t.Fatalf("Lock: %v", err)
			}
			if _, err := os.Stat(m.Path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there after Lock: %v", m.Path, err)
			}
			if err := Lock(ctx, "ref"); !errors.Is(err, ErrNoDevice) {
				t.Errorf("second Lock: %v, want ErrNoDevice", err)
			}
			if om, err := OpenMappingFor(dev); err != nil || om != nil {
				t.Errorf("OpenMappingFor after Lock: %+v, %v", om, err)
			}
			if !tc.loop {
				// Our own loop device had autoclear and went with the mapping.
				if out := ulLoopsGone(ctx, img); len(out) != 0 {
					t.Errorf("loop device left behind: %s", out)
				}
			}

			if tc.noRO {
				_, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: pass, Slot: AnySlot}, ReadOnly: true})
				if !errors.Is(err, ErrUnsupported) {
					t.Errorf("read-only through luks.go: %v, want ErrUnsupported", err)
				}
				return
			}
			// Read-only, with the default name.
			ro, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: pass, Slot: AnySlot}, ReadOnly: true})
			if err != nil {
				t.Fatalf("read-only Unlock: %v", err)
			}
			if ro.Name != DefaultMappingName(ro.UUID) {
				t.Errorf("default name %q, want %q", ro.Name, DefaultMappingName(ro.UUID))
			}
			if f, err := os.OpenFile(ro.Path, os.O_WRONLY, 0); err == nil {
				if _, err := f.WriteAt(want[:4096], 0); err == nil {
					t.Errorf("wrote to the read-only mapping")
				}
				f.Close()
			}
			if got := ulReadDev(t, ro.Path, len(want)); !bytes.Equal(got, want) {
				t.Errorf("plaintext through the read-only mapping differs")
			}
			if err := Lock(ctx, ro.Name); err != nil {
				t.Fatalf("Lock read-only: %v", err)
			}
		})
	}
}

// TestGuestUnlockWrongKeyChangesNothing: a wrong key creates no mapping
// and no loop device.
func TestGuestUnlockWrongKeyChangesNothing(t *testing.T) {
	vmtest.Guest(t)
	ctx := ulCtx(t)
	img := ulFile(t, t.TempDir(), "vol.img", 24<<20)
	ulRun(t, []byte("right"), "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "-", img)
	before := ulRun(t, nil, "dmsetup", "ls")
	if _, err := Unlock(ctx, img, &UnlockOptions{Key: Key{Passphrase: []byte("wrong"), Slot: AnySlot}}); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("got %v, want ErrWrongKey", err)
	}
	if after := ulRun(t, nil, "dmsetup", "ls"); after != before {
		t.Errorf("dmsetup ls changed:\n%s\n->\n%s", before, after)
	}
	if out, _ := exec.Command("losetup", "-j", img).CombinedOutput(); len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("loop device left: %s", out)
	}
}

// ulMounts lists the mounts of source and of key directories.
func ulMounts(t *testing.T, source string) []string {
	ms, err := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) {
		return i.Source != source && !strings.Contains(i.Mountpoint, "extdrive-key-"), false
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.Source+" on "+m.Mountpoint)
	}
	return out
}

// TestGuestKeyOnUSBStick: the key file sits on a hot-plugged USB stick
// named by UUID. Unlock mounts it read-only, reads the key and unmounts it
// before returning, also on error; nothing is left in mountinfo or /run.
func TestGuestKeyOnUSBStick(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ulCtx(t)
	tmp := t.TempDir()

	// The stick: ext4 with the key (0400), a world-readable key and a
	// symlink that points outside the stick.
	const stickUUID = "5710c4e1-0000-4000-8000-00000000beef"
	content := filepath.Join(tmp, "content")
	os.MkdirAll(filepath.Join(content, "keys"), 0o700)
	key := ulPattern(4096)
	os.WriteFile(filepath.Join(content, "keys/drive.key"), key, 0o400)
	os.WriteFile(filepath.Join(content, "keys/loose.key"), key, 0o644)
	hostSecret := filepath.Join(tmp, "host.key")
	os.WriteFile(hostSecret, key, 0o600)
	os.Symlink(hostSecret, filepath.Join(content, "keys/escape.key"))
	stick := ulFile(t, m.SharedDir(), "stick.img", 8<<20)
	ulRun(t, nil, "mkfs.ext4", "-q", "-U", stickUUID, "-L", "KEYSTICK", "-d", content, stick)

	vol := ulFile(t, tmp, "vol.img", 24<<20)
	keyOnHost := filepath.Join(tmp, "k")
	os.WriteFile(keyOnHost, key, 0o600)
	ulRun(t, nil, "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-force-iterations", "4", "--pbkdf-memory", "32", "--pbkdf-parallel", "1", "--key-file", keyOnHost, vol)

	// Absent stick: ErrNoKeyDevice after the timeout.
	_, err := Unlock(ctx, vol, &UnlockOptions{Test: true, Key: Key{File: "/keys/drive.key", FileDevice: "UUID=" + stickUUID, DeviceTimeout: time.Second, Slot: AnySlot}})
	if !errors.Is(err, ErrNoKeyDevice) {
		t.Fatalf("no stick: %v, want ErrNoKeyDevice", err)
	}

	dev, err := m.PlugUSB(ctx, "keystick", stick)
	if err != nil {
		t.Fatal(err)
	}
	before := ulMounts(t, dev)

	for _, tc := range []struct {
		file string
		want error
	}{
		{"/keys/loose.key", ErrUnsafeKeyFile},
		{"/keys/escape.key", ErrNoKeyDevice}, // resolved inside the stick: no such file
		{"/keys/missing.key", ErrNoKeyDevice},
		{"keys/drive.key", nil},
	} {
		mp, err := Unlock(ctx, vol, &UnlockOptions{Name: "fromstick", Key: Key{File: tc.file, FileDevice: "UUID=" + stickUUID, DeviceTimeout: 30 * time.Second, Slot: AnySlot}})
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %v, want %v", tc.file, err, tc.want)
		}
		if err == nil && mp.Path != "/dev/mapper/fromstick" {
			t.Errorf("%s: mapping %+v", tc.file, mp)
		}
		if ms, _ := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) { return i.Source != dev, false }); len(ms) != 0 {
			t.Errorf("%s: stick still mounted at %s", tc.file, ms[0].Mountpoint)
		}
		if after := ulMounts(t, dev); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("%s: mounts changed:\n%v\n->\n%v", tc.file, before, after)
		}
		if left, _ := filepath.Glob("/run/extdrive-key-*"); len(left) != 0 {
			t.Errorf("%s: temporary directories left: %v", tc.file, left)
		}
	}
	if err := Lock(ctx, "fromstick"); err != nil {
		t.Errorf("Lock: %v", err)
	}
	// Nothing holds the stick: it can go.
	if err := m.Unplug(ctx, "keystick"); err != nil {
		t.Errorf("Unplug: %v", err)
	}
}

// TestGuestUnlockDetachedHeader: crypttab's header= form. The data
// device has no header; the mapping must match cryptsetup's.
func TestGuestUnlockDetachedHeader(t *testing.T) {
	vmtest.Guest(t)
	ctx := ulCtx(t)
	dir := t.TempDir()
	data := ulFile(t, dir, "data.img", 8<<20)
	hdr := filepath.Join(dir, "hdr.img") // cryptsetup creates it
	pass := []byte("detached")
	ulRun(t, pass, "cryptsetup", "luksFormat", "-q", "--type", "luks2", "--header", hdr, "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", "-", data)
	dev := ulRun(t, nil, "losetup", "-f", "--show", data)
	t.Cleanup(func() { exec.Command("losetup", "-d", dev).Run() })

	// Without the header the device is not LUKS at all.
	if _, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: pass, Slot: AnySlot}, Name: "det"}); !errors.Is(err, ErrNotLUKS) {
		t.Errorf("no header: %v, want ErrNotLUKS", err)
	}

	want := ulPattern(64 << 10)
	ulRun(t, pass, "cryptsetup", "open", "--header", hdr, "--key-file", "-", dev, "det")
	vk := ulVolumeKey(t, hdr, pass)
	refTable := ulTable(t, "det", vk)
	ulWriteDev(t, "/dev/mapper/det", want)
	ulRun(t, nil, "cryptsetup", "close", "det")

	m, err := Unlock(ctx, dev, &UnlockOptions{Key: Key{Passphrase: pass, Slot: AnySlot}, Name: "det", Header: hdr})
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if got := ulTable(t, "det", vk); got != refTable {
		t.Errorf("dm table\n got %s\nwant %s (cryptsetup's)", got, refTable)
	}
	if got := ulReadDev(t, m.Path, len(want)); !bytes.Equal(got, want) {
		t.Errorf("plaintext differs from what cryptsetup's mapping wrote")
	}
	if err := Lock(ctx, "det"); err != nil {
		t.Fatal(err)
	}
}

// TestGuestKeyOnFATStick: the usual key stick is FAT, which has no
// permission bits; the key is read with owner-only file modes and the
// stick is released afterwards.
func TestGuestKeyOnFATStick(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := ulCtx(t)
	tmp := t.TempDir()
	key := ulPattern(512)

	stick := ulFile(t, m.SharedDir(), "fat.img", 16<<20)
	ulRun(t, nil, "mkfs.vfat", "-i", "1234ABCD", "-n", "KEYS", stick)
	mnt := filepath.Join(tmp, "mnt")
	os.Mkdir(mnt, 0o700)
	ulRun(t, nil, "mount", "-t", "vfat", "-o", "loop,iocharset=utf8", stick, mnt)
	os.MkdirAll(filepath.Join(mnt, "extdrive"), 0o700)
	err := os.WriteFile(filepath.Join(mnt, "extdrive", "backup.key"), key, 0o600)
	ulRun(t, nil, "umount", mnt)
	if err != nil {
		t.Fatal(err)
	}

	vol := ulFile(t, tmp, "vol.img", 24<<20)
	keyOnHost := filepath.Join(tmp, "k")
	os.WriteFile(keyOnHost, key, 0o600)
	ulRun(t, nil, "cryptsetup", "luksFormat", "-q", "--type", "luks1", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256", "--hash", "sha1", "--pbkdf-force-iterations", "1000", "--key-file", keyOnHost, vol)

	dev, err := m.PlugUSB(ctx, "fatstick", stick)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKeyFileSpec("/extdrive/backup.key:UUID=1234-ABCD")
	if err != nil {
		t.Fatal(err)
	}
	mp, err := Unlock(ctx, vol, &UnlockOptions{Test: true, Key: k})
	if err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if mp.Slot != 0 {
		t.Errorf("slot %d", mp.Slot)
	}
	if ms, _ := mountinfo.GetMounts(func(i *mountinfo.Info) (bool, bool) { return i.Source != dev, false }); len(ms) != 0 {
		t.Errorf("stick still mounted at %s", ms[0].Mountpoint)
	}
	if err := m.Unplug(ctx, "fatstick"); err != nil {
		t.Errorf("Unplug: %v", err)
	}
}
