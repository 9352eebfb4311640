//go:build vmguest

package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/probe"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// The acceptance test of issue 9: a blank USB disk and a blank USB stick
// become a backup drive and its key stick with `extdrive prepare`, and
// `extdrive rotate` then works with only the stick.

// provBlank makes a sparse blank image in the shared directory.
func provBlank(t *testing.T, m *vmtest.Machine, name string, size int64) string {
	t.Helper()
	p := filepath.Join(m.SharedDir(), t.Name()+"-"+name)
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p
}

// provExtdrive runs the extdrive binary with stdin and returns stdout,
// stderr and the exit code.
func provExtdrive(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("extdrive", args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("extdrive: %v", err)
	}
	return out.String(), errb.String(), 0
}

func provSum(t *testing.T, dev string, n int64) string {
	t.Helper()
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

var provCheapKDF = []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}

func TestGuestProvisionPrepareRotate(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	work := t.TempDir()
	disk := e2ePlug(t, ctx, m, "provdisk", provBlank(t, m, "disk.img", 160<<20))
	stick := e2ePlug(t, ctx, m, "provstick", provBlank(t, m, "stick.img", 16<<20))
	src := filepath.Join(work, "src")
	os.MkdirAll(src, 0o755)
	for i := range 3 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d.txt", i)), []byte(strings.Repeat("x", 1000*i)), 0o644)
	}
	cfg := filepath.Join(work, "config.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("state_dir = %q\nlog_dir = %q\n[[source]]\npath = %q\n", filepath.Join(work, "state"), filepath.Join(work, "log"), src)), 0o600)
	headers := filepath.Join(work, "headers")

	// Typed confirmation (the disk's kernel name), then the passphrase.
	name := filepath.Base(disk)
	out, errOut, code := provExtdrive(t, name+"\nrecovery words\n", append([]string{"--config", cfg, "prepare",
		"--name", "offsite", "--key-stick", stick, "--format-stick", "PROVKEYS", "--header-dir", headers, "--min-size", "128MiB"}, append(provCheapKDF, disk)...)...)
	t.Logf("prepare output:\n%s", out)
	if code != 0 {
		t.Fatalf("prepare: exit %d\nstderr: %s", code, errOut)
	}
	stickFS, err := probe.Device(stick)
	if err != nil || stickFS.Type != "ext4" || stickFS.Label != "PROVKEYS" {
		t.Fatalf("key stick after prepare: %+v, %v", stickFS, err)
	}
	e2eRun(t, "udevadm", "settle")
	for _, want := range []string{
		"Type " + name + " to erase it",
		"==> key stick\n+ mkfs.ext4 -q -L PROVKEYS " + stick,
		"==> partition\n+ sfdisk",
		"+ cryptsetup luksFormat --batch-mode --type luks2",
		"+ cryptsetup luksAddKey",
		"+ cryptsetup token import",
		"+ mkfs.ext4 -q -m 0 -L offsite",
		"+ cryptsetup luksHeaderBackup",
		"keyslot 1: key file /extdrive/offsite.key:UUID=" + stickFS.UUID,
		"added to " + cfg,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("prepare output lacks %q", want)
		}
	}
	if strings.Contains(out+errOut, "recovery words") {
		t.Error("the passphrase appears in the output")
	}
	part := disk + "1"
	res, err := probe.Device(part)
	if err != nil || res.Type != "crypto_LUKS" || res.Version != "2" {
		t.Fatalf("partition 1: %+v, %v", res, err)
	}

	// luksDump shows the token pointing at the key file's keyslot.
	dump := e2eMust(t, "cryptsetup", "luksDump", part)
	t.Logf("luksDump:\n%s", dump)
	if !strings.Contains(dump, "0: extdrive-keyfile\n\tKeyslot:    1\n") || !strings.Contains(dump, "  1: luks2") || !strings.Contains(dump, "  0: luks2") {
		t.Errorf("luksDump lacks the token on keyslot 1 or the two keyslots")
	}
	toks, err := luksdrive.ReadKeyfileTokens(part)
	if diff := cmp.Diff([]luksdrive.KeyfileToken{{Keyslot: 1, KeyFile: "/extdrive/offsite.key", KeyDevice: "UUID=" + stickFS.UUID}}, toks); diff != "" || err != nil {
		t.Errorf("tokens (-want +got):\n%s%v", diff, err)
	}
	// The key file opens exactly keyslot 1; the passphrase keyslot 0.
	mnt := t.TempDir()
	e2eMust(t, "mount", "-o", "ro", stick, mnt)
	fi, err := os.Stat(filepath.Join(mnt, "extdrive/offsite.key"))
	if err != nil || fi.Mode().Perm() != 0o400 || fi.Size() != 4096 {
		t.Errorf("key file on the stick: %v %v", fi, err)
	}
	e2eMust(t, "cryptsetup", "open", "--test-passphrase", "--key-slot", "1", "--key-file", filepath.Join(mnt, "extdrive/offsite.key"), part)
	e2eMust(t, "umount", mnt)

	// The header backup and its checksum.
	sums, err := os.ReadFile(filepath.Join(headers, "SHA256SUMS"))
	if err != nil || !strings.Contains(string(sums), "offsite-"+res.UUID+"-") {
		t.Errorf("SHA256SUMS: %q, %v", sums, err)
	}
	cmd := exec.Command("sha256sum", "-c", "SHA256SUMS")
	cmd.Dir = headers
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Logf("sha256sum -c (busybox may lack it): %v %s", err, o)
	}

	// rotate with only the key stick: no passphrase anywhere.
	out, errOut, code = provExtdrive(t, "", "--config", cfg, "rotate")
	if code != 0 {
		t.Fatalf("rotate: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(out, "offsite: copied 3 files") || !strings.Contains(out, "safe to unplug") {
		t.Errorf("rotate stdout %q", out)
	}

	// The same drive still opens with the recovery passphrase, in slot 0,
	// and through extdrive with the passphrase typed.
	cmd = exec.Command("cryptsetup", "open", "--test-passphrase", "--key-slot", "0", "--key-file", "-", part)
	cmd.Stdin = strings.NewReader("recovery words")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("recovery passphrase on keyslot 0: %v %s", err, o)
	}
	if out, errOut, code = provExtdrive(t, "recovery words\n", "unlock", "--test", part); code != 0 {
		t.Errorf("extdrive unlock --test with the passphrase: exit %d %s %s", code, out, errOut)
	}

	// header-backup of every configured drive finds this one by UUID.
	out, errOut, code = provExtdrive(t, "", "--config", cfg, "header-backup", filepath.Join(work, "h2"))
	if code != 0 || !strings.Contains(out, "verified against "+part) || !strings.Contains(out, "Keep a copy of") {
		t.Errorf("header-backup: exit %d\n%s\n%s", code, out, errOut)
	}

	// enroll a second key file on the same stick, then remove it again.
	out, errOut, code = provExtdrive(t, "recovery words\n", append([]string{"--config", cfg, "enroll", "--new-key-file", "/extdrive/spare.key", "--key-stick", "LABEL=PROVKEYS", "offsite"}, provCheapKDF...)...)
	if code != 0 || !strings.Contains(out, "in keyslot 2") {
		t.Fatalf("enroll: exit %d\n%s\n%s", code, out, errOut)
	}
	if toks, _ := luksdrive.ReadKeyfileTokens(part); len(toks) != 2 {
		t.Errorf("tokens after enroll: %+v", toks)
	}
	if out, errOut, code = provExtdrive(t, "", "--config", cfg, "enroll", "--remove", "--slot", "2", "offsite"); code != 0 {
		t.Errorf("enroll --remove: exit %d %s %s", code, out, errOut)
	}

	// Preparing the same disk again under another name: the drive's
	// name is taken in the config only if reused; a new name passes the
	// config check, but the stick already holds that key file path.
	before := provSum(t, disk, 4<<20)
	_, errOut, code = provExtdrive(t, "recovery words\n", append([]string{"--config", cfg, "prepare", "--yes", "--name", "offsite",
		"--key-stick", "LABEL=PROVKEYS", "--min-size", "128MiB"}, append(provCheapKDF, disk)...)...)
	if code != exitDuplicate {
		t.Errorf("prepare with a used name: exit %d, stderr %s", code, errOut)
	}
	_, errOut, code = provExtdrive(t, "recovery words\n", append([]string{"--config", cfg, "prepare", "--yes", "--name", "other",
		"--key-stick", "LABEL=PROVKEYS", "--key-file", "/extdrive/offsite.key", "--min-size", "128MiB"}, append(provCheapKDF, disk)...)...)
	if code != exitExists || !strings.Contains(errOut, "it may be the key to another drive") {
		t.Errorf("prepare onto an existing key file: exit %d, stderr %s", code, errOut)
	}
	// --format-stick never formats a stick that holds something.
	stickBefore := provSum(t, stick, 4<<20)
	_, errOut, code = provExtdrive(t, "recovery words\n", append([]string{"--config", cfg, "prepare", "--yes", "--name", "third",
		"--key-stick", stick, "--format-stick", "NEWKEYS", "--min-size", "128MiB"}, append(provCheapKDF, disk)...)...)
	if code != exitExists || !strings.Contains(errOut, "is not blank (holds ext4)") {
		t.Errorf("prepare formatting a used stick: exit %d, stderr %s", code, errOut)
	}
	if after := provSum(t, disk, 4<<20); after != before {
		t.Error("a refused prepare changed the disk")
	}
	if after := provSum(t, stick, 4<<20); after != stickBefore {
		t.Error("a refused prepare changed the key stick")
	}
}

