package provision

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive"
)

// These tests run the real cryptsetup on LUKS2 image files: adding and
// killing keyslots, tokens and header backups need no device-mapper.

var fastKDF = KDF{Type: "pbkdf2", Iterations: 1000}

const imgUUID = "5e1f0c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b"

func needCryptsetup(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("cryptsetup"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("cryptsetup not installed")
		}
		t.Skip("cryptsetup not installed")
	}
}

// luksImage makes a 32 MiB LUKS2 image with pass in keyslot 0.
func luksImage(t *testing.T, pass string) string {
	t.Helper()
	needCryptsetup(t)
	img := filepath.Join(t.TempDir(), "drive.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Truncate(img, 32<<20)
	cmd := exec.Command("cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--key-file", "-",
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--uuid", imgUUID, "--key-slot", "0", img)
	cmd.Stdin = strings.NewReader(pass)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("luksFormat: %v\n%s", err, out)
	}
	return img
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

// opens reports which keyslot k opens, through luksdrive's own unlock
// (test mode): the key the token points at must open the slot it names.
func opens(t *testing.T, img string, k luksdrive.Key) (int, error) {
	t.Helper()
	m, err := luksdrive.Unlock(ctx(t), img, &luksdrive.UnlockOptions{Key: k, Test: true})
	if err != nil {
		return -1, err
	}
	return m.Slot, nil
}

func TestEnrollKeyFileAndPassphrase(t *testing.T) {
	img := luksImage(t, "recovery words")
	keyPath := filepath.Join(t.TempDir(), "keys", "drive.key")
	var cmds []string
	got, err := Enroll(ctx(t), img, &EnrollOptions{
		Key:        luksdrive.Key{Passphrase: []byte("recovery words"), Slot: luksdrive.AnySlot},
		NewKeyFile: keyPath,
		KDF:        fastKDF,
		OnCommand:  func(argv []string) { cmds = append(cmds, strings.Join(argv[:2], " ")) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := &Enrolled{Slot: 1, Key: keyPath, Token: &luksdrive.KeyfileToken{Keyslot: 1, KeyFile: keyPath}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"cryptsetup luksDump", "cryptsetup luksAddKey", "cryptsetup token"}, cmds); diff != "" {
		t.Errorf("commands announced (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o400 || fi.Size() != KeyFileSize {
		t.Fatalf("key file: %v, mode %v, size %d; want 0400, %d bytes", err, fi.Mode().Perm(), fi.Size(), KeyFileSize)
	}
	toks, err := luksdrive.ReadKeyfileTokens(img)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]luksdrive.KeyfileToken{{Keyslot: 1, KeyFile: keyPath}}, toks); diff != "" {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
	if slot, err := opens(t, img, luksdrive.Key{File: keyPath, Slot: luksdrive.AnySlot}); err != nil || slot != 1 {
		t.Errorf("key file opens slot %d, %v; want 1", slot, err)
	}

	// A passphrase, authorized by the new key file, goes to slot 2.
	got, err = Enroll(ctx(t), img, &EnrollOptions{
		Key:           luksdrive.Key{File: keyPath, Slot: luksdrive.AnySlot},
		NewPassphrase: []byte("second passphrase"),
		KDF:           fastKDF,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Slot != 2 || got.Token != nil {
		t.Errorf("passphrase enrolled as %+v, want slot 2 and no token", got)
	}
	if slot, err := opens(t, img, luksdrive.Key{Passphrase: []byte("second passphrase"), Slot: luksdrive.AnySlot}); err != nil || slot != 2 {
		t.Errorf("second passphrase opens slot %d, %v; want 2", slot, err)
	}
	if slot, err := opens(t, img, luksdrive.Key{Passphrase: []byte("recovery words"), Slot: luksdrive.AnySlot}); err != nil || slot != 0 {
		t.Errorf("recovery passphrase opens slot %d, %v; want 0", slot, err)
	}
}

func TestEnrollRefusals(t *testing.T) {
	img := luksImage(t, "pw")
	existing := filepath.Join(t.TempDir(), "existing.key")
	os.WriteFile(existing, []byte("someone else's key"), 0o400)
	tests := []struct {
		name string
		dev  string
		opts *EnrollOptions
		want error
		msg  string
	}{
		{"wrong existing key", img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("nope")}, NewKeyFile: filepath.Join(t.TempDir(), "k"), KDF: fastKDF}, ErrStepFailed, "No key available with this passphrase"},
		{"key file exists", img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewKeyFile: existing, KDF: fastKDF}, ErrExists, "may be the key to another drive"},
		{"relative host path", img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewKeyFile: "drive.key"}, nil, "needs an absolute path"},
		{"both new keys", img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewKeyFile: "/k", NewPassphrase: []byte("x")}, nil, "exactly one of"},
		{"passphrase by passphrase", img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewPassphrase: []byte("x")}, nil, "authorize a new passphrase with a key file"},
		{"no existing key", img, &EnrollOptions{NewPassphrase: []byte("x")}, nil, "no existing key"},
		{"not LUKS", existing, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewPassphrase: []byte("x")}, luksdrive.ErrNotLUKS, ""},
		{"missing device", existing + ".gone", &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewPassphrase: []byte("x")}, luksdrive.ErrNoDevice, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(img)
			_, err := Enroll(ctx(t), tt.dev, tt.opts)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Enroll = %v, want %v saying %q", err, tt.want, tt.msg)
			}
			after, _ := os.ReadFile(img)
			if string(before) != string(after) {
				t.Error("the image changed although Enroll failed")
			}
		})
	}
	if b, _ := os.ReadFile(existing); string(b) != "someone else's key" {
		t.Error("an existing key file was overwritten")
	}
}

