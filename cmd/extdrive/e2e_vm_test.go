//go:build vmguest

package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// The acceptance tests of issue 3: the extdrive binary (built by the
// harness) against a real kernel, real USB hot-plug and udev.

const (
	e2eLUKSUUID  = "7d3c1b2a-5e4f-4a6b-9c8d-0e1f2a3b4c5d"
	e2eFSUUID    = "8e4d2c3b-6f5a-4b7c-8d9e-1f2a3b4c5d6e"
	e2eStickUUID = "4b1d5eed-0000-4000-8000-00000000c0de"
)

func e2eCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// e2eRun runs a program in the guest and returns its combined output and
// exit code; it fails the test only if the program cannot be started.
func e2eRun(t *testing.T, name string, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), 0
}

func e2eMust(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, code := e2eRun(t, name, args...)
	if code != 0 {
		t.Fatalf("%s %s: exit %d\n%s", name, strings.Join(args, " "), code, out)
	}
	return out
}

// e2eDriveImage makes a LUKS2 drive (cryptsetup, keyslot 0 = keyFile)
// with ext4 inside. The work is done in the guest's tmpfs, where
// cryptsetup's keyslot I/O works, then copied to the shared directory for
// hot-plugging.
func e2eDriveImage(t *testing.T, m *vmtest.Machine, keyFile string) string {
	t.Helper()
	tmp := filepath.Join(t.TempDir(), "drive.img")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(tmp, 64<<20)
	e2eMust(t, "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", keyFile,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k",
		"--luks2-keyslots-size", "1m", "--uuid", e2eLUKSUUID, tmp)
	e2eMust(t, "cryptsetup", "open", "--key-file", keyFile, tmp, "e2e-prep")
	e2eMust(t, "mkfs.ext4", "-q", "-F", "-U", e2eFSUUID, "-L", "offsite", "/dev/mapper/e2e-prep")
	e2eMust(t, "cryptsetup", "close", "e2e-prep")
	return e2eShare(t, m, tmp, "drive.img")
}

// e2eStickImage makes a key stick holding keys/offsite.key (mode 0600).
// It is ext4, filled by mkfs.ext4 -d: the guest kernel has no FAT
// codepage module, so a FAT stick cannot be mounted there.
func e2eStickImage(t *testing.T, m *vmtest.Machine, key []byte) string {
	t.Helper()
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, "keys"), 0o700)
	if err := os.WriteFile(filepath.Join(root, "keys", "offsite.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "stick.img")
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(tmp, 8<<20)
	e2eMust(t, "mkfs.ext4", "-q", "-F", "-U", e2eStickUUID, "-L", "KEYS", "-d", root, tmp)
	return e2eShare(t, m, tmp, "stick.img")
}

func e2eShare(t *testing.T, m *vmtest.Machine, src, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(m.SharedDir(), t.Name()+"-"+name)
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dst) })
	return dst
}

func e2ePlug(t *testing.T, ctx context.Context, m *vmtest.Machine, id, img string) string {
	t.Helper()
	dev, err := m.PlugUSB(ctx, id, img)
	if err != nil {
		t.Fatalf("PlugUSB %s: %v", id, err)
	}
	t.Cleanup(func() { m.Unplug(context.Background(), id) })
	return dev
}

// mountLine returns the /proc/self/mountinfo line for target, or "".
func mountLine(t *testing.T, target string) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fields := strings.Fields(sc.Text()); len(fields) > 4 && fields[4] == target {
			return sc.Text()
		}
	}
	return ""
}

func mountinfoMentions(t *testing.T, s string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), s)
}

func dmLeft(t *testing.T) string {
	out := e2eMust(t, "dmsetup", "ls")
	if strings.Contains(out, "No devices found") {
		return ""
	}
	return strings.TrimSpace(out)
}