// TestGuestProvisionRefusals runs prepare against every unsafe target on
// a real kernel; each refusal must leave the disk as it was.
func TestGuestProvisionRefusals(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	disk := e2ePlug(t, ctx, m, "provref", provBlank(t, m, "ref.img", 96<<20))
	cmd := exec.Command("sfdisk", "--quiet", disk)
	cmd.Stdin = strings.NewReader("label: gpt\nsize=40MiB, type=L\n")
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, o)
	}
	e2eRun(t, "udevadm", "settle")
	part := disk + "1"
	e2eMust(t, "mkfs.ext4", "-q", "-F", part)
	keyDir := t.TempDir()
	prep := func(stdin string, extra ...string) (string, int) {
		t.Helper()
		args := append([]string{"prepare", "--name", "ref", "--key-file", filepath.Join(keyDir, "k.key"), "--no-config", "--header-dir", ""}, provCheapKDF...)
		_, errOut, code := provExtdrive(t, stdin, append(args, extra...)...)
		return errOut, code
	}
	expect := func(what string, errOut string, code, wantCode int, msg string) {
		t.Helper()
		if code != wantCode || !strings.Contains(errOut, msg) || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%s: exit %d, stderr %q; want exit %d saying %q", what, code, errOut, wantCode, msg)
		}
	}
	before := provSum(t, disk, 8<<20)

	errOut, code := prep("", "--yes", part)
	expect("partition", errOut, code, exitNotWholeDisk, "is a partition of "+disk+"; give the whole disk")

	errOut, code = prep("", "--yes", disk)
	expect("too small", errOut, code, exitTooSmall, "less than the 1.0 GiB floor")

	mnt := t.TempDir()
	e2eMust(t, "mount", part, mnt)
	errOut, code = prep("", "--yes", "--min-size", "64MiB", disk)
	expect("mounted partition", errOut, code, exitInUse, part+" is mounted on "+mnt)
	e2eMust(t, "umount", mnt)

	os.MkdirAll("/boot", 0o755)
	e2eMust(t, "mount", "-o", "ro", part, "/boot")
	errOut, code = prep("", "--yes", "--min-size", "64MiB", disk)
	expect("boot disk", errOut, code, exitSystemDisk, disk+" is the disk under /boot")
	e2eMust(t, "umount", "/boot")

	// dm-crypt over the partition: held by an active mapping.
	keyFile := filepath.Join(keyDir, "luks.key")
	os.WriteFile(keyFile, []byte("0123456789abcdef"), 0o400)
	e2eMust(t, "cryptsetup", append([]string{"luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", keyFile}, append(provCheapKDF, part)...)...)
	e2eMust(t, "cryptsetup", "open", "--key-file", keyFile, part, "provref-open")
	errOut, code = prep("", "--yes", "--min-size", "64MiB", disk)
	expect("active mapping", errOut, code, exitInUse, "is part of the active mapping /dev/mapper/provref-open")
	e2eMust(t, "cryptsetup", "close", "provref-open")
	before = provSum(t, disk, 8<<20) // luksFormat above changed it on purpose

	errOut, code = prep("wrong\n", "--min-size", "64MiB", disk)
	expect("not confirmed", errOut, code, exitNotConfirmed, `you typed "wrong"`)

	if after := provSum(t, disk, 8<<20); after != before {
		t.Error("a refused prepare changed the disk")
	}
	if _, err := os.Stat(filepath.Join(keyDir, "k.key")); err == nil {
		t.Error("a refused prepare wrote the key file")
	}
}