func TestRemoveKey(t *testing.T) {
	img := luksImage(t, "pw")
	keyPath := filepath.Join(t.TempDir(), "drive.key")
	if _, err := Enroll(ctx(t), img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewKeyFile: keyPath, KDF: fastKDF}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveKey(ctx(t), img, &RemoveOptions{Slot: 5}); !errors.Is(err, ErrKeyslot) || !strings.Contains(err.Error(), "keyslot 5 is not in use (active: [0 1])") {
		t.Errorf("remove unused slot: %v", err)
	}
	if err := RemoveKey(ctx(t), img, &RemoveOptions{Slot: 1}); err != nil {
		t.Fatal(err)
	}
	if toks, _ := luksdrive.ReadKeyfileTokens(img); len(toks) != 0 {
		t.Errorf("tokens after removing their slot: %+v", toks)
	}
	if _, err := opens(t, img, luksdrive.Key{File: keyPath, Slot: luksdrive.AnySlot}); !errors.Is(err, luksdrive.ErrWrongKey) {
		t.Errorf("removed key file still opens: %v", err)
	}
	before, _ := os.ReadFile(img)
	err := RemoveKey(ctx(t), img, &RemoveOptions{Slot: 0})
	if !errors.Is(err, ErrKeyslot) || !strings.Contains(err.Error(), "keyslot 0 is the last one") {
		t.Errorf("remove last slot: %v", err)
	}
	if after, _ := os.ReadFile(img); string(before) != string(after) {
		t.Error("the image changed although the last keyslot was refused")
	}
	if slot, err := opens(t, img, luksdrive.Key{Passphrase: []byte("pw"), Slot: luksdrive.AnySlot}); err != nil || slot != 0 {
		t.Errorf("passphrase after refused removal: slot %d, %v", slot, err)
	}
}