// TestGuestE2EKeyStick: drive and key stick hot-plugged; extdrive finds
// both by UUID, unlocks with the key file on the stick, mounts with
// nodev,nosuid,noexec, a file is written, then umount and lock leave no
// mapping behind.
func TestGuestE2EKeyStick(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	key := []byte("0123456789abcdef-offsite-key-material\n")
	keyTmp := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyTmp, key, 0o600)
	driveImg := e2eDriveImage(t, m, keyTmp)
	stickImg := e2eStickImage(t, m, key)
	os.Remove(keyTmp) // from here on the key exists only on the stick

	drive := e2ePlug(t, ctx, m, "drive", driveImg)
	stick := e2ePlug(t, ctx, m, "stick", stickImg)
	target := "/srv/backup"

	out, code := e2eRun(t, "extdrive", "unlock", "--key-file", "/keys/offsite.key:UUID="+e2eStickUUID,
		"--mount", target, "--create", "--sync", "--noatime", "UUID="+e2eLUKSUUID)
	if code != 0 {
		t.Fatalf("extdrive unlock: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "unlocked "+drive+" as /dev/mapper/luks-"+e2eLUKSUUID) || !strings.Contains(out, "mounted at "+target) {
		t.Errorf("unlock output:\n%s", out)
	}
	line := mountLine(t, target)
	if line == "" {
		t.Fatalf("%s not in /proc/self/mountinfo after unlock", target)
	}
	perMount := strings.Split(strings.Fields(line)[5], ",")
	for _, o := range []string{"nodev", "nosuid", "noexec", "noatime"} {
		if !contains(perMount, o) {
			t.Errorf("mount options %v lack %s", perMount, o)
		}
	}
	if !strings.Contains(line, " ext4 ") || !strings.Contains(line, "sync") {
		t.Errorf("mountinfo line %q: want ext4 with sync", line)
	}
	// The key stick was mounted only while the key was read.
	if mountinfoMentions(t, stick) {
		t.Errorf("the key stick %s is still mounted", stick)
	}

	// Idempotent: a second unlock changes nothing.
	out, code = e2eRun(t, "extdrive", "unlock", "--key-file", "/keys/offsite.key:UUID="+e2eStickUUID,
		"--mount", target, "--sync", "--noatime", "UUID="+e2eLUKSUUID)
	if code != 0 || !strings.Contains(out, "already unlocked") || !strings.Contains(out, "already mounted") {
		t.Errorf("second unlock: exit %d\n%s", code, out)
	}

	if out, code = e2eRun(t, "extdrive", "mount", "--check", "--sync", "--noatime", target); code != 0 {
		t.Errorf("mount --check on the unlocked drive: exit %d\n%s", code, out)
	}

	payload := []byte("backup of " + time.Now().String() + "\n")
	if err := os.WriteFile(filepath.Join(target, "hello.txt"), payload, 0o644); err != nil {
		t.Fatal(err)
	}
	out, code = e2eRun(t, "extdrive", "status", "UUID="+e2eLUKSUUID)
	if code != 0 || !strings.Contains(out, "mounted at "+target) {
		t.Errorf("status while mounted: exit %d\n%s", code, out)
	}

	if out, code = e2eRun(t, "extdrive", "umount", target); code != 0 {
		t.Fatalf("extdrive umount: exit %d\n%s", code, out)
	}
	if mountLine(t, target) != "" {
		t.Errorf("%s still mounted after umount", target)
	}
	if out, code = e2eRun(t, "extdrive", "lock", "UUID="+e2eLUKSUUID); code != 0 {
		t.Fatalf("extdrive lock: exit %d\n%s", code, out)
	}
	if left := dmLeft(t); left != "" {
		t.Errorf("dmsetup ls after lock shows: %s", left)
	}

	// The file reached the drive: open it with cryptsetup (the reference).
	os.WriteFile(keyTmp, key, 0o600)
	e2eMust(t, "cryptsetup", "open", "--readonly", "--key-file", keyTmp, drive, "e2e-check")
	mnt := filepath.Join(t.TempDir(), "check")
	os.Mkdir(mnt, 0o700)
	e2eMust(t, "mount", "-o", "ro", "/dev/mapper/e2e-check", mnt)
	got, err := os.ReadFile(filepath.Join(mnt, "hello.txt"))
	e2eMust(t, "umount", mnt)
	e2eMust(t, "cryptsetup", "close", "e2e-check")
	if err != nil || string(got) != string(payload) {
		t.Errorf("hello.txt on the drive: %q, %v; want %q", got, err, payload)
	}
}