// TestGuestProvisionLoop prepares a loop device (partitions need
// losetup -P) with the key file on the host, no config.
func TestGuestProvisionLoop(t *testing.T) {
	vmtest.Guest(t)
	img := filepath.Join(t.TempDir(), "loop.img")
	os.WriteFile(img, nil, 0o600)
	os.Truncate(img, 96<<20)
	loop := strings.TrimSpace(e2eMust(t, "losetup", "-P", "-f", "--show", img))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	keyFile := filepath.Join(t.TempDir(), "keys", "loop.key")
	headers := t.TempDir()
	out, errOut, code := provExtdrive(t, "loop passphrase\n", append([]string{"prepare", "--yes", "--name", "looped",
		"--key-file", keyFile, "--no-config", "--header-dir", headers, "--min-size", "64MiB"}, append(provCheapKDF, loop)...)...)
	if code != 0 {
		t.Fatalf("prepare %s: exit %d\n%s\n%s", loop, code, out, errOut)
	}
	part := loop + "p1"
	e2eMust(t, "cryptsetup", "open", "--test-passphrase", "--key-slot", "1", "--key-file", keyFile, part)
	toks, err := luksdrive.ReadKeyfileTokens(part)
	if diff := cmp.Diff([]luksdrive.KeyfileToken{{Keyslot: 1, KeyFile: keyFile}}, toks); diff != "" || err != nil {
		t.Errorf("tokens (-want +got):\n%s%v", diff, err)
	}
	// The filesystem is there with its label.
	e2eMust(t, "cryptsetup", "open", "--key-file", keyFile, part, "provloop")
	defer e2eRun(t, "cryptsetup", "close", "provloop")
	fs, err := probe.Device("/dev/mapper/provloop")
	if err != nil || fs.Type != "ext4" || fs.Label != "looped" {
		t.Errorf("filesystem %+v, %v", fs, err)
	}
}