func TestHeaderBackup(t *testing.T) {
	img := luksImage(t, "pw")
	dir := filepath.Join(t.TempDir(), "headers")
	now := time.Date(2026, 11, 22, 4, 30, 0, 0, time.UTC)
	hb, err := BackupHeader(ctx(t), img, dir, &BackupOptions{Name: "offsite", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	wantFile := filepath.Join(dir, "offsite-"+imgUUID+"-20261122T043000Z.luksheader")
	if hb.File != wantFile || hb.UUID != imgUUID || hb.Size != 16<<20 || len(hb.SHA256) != 64 {
		t.Errorf("backup %+v", hb)
	}
	sums, _ := os.ReadFile(filepath.Join(dir, ChecksumFile))
	if want := hb.SHA256 + "  " + filepath.Base(wantFile) + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}
	// sha256sum -c agrees, so the copy can be checked without extdrive.
	if sum, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command(sum, "-c", ChecksumFile)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("sha256sum -c: %v\n%s", err, out)
		}
	}
	// The same second again: refused, nothing overwritten.
	if _, err := BackupHeader(ctx(t), img, dir, &BackupOptions{Name: "offsite", Now: func() time.Time { return now }}); !errors.Is(err, ErrExists) {
		t.Errorf("second backup in the same second: %v, want ErrExists", err)
	}

	// A key change makes the old backup stale.
	if _, err := Enroll(ctx(t), img, &EnrollOptions{Key: luksdrive.Key{Passphrase: []byte("pw")}, NewKeyFile: filepath.Join(t.TempDir(), "k"), KDF: fastKDF}); err != nil {
		t.Fatal(err)
	}
	if err := VerifyHeaderBackup(hb.File, img); !errors.Is(err, ErrHeaderVerify) || !strings.Contains(err.Error(), "keys changed since?") {
		t.Errorf("verify after a key change: %v", err)
	}
	hb2, err := BackupHeader(ctx(t), img, dir, &BackupOptions{Name: "offsite", Now: func() time.Time { return now.Add(time.Second) }})
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyHeaderBackup(hb2.File, img); err != nil {
		t.Errorf("fresh backup: %v", err)
	}
	sums, _ = os.ReadFile(filepath.Join(dir, ChecksumFile))
	if n := strings.Count(string(sums), "\n"); n != 2 {
		t.Errorf("SHA256SUMS has %d lines, want 2:\n%s", n, sums)
	}

	// A wrong checksum line is caught.
	os.WriteFile(filepath.Join(dir, ChecksumFile), []byte(strings.Repeat("0", 64)+"  "+filepath.Base(hb2.File)+"\n"), 0o600)
	if err := VerifyHeaderBackup(hb2.File, img); !errors.Is(err, ErrHeaderVerify) || !strings.Contains(err.Error(), "SHA256SUMS says 0000") {
		t.Errorf("verify with a bad checksum: %v", err)
	}
	// Another drive's header does not verify against this one.
	other := luksImage(t, "pw")
	exec.Command("cryptsetup", "luksUUID", "--batch-mode", "--uuid", "6f2a1d3b-4c5e-4f70-9b1c-2d3e4f5a6b7c", other).Run()
	if err := VerifyHeaderBackup(hb2.File, other); !errors.Is(err, ErrHeaderVerify) || !strings.Contains(err.Error(), "header of LUKS UUID "+imgUUID) {
		t.Errorf("verify against another drive: %v", err)
	}
	// Not LUKS at all.
	plain := filepath.Join(t.TempDir(), "plain")
	os.WriteFile(plain, make([]byte, 1<<20), 0o600)
	if _, err := BackupHeader(ctx(t), plain, dir, nil); !errors.Is(err, luksdrive.ErrNotLUKS) {
		t.Errorf("backup of a blank file: %v, want ErrNotLUKS", err)
	}
}

func TestParseMetadata(t *testing.T) {
	js := `{"keyslots":{"0":{"type":"luks2"},"3":{"type":"luks2"},"1":{"type":"luks2"}},
	"tokens":{"1":{"type":"systemd-fido2","keyslots":["3"]},"0":{"type":"extdrive-keyfile","keyslots":["1"],"key_file":"/k"}},
	"segments":{},"digests":{},"config":{}}`
	got, err := parseMetadata([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	want := &slotInfo{Keyslots: []int{0, 1, 3}, Tokens: []tokenInfo{{ID: 0, Type: "extdrive-keyfile", Keyslots: []int{1}}, {ID: 1, Type: "systemd-fido2", Keyslots: []int{3}}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n, _ := got.freeSlot(); n != 2 {
		t.Errorf("freeSlot = %d, want 2", n)
	}
	if _, err := parseMetadata([]byte(`{"keyslots":{"x":{}}}`)); err == nil {
		t.Error("bad keyslot id accepted")
	}
}

func TestKeyPathIn(t *testing.T) {
	for in, want := range map[string]string{"/extdrive/a.key": "/mnt/s/extdrive/a.key", "/../../etc/shadow": "/mnt/s/etc/shadow", "/a/../b": "/mnt/s/b"} {
		if got, err := keyPathIn("/mnt/s", in); err != nil || got != want {
			t.Errorf("keyPathIn(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"rel/a.key", "/", "/.."} {
		if got, err := keyPathIn("/mnt/s", in); err == nil {
			t.Errorf("keyPathIn(%q) = %q, want an error", in, got)
		}
	}
}
