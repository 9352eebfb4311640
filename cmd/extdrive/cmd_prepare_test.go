package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPrepareRefusesBadInput covers what can be refused on the host; the
// unsafe-disk refusals on real block devices run in the VM
// (provision_vm_test.go) and on a fake sysfs (luksdrive/provision).
func TestPrepareRefusesBadInput(t *testing.T) {
	img := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o600)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no name", []string{"prepare", "--key-stick", "LABEL=KEYS", "/dev/sdz"}, exitUsage, "--name is required"},
		{"no key place", []string{"prepare", "--name", "A", "/dev/sdz"}, exitUsage, "say where the key file goes"},
		{"relative host key", []string{"prepare", "--name", "A", "--key-file", "a.key", "/dev/sdz"}, exitUsage, "must be an absolute path"},
		{"relative stick key", []string{"prepare", "--name", "A", "--key-stick", "LABEL=K", "--key-file", "a.key", "/dev/sdz"}, exitUsage, "from the root of the key stick"},
		{"bad kdf", []string{"prepare", "--name", "A", "--key-file", "/a.key", "--pbkdf", "md5", "/dev/sdz"}, exitUsage, `--pbkdf "md5"`},
		{"bad size", []string{"prepare", "--name", "A", "--key-file", "/a.key", "--min-size", "lots", "/dev/sdz"}, exitUsage, "bad size"},
		{"two disks", []string{"prepare", "--name", "A", "--key-file", "/a.key", "/dev/sdy", "/dev/sdz"}, exitUsage, "takes 1 argument"},
		{"missing disk", []string{"prepare", "--name", "A", "--key-file", "/a.key", "/dev/sdzz9"}, exitNoDevice, "/dev/sdzz9 does not exist"},
		{"image file", []string{"prepare", "--name", "A", "--key-file", "/a.key", img}, exitNotWholeDisk, "is not a block device"},
		{"character device", []string{"prepare", "--name", "A", "--key-file", "/a.key", "/dev/null"}, exitNotWholeDisk, "/dev/null is not a block device"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.msg) || strings.Count(errOut, "\n") != 1 {
				t.Errorf("exit %d, stderr %q (stdout %q); want exit %d saying %q", code, errOut, out, tt.code, tt.msg)
			}
		})
	}
	if b, _ := os.ReadFile(img); len(b) != 1<<20 || strings.Trim(string(b), "\x00") != "" {
		t.Error("the image was written to")
	}
}

func TestPrepareConfigCheckedFirst(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(cfg, []byte("[[source]]\npath = \"/srv\"\n[[drive]]\nname = \"A\"\nuuid = \"0b0e2a77-1111-4222-8333-944455556666\"\nkey = \"prompt\"\n"), 0o600)
	// The name clash is reported before the disk is even looked at.
	code, _, errOut := runCLI(t, "", "--config", cfg, "prepare", "--name", "A", "--key-file", "/a.key", "/dev/sdzz9")
	if code != exitDuplicate || !strings.Contains(errOut, `drive name "A" is already used`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	os.WriteFile(cfg, []byte("[[source]\n"), 0o600)
	if code, _, errOut = runCLI(t, "", "--config", cfg, "prepare", "--name", "B", "--key-file", "/a.key", "/dev/sdzz9"); code != exitConfig {
		t.Errorf("broken config: exit %d, stderr %q", code, errOut)
	}
}
