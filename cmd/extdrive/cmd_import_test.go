package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/config"
)

const importFixtures = "../../testdata/crypttab/"

func TestImportSeed002(t *testing.T) {
	code, out, errOut := runCLI(t, "", "import", "--crypttab", importFixtures+"seed-002.crypttab", "--fstab", importFixtures+"seed-002.fstab")
	if code != 0 {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{
		"seed-002.crypttab:4: skipped: md0_crypt: system volume mounted at /",
		"seed-002.crypttab:5: mapped: drive extbackup, UUID 9b2e4f71-6c3d-4a8e-b5f0-1d7c3e9a2b64, key /root/exthdd.key, mount point /extbackup",
		"seed-002.crypttab:7: skipped: swap: not a LUKS drive (option swap)",
		`seed-002.fstab:4: mapped: mount point /extbackup of drive "extbackup"`,
		"Run again with --write to add 2 drive(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestImportBrokenLines(t *testing.T) {
	code, out, errOut := runCLI(t, "", "import", "--crypttab", importFixtures+"broken.crypttab", "--fstab", importFixtures+"broken.fstab", "--write")
	if code != exitUnmappable {
		t.Fatalf("exit %d, want %d; stderr %s", code, exitUnmappable, errOut)
	}
	if !strings.Contains(out, "broken.crypttab:2: invalid: only a name") || !strings.Contains(out, "broken.crypttab:9: unmappable: bypath: device /dev/sdb1") {
		t.Errorf("output:\n%s", out)
	}
	if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, "12 line(s) above; nothing written") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestImportWrite(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.toml")
	args := []string{"import", "--crypttab", importFixtures + "seed-003-filled.crypttab", "--fstab", importFixtures + "seed-003-filled.fstab", "--write"}

	// No config yet: it is created with the drive, and the user is told
	// to add sources.
	code, out, errOut := runCLI(t, "", append([]string{"--config", cfgPath}, args...)...)
	if code != 0 || !strings.Contains(out, "securebackup: added to "+cfgPath) || !strings.Contains(out, "Now add your [[source]] directories") {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	b, _ := os.ReadFile(cfgPath)
	os.WriteFile(cfgPath, append([]byte("# mine\n[[source]]\npath = \"/srv/data\"\n\n"), b...), 0o600)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := cfg.Drive("securebackup")
	if !ok || d.UUID != "0e5c6a2b-94d1-4f3a-8b7e-2c1d9f0a6e58" || d.Key != "/file:UUID=4c7f2e19-0b3d-4a6e-9c58-e1f2a3b4c5d6" || d.MountPoint != "/media/secure" || d.Mapping != "securebackup" {
		t.Errorf("drive %+v", d)
	}

	// Two more drives into the existing file, in one write, comments kept.
	code, out, errOut = runCLI(t, "", "--config", cfgPath, "import", "--crypttab", importFixtures+"seed-002.crypttab", "--fstab", importFixtures+"seed-002.fstab", "--write")
	if code != 0 || !strings.Contains(out, "extbackup: added") || !strings.Contains(out, "extbackup2: added") || strings.Contains(out, "Now add") {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	if cfg, err = config.Load(cfgPath); err != nil || len(cfg.Drives) != 3 {
		t.Fatalf("after the second import: %v, %d drives", err, len(cfg.Drives))
	}
	if b, _ := os.ReadFile(cfgPath); !strings.HasPrefix(string(b), "# mine\n") {
		t.Error("the user's comment was lost")
	}

	// Again: idempotent.
	before, _ := os.ReadFile(cfgPath)
	code, out, _ = runCLI(t, "", append([]string{"--config", cfgPath}, args...)...)
	if code != 0 || !strings.Contains(out, "securebackup: already in") {
		t.Errorf("second import: exit %d\n%s", code, out)
	}
	if after, _ := os.ReadFile(cfgPath); string(after) != string(before) {
		t.Error("second import changed the config")
	}

	// The same name for another UUID: refused, nothing written.
	other := filepath.Join(dir, "other.crypttab")
	os.WriteFile(other, []byte("securebackup UUID=1e5c6a2b-94d1-4f3a-8b7e-2c1d9f0a6e58 none\n"), 0o600)
	code, _, errOut = runCLI(t, "", "--config", cfgPath, "import", "--crypttab", other, "--fstab", "", "--write")
	if code != exitDuplicate || !strings.Contains(errOut, `drive name "securebackup" is already used`) {
		t.Errorf("conflict: exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(cfgPath); string(after) != string(before) {
		t.Error("a refused import changed the config")
	}
}

func TestImportMissingFile(t *testing.T) {
	code, _, errOut := runCLI(t, "", "import", "--crypttab", filepath.Join(t.TempDir(), "nope"))
	if code != exitFailure || !strings.Contains(errOut, "no such file") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, _ = runCLI(t, "", "import", "extra")
	if code != exitUsage {
		t.Errorf("extra argument: exit %d, want %d", code, exitUsage)
	}
}
