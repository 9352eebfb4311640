package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs one extdrive command line in-process.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	// --config points at a file that does not exist unless a test makes
	// it, so the host's /etc/extdrive never leaks into a test.
	args = append([]string{"--config", filepath.Join(t.TempDir(), "none.toml")}, args...)
	code = run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func devNeedTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed", name)
		}
		t.Skipf("%s not installed", name)
	}
}

func devSh(t *testing.T, name string, args ...string) {
	t.Helper()
	devNeedTool(t, name)
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func devFile(t *testing.T, path string, data []byte, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// luksFixture is a LUKS2 image made by cryptsetup whose keyslot 0 takes
// key file "key" and keyslot 1 the passphrase "correct horse".
type luksFixture struct {
	dir, img, key, pass string
}

const fixtureUUID = "6c1d7a52-3b0e-4f7e-8a91-d4c2e5f60b18"

func newLUKSFixture(t *testing.T) *luksFixture {
	t.Helper()
	dir := t.TempDir()
	f := &luksFixture{dir: dir, img: filepath.Join(dir, "drive.img")}
	f.key = devFile(t, filepath.Join(dir, "key"), []byte("binary\x00key\n"), 0o600)
	f.pass = devFile(t, filepath.Join(dir, "pass"), []byte("correct horse\n"), 0o600)
	devFile(t, f.img, nil, 0o600)
	if err := os.Truncate(f.img, 4<<20); err != nil {
		t.Fatal(err)
	}
	cheap := []string{"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"}
	devSh(t, "cryptsetup", append([]string{"luksFormat", "-q", "--batch-mode", "--type", "luks2", "--key-file", f.key,
		"--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m", "--uuid", fixtureUUID}, append(cheap, f.img)...)...)
	// Key slot 1: the passphrase, without the newline, as typed.
	devFile(t, filepath.Join(dir, "typed"), []byte("correct horse"), 0o600)
	devSh(t, "cryptsetup", append([]string{"luksAddKey", "-q", "--batch-mode", "--key-file", f.key, f.img, filepath.Join(dir, "typed")}, cheap...)...)
	return f
}

// TestUnlockTestMode runs `unlock --test` on an image file (no
// device-mapper needed) with every key source and every bad input, and
// checks the exit code and the one-line message of each.
func TestUnlockTestMode(t *testing.T) {
	f := newLUKSFixture(t)
	before, err := os.ReadFile(f.img)
	if err != nil {
		t.Fatal(err)
	}
	loose := devFile(t, filepath.Join(f.dir, "loose.key"), []byte("binary\x00key\n"), 0o644)
	zero := filepath.Join(f.dir, "zero.img")
	devFile(t, zero, make([]byte, 1<<20), 0o600)
	corrupt := filepath.Join(f.dir, "corrupt.img")
	devFile(t, corrupt, append([]byte("LUKS\xba\xbe\x00\x02"), make([]byte, 600)...), 0o600)
	wrong := devFile(t, filepath.Join(f.dir, "wrong.key"), []byte("nope"), 0o600)

	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		out     string // substring of stdout
		errLine string // substring of the one stderr line
	}{
		{"key file", "", []string{"--key-file", f.key, f.img}, exitOK, "key accepted for " + f.img, ""},
		{"key file slot 0", "", []string{"--key-file", f.key, "--key-slot", "0", f.img}, exitOK, "key accepted", ""},
		{"key file wrong slot", "", []string{"--key-file", f.key, "--key-slot", "1", f.img}, exitWrongKey, "", "no keyslot accepts"},
		{"passphrase on stdin", "correct horse\n", []string{f.img}, exitOK, "key accepted", ""},
		{"passphrase file", "", []string{"--passphrase-file", f.pass, f.img}, exitOK, "key accepted", ""},
		{"key file offset and size", "", []string{"--key-file", f.pass, "--keyfile-size", "13", f.img}, exitOK, "key accepted", ""},
		{"wrong passphrase", "correct horse battery\n", []string{f.img}, exitWrongKey, "", "no keyslot accepts this key"},
		{"wrong key file", "", []string{"--key-file", wrong, f.img}, exitWrongKey, "", "no keyslot accepts"},
		{"world-readable key file", "", []string{"--key-file", loose, f.img}, exitUnsafeKeyFile, "", "chmod"},
		{"missing device", "", []string{"--key-file", f.key, filepath.Join(f.dir, "absent.img")}, exitNoDevice, "", "device not found"},
		{"absent UUID", "", []string{"--key-file", f.key, "UUID=00000000-0000-4000-8000-000000000000"}, exitNoDevice, "", "device not found"},
		{"not LUKS", "", []string{"--key-file", f.key, zero}, exitNotLUKS, "", "not a LUKS device"},
		{"corrupt header", "", []string{"--key-file", f.key, corrupt}, exitCorruptHeader, "", "corrupt"},
		{"key device absent", "", []string{"--key-file", "/k:UUID=00000000-0000-4000-8000-00000000000a", "--key-timeout", "10ms", f.img}, exitNoKeyDevice, "", "key device"},
		{"bad spec", "", []string{"--key-file", f.key, "SERIAL=x"}, exitBadSpec, "", "unknown key SERIAL="},
		{"empty passphrase", "\n", []string{f.img}, exitUsage, "", "empty passphrase"},
		{"two key sources", "", []string{"--key-file", f.key, "--passphrase-file", f.pass, f.img}, exitUsage, "", "either --key-file or --passphrase-file"},
		{"no device", "", []string{"--key-file", f.key}, exitUsage, "", "takes 1 argument"},
		{"test and mount", "", []string{"--mount", f.dir, f.img}, exitUsage, "", "cannot --mount"},
		{"bad flag", "", []string{"--key-slot", "x", f.img}, exitUsage, "", "invalid argument"},
		{"unknown drive name", "", []string{"--key-file", f.key, "offsite-A"}, exitNoConfig, "", "configuration file not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--quiet", "unlock", "--test"}, tc.args...)
			code, out, errOut := runCLI(t, tc.stdin, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout %q does not contain %q", out, tc.out)
			}
			if tc.code != exitOK {
				lines := strings.Split(strings.TrimSpace(errOut), "\n")
				last := lines[len(lines)-1]
				if !strings.HasPrefix(last, "extdrive: ") || !strings.Contains(last, tc.errLine) {
					t.Errorf("error line %q does not contain %q", last, tc.errLine)
				}
			}
		})
	}
	after, err := os.ReadFile(f.img)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("unlock --test changed the image")
	}
}

// TestUnlockNoDeviceMapper: without --test the host (no dm-mod) must say
// device-mapper is missing, with its own exit code.
func TestUnlockNoDeviceMapper(t *testing.T) {
	// The node can exist without the driver (it does on the build
	// machines); only an open that works means device-mapper is there.
	if f, err := os.OpenFile("/dev/mapper/control", os.O_RDWR, 0); err == nil {
		f.Close()
		t.Skip("this host has device-mapper; the VM tests cover real unlocking")
	}
	f := newLUKSFixture(t)
	code, _, errOut := runCLI(t, "", "--quiet", "unlock", "--key-file", f.key, f.img)
	if code != exitNoDM || !strings.Contains(errOut, "device-mapper not available") {
		t.Fatalf("exit %d (%s), want %d naming device-mapper", code, errOut, exitNoDM)
	}
}

func TestHelp(t *testing.T) {
	for _, c := range []string{"unlock", "mount", "umount", "lock", "status"} {
		code, out, _ := runCLI(t, "", c, "--help")
		if code != exitOK || !strings.Contains(out, "Usage:\n  extdrive "+c) {
			t.Errorf("%s --help: exit %d\n%s", c, code, out)
		}
	}
}
