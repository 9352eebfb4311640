package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/udevwatch/install"
)

const (
	watchUUIDA = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	watchUUIDB = "1f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
)

// watchConfig writes a two-drive configuration for the watch, install
// and handle-event tests.
func watchConfig(t *testing.T) string {
	path, _ := testConfig(t, `[[drive]]
name = "offsite-a"
uuid = "`+watchUUIDA+`"
key = "/etc/extdrive/a.key"
[[drive]]
name = "offsite-b"
uuid = "`+watchUUIDB+`"
key = "/etc/extdrive/b.key"
`)
	return path
}

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

// listTree maps each regular file under root to its content.
func listTree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			rel, _ := filepath.Rel(root, p)
			m["/"+rel] = string(b)
		}
		return err
	})
	return m
}

func TestInstallCommand(t *testing.T) {
	cfg := watchConfig(t)
	root := t.TempDir()
	exe, err := exec.LookPath("true") // systemd-analyze wants an executable ExecStart
	if err != nil {
		t.Fatal(err)
	}

	code, out, errs := runCmd(t, "--config", cfg, "install", "--dry-run", "--root", root, "--exec", exe, "--led-group", "plugdev")
	if code != exitOK {
		t.Fatalf("install --dry-run: exit %d: %s", code, errs)
	}
	if len(listTree(t, root)) != 0 {
		t.Errorf("--dry-run wrote files: %v", listTree(t, root))
	}
	for _, want := range []string{install.InstanceUnit(watchUUIDA), install.InstanceUnit(watchUUIDB), `GROUP="plugdev"`, exe + " --config " + cfg + " rotate %I"} {
		if !strings.Contains(out, want) {
			t.Errorf("--dry-run output lacks %q:\n%s", want, out)
		}
	}

	code, out, errs = runCmd(t, "--config", cfg, "install", "--root", root, "--exec", exe, "--led-group", "plugdev")
	if code != exitOK {
		t.Fatalf("install: exit %d: %s", code, errs)
	}
	got := listTree(t, root)
	want := []string{install.FailureUnitPath, install.UnitPath, install.RulePath, install.LEDRulePath, install.ManifestPath}
	var paths []string
	for p := range got {
		paths = append(paths, p)
	}
	if diff := cmp.Diff(want, paths, sortStrings); diff != "" {
		t.Errorf("installed files (-want +got):\n%s", diff)
	}
	if !strings.Contains(out, "wrote "+filepath.Join(root, install.RulePath)) {
		t.Errorf("install output does not list the rule:\n%s", out)
	}

	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		unit := filepath.Join(root, filepath.Dir(install.UnitPath), install.InstanceUnit(watchUUIDA))
		if out, err := exec.Command("systemd-analyze", "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("systemd-analyze missing (Debian package systemd)")
	}

	code, out, errs = runCmd(t, "uninstall", "--root", root)
	if code != exitOK {
		t.Fatalf("uninstall: exit %d: %s", code, errs)
	}
	if n := strings.Count(out, "removed "); n != 4 {
		t.Errorf("uninstall removed %d files, want 4:\n%s", n, out)
	}
	if left := listTree(t, root); len(left) != 0 {
		t.Errorf("left after uninstall: %v", left)
	}
}

var sortStrings = cmp.Transformer("sort", func(in []string) []string {
	out := append([]string(nil), in...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
})

func TestInstallCommandRefusals(t *testing.T) {
	cfg := watchConfig(t)
	badUUID := filepath.Join(t.TempDir(), "bad.toml")
	b, _ := os.ReadFile(cfg)
	os.WriteFile(badUUID, bytes.Replace(b, []byte(watchUUIDA), []byte("not-a-uuid"), 1), 0o600)

	foreign := t.TempDir()
	unit := filepath.Join(foreign, install.UnitPath)
	os.MkdirAll(filepath.Dir(unit), 0o755)
	os.WriteFile(unit, []byte("[Service]\nExecStart=/usr/local/bin/mine\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"foreign unit", []string{"--config", cfg, "install", "--root", foreign, "--exec", "/bin/true"}, exitNotOurs, "not written by extdrive install"},
		{"nothing installed", []string{"uninstall", "--root", t.TempDir()}, exitNotInstalled, "nothing installed"},
		{"relative exec", []string{"--config", cfg, "install", "--root", t.TempDir(), "--exec", "bin/extdrive"}, exitBadInstall, "absolute path"},
		{"bad group", []string{"--config", cfg, "install", "--root", t.TempDir(), "--led-group", `x", RUN+="/bin/sh`}, exitUsage, "not a valid group"},
		{"no config", []string{"--config", filepath.Join(t.TempDir(), "none.toml"), "install", "--root", t.TempDir()}, exitNoConfig, ""},
		{"stray argument", []string{"--config", cfg, "install", "now"}, exitUsage, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := listTree(t, foreign)
			code, _, errs := runCmd(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errs)
			}
			if strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, tc.msg) {
				t.Errorf("stderr %q: want one line containing %q", errs, tc.msg)
			}
			if diff := cmp.Diff(before, listTree(t, foreign)); diff != "" {
				t.Errorf("refused command changed files (-want +got):\n%s", diff)
			}
		})
	}
	// A UUID that is no UUID is refused already by the configuration.
	if code, _, _ := runCmd(t, "--config", badUUID, "install", "--root", t.TempDir()); code == exitOK {
		t.Error("install accepted a drive with a malformed UUID")
	}
}