// TestGuestE2EYank: the drive is pulled while a writer is busy on it.
// extdrive status reports the drive absent but still mounted, and
// extdrive lock (by UUID, with the device gone) removes the mount and the
// mapping.
func TestGuestE2EYank(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	keyFile := filepath.Join(t.TempDir(), "offsite.key")
	if err := os.WriteFile(keyFile, []byte("yank test key"), 0o600); err != nil {
		t.Fatal(err)
	}
	driveImg := e2eDriveImage(t, m, keyFile)
	e2ePlug(t, ctx, m, "drive", driveImg)
	target := "/srv/yank"
	if out, code := e2eRun(t, "extdrive", "unlock", "--key-file", keyFile, "--mount", target, "--create", "UUID="+e2eLUKSUUID); code != 0 {
		t.Fatalf("extdrive unlock: exit %d\n%s", code, out)
	}

	// A writer streaming onto the drive with synchronous writes, so the
	// yank hits it mid-write rather than the page cache.
	big, err := os.OpenFile(filepath.Join(target, "big"), os.O_CREATE|os.O_WRONLY|os.O_SYNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	written := make(chan int64, 1)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		var n int64
		for {
			k, err := big.Write(buf)
			n += int64(k)
			if n >= 256<<10 {
				select {
				case written <- n:
				default:
				}
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	select {
	case <-written:
	case err := <-done:
		t.Fatalf("the writer failed before the yank: %v", err)
	case <-ctx.Done():
		t.Fatal("the writer wrote nothing")
	}
	if err := m.Unplug(ctx, "drive"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		t.Logf("the writer stopped after the yank: %v", err)
	case <-ctx.Done():
		t.Fatal("the writer hangs after the yank")
	}

	// The writer's open file keeps the dead mount busy: extdrive must say
	// who holds it, and change nothing.
	out, code := e2eRun(t, "extdrive", "lock", "UUID="+e2eLUKSUUID)
	if code != exitBusy || !strings.Contains(out, "held by pid") {
		t.Errorf("lock with the writer's file open: exit %d, want %d naming the holder\n%s", code, exitBusy, out)
	}
	big.Close()

	out, code = e2eRun(t, "extdrive", "status", "UUID="+e2eLUKSUUID)
	if code != 0 || !strings.Contains(out, "absent, but still mounted at "+target) {
		t.Errorf("status after the yank: exit %d\n%s", code, out)
	}
	out, code = e2eRun(t, "extdrive", "lock", "UUID="+e2eLUKSUUID)
	if code != 0 {
		t.Fatalf("extdrive lock after the yank: exit %d\n%s", code, out)
	}
	if mountLine(t, target) != "" || mountinfoMentions(t, "luks-"+e2eLUKSUUID) {
		t.Error("a mount of the pulled drive is left in /proc/self/mountinfo")
	}
	if left := dmLeft(t); left != "" {
		t.Errorf("dmsetup ls after lock shows: %s", left)
	}
	out, code = e2eRun(t, "extdrive", "status", "UUID="+e2eLUKSUUID)
	if code != 0 || strings.TrimSpace(out) != "UUID="+e2eLUKSUUID+": absent" {
		t.Errorf("status after lock: exit %d %q", code, out)
	}
}

// TestGuestE2EAmbiguous: two sticks with the same label; naming them by
// LABEL= must fail with exit 16 and list both, touching neither.
func TestGuestE2EAmbiguous(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	var devs []string
	for i, uuid := range []string{"aaaaaaaa-0000-4000-8000-000000000001", "aaaaaaaa-0000-4000-8000-000000000002"} {
		tmp := filepath.Join(t.TempDir(), "twin.img")
		os.WriteFile(tmp, nil, 0o600)
		os.Truncate(tmp, 8<<20)
		e2eMust(t, "mkfs.ext4", "-q", "-F", "-U", uuid, "-L", "twin", tmp)
		id := "twin" + string(rune('0'+i))
		devs = append(devs, e2ePlug(t, ctx, m, id, e2eShare(t, m, tmp, id+".img")))
	}
	out, code := e2eRun(t, "extdrive", "mount", "--create", "LABEL=twin", "/srv/twin")
	if code != exitAmbiguous || !strings.Contains(out, devs[0]) || !strings.Contains(out, devs[1]) {
		t.Errorf("mount LABEL=twin with two such sticks: exit %d, want %d naming %v\n%s", code, exitAmbiguous, devs, out)
	}
	if mountinfoMentions(t, "/srv/twin") {
		t.Error("the refused mount left something mounted")
	}
	out, code = e2eRun(t, "extdrive", "status", "UUID=aaaaaaaa-0000-4000-8000-000000000002")
	if code != 0 || !strings.Contains(out, "present "+devs[1]) {
		t.Errorf("status by UUID: exit %d\n%s", code, out)
	}
}

// TestGuestE2EImage: the whole chain on a plain image file (the demo
// case): unlock attaches it, mounts, lock undoes everything, including
// the loop device.
func TestGuestE2EImage(t *testing.T) {
	vmtest.Guest(t)
	keyFile := filepath.Join(t.TempDir(), "image.key")
	if err := os.WriteFile(keyFile, []byte("image key"), 0o600); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "drive.img")
	os.WriteFile(img, nil, 0o600)
	os.Truncate(img, 32<<20)
	e2eMust(t, "cryptsetup", "luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", keyFile,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", img)
	e2eMust(t, "cryptsetup", "open", "--key-file", keyFile, img, "e2e-img-prep")
	e2eMust(t, "mkfs.ext4", "-q", "/dev/mapper/e2e-img-prep")
	e2eMust(t, "cryptsetup", "close", "e2e-img-prep")
	loopsBefore := e2eMust(t, "losetup", "-a")

	target := "/srv/image"
	for i := 0; i < 2; i++ {
		if out, code := e2eRun(t, "extdrive", "unlock", "--key-file", keyFile, "--mount", target, "--create", img); code != 0 {
			t.Fatalf("unlock #%d of an image file: exit %d\n%s", i+1, code, out)
		}
	}
	if n := strings.Count(readFile(t, "/proc/self/mountinfo"), " "+target+" "); n != 1 {
		t.Errorf("%d mounts at %s after two unlocks, want 1", n, target)
	}
	if out, code := e2eRun(t, "extdrive", "status", img); code != 0 || !strings.Contains(out, "mounted at "+target) {
		t.Errorf("status of the image: exit %d\n%s", code, out)
	}
	if out, code := e2eRun(t, "extdrive", "lock", img); code != 0 {
		t.Fatalf("lock of the image: exit %d\n%s", code, out)
	}
	if mountLine(t, target) != "" {
		t.Errorf("%s still mounted after lock", target)
	}
	if left := dmLeft(t); left != "" {
		t.Errorf("dmsetup ls after lock: %s", left)
	}
	if after := e2eMust(t, "losetup", "-a"); after != loopsBefore {
		t.Errorf("loop devices after lock:\n%s\nbefore:\n%s", after, loopsBefore)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
