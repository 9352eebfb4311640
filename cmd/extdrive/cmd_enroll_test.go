package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive"
)

func TestEnrollAndRemove(t *testing.T) {
	f := newLUKSFixture(t) // keyslot 0: key file, 1: "correct horse"
	newKey := filepath.Join(f.dir, "keys", "new.key")
	cheap := []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}

	code, out, errOut := runCLI(t, "", append([]string{"enroll", "--passphrase-file", f.pass, "--new-key-file", newKey, f.img}, cheap...)...)
	if code != 0 {
		t.Fatalf("enroll key file: exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "+ cryptsetup luksAddKey") || !strings.Contains(out, "Enrolled key file "+newKey+" in keyslot 2") {
		t.Errorf("stdout:\n%s", out)
	}
	toks, err := luksdrive.ReadKeyfileTokens(f.img)
	if err != nil || len(toks) != 1 || toks[0].Keyslot != 2 || toks[0].KeyFile != newKey {
		t.Errorf("tokens %+v, %v", toks, err)
	}
	// The new key file opens the drive (unlock --test), at its slot.
	code, out, errOut = runCLI(t, "", "unlock", "--test", "--key-file", newKey, f.img)
	if code != 0 {
		t.Errorf("unlock with the new key file: exit %d, %s %s", code, out, errOut)
	}

	// A passphrase piped on stdin, authorized by the key file.
	code, out, errOut = runCLI(t, "new words\n", append([]string{"enroll", "--key-file", f.key, "--new-passphrase", f.img}, cheap...)...)
	if code != 0 || !strings.Contains(out, "Enrolled the new passphrase in keyslot 3") {
		t.Fatalf("enroll passphrase: exit %d, stderr %s\n%s", code, errOut, out)
	}
	if code, _, errOut = runCLI(t, "new words\n", "unlock", "--test", f.img); code != 0 {
		t.Errorf("unlock with the new passphrase: exit %d, %s", code, errOut)
	}

	// The same key file path again: refused, not overwritten.
	before, _ := os.ReadFile(newKey)
	code, _, errOut = runCLI(t, "", append([]string{"enroll", "--passphrase-file", f.pass, "--new-key-file", newKey, f.img}, cheap...)...)
	if code != exitExists || !strings.Contains(errOut, "may be the key to another drive") {
		t.Errorf("existing key file: exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(newKey); string(after) != string(before) {
		t.Error("key file overwritten")
	}

	// Remove: an unused slot, then down to the last one.
	if code, _, errOut = runCLI(t, "", "enroll", "--remove", "--slot", "9", f.img); code != exitKeyslot || !strings.Contains(errOut, "keyslot 9 is not in use (active: [0 1 2 3])") {
		t.Errorf("remove unused: exit %d, stderr %q", code, errOut)
	}
	for _, s := range []string{"2", "3", "1"} {
		if code, _, errOut = runCLI(t, "", "enroll", "--remove", "--slot", s, f.img); code != 0 {
			t.Fatalf("remove slot %s: exit %d, %s", s, code, errOut)
		}
	}
	if toks, _ := luksdrive.ReadKeyfileTokens(f.img); len(toks) != 0 {
		t.Errorf("token left after its slot went: %+v", toks)
	}
	code, _, errOut = runCLI(t, "", "enroll", "--remove", "--slot", "0", f.img)
	if code != exitKeyslot || !strings.Contains(errOut, "keyslot 0 is the last one") {
		t.Errorf("remove last: exit %d, stderr %q", code, errOut)
	}
	if code, _, errOut = runCLI(t, "", "unlock", "--test", "--key-file", f.key, f.img); code != 0 {
		t.Errorf("the last key no longer opens: exit %d, %s", code, errOut)
	}
}

func TestEnrollUsage(t *testing.T) {
	for _, args := range [][]string{
		{"enroll", "x.img"},
		{"enroll", "--new-passphrase", "--new-key-file", "/k", "x.img"},
		{"enroll", "--remove", "x.img"},
		{"enroll", "--remove", "--slot", "1", "--new-passphrase", "x.img"},
		{"enroll", "--slot", "1", "--new-passphrase", "x.img"},
		{"enroll", "--key-stick", "LABEL=K", "--new-passphrase", "x.img"},
		{"enroll", "--key-file", "/a", "--passphrase-file", "/b", "--new-passphrase", "x.img"},
	} {
		if code, _, errOut := runCLI(t, "", args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d; stderr %q", args, code, exitUsage, errOut)
		}
	}
	// Wrong existing key: cryptsetup's failure, step named, exit 75.
	f := newLUKSFixture(t)
	code, _, errOut := runCLI(t, "wrong\n", "enroll", "--new-key-file", filepath.Join(f.dir, "n.key"), "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", f.img)
	if code != exitStepFailed || !strings.Contains(errOut, `step "enroll key file" failed`) {
		t.Errorf("wrong key: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(f.dir, "n.key")); err == nil {
		t.Error("key file left behind after a failed enroll")
	}
}
