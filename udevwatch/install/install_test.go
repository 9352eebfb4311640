package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Tricky inputs for the escaping rules: spaces, dashes, slashes,
// backslashes, non-ASCII, leading dots, duplicate and trailing slashes.
var escapeInputs = []string{
	"/dev/disk/by-uuid/12345678-1234-1234-1234-123456789abc",
	"/dev/disk/by-label/My Backup",
	"/mnt/backup drive/-x-",
	"/srv/.hidden/.dot",
	"//a//b/",
	"/a/./b/.",
	"/",
	"/./",
	"/media/Sauvegarde Été/ü",
	`/back\slash`,
	"/tab\there",
	"/a:b_c.d",
	"/a/b..c",
	"/x/%i/$VAR",
	".hidden",
	"-leading-dash",
	"dashed-name",
	"üñí",
	"a b",
}

func systemdEscape(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("systemd-escape"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-escape is missing (Debian package systemd)")
		}
		t.Skip("systemd-escape not installed")
	}
	var stdout bytes.Buffer
	// "--" keeps inputs with a leading dash from being read as options.
	flags, in := args[:len(args)-1], args[len(args)-1]
	cmd := exec.Command("systemd-escape", append(append(flags[:len(flags):len(flags)], "--"), in)...)
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return strings.TrimSuffix(stdout.String(), "\n")
}

func TestEscapeMatchesSystemd(t *testing.T) {
	for _, in := range escapeInputs {
		want := systemdEscape(t, in)
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, systemd-escape says %q", in, got, want)
		}
	}
}

func TestEscapePathMatchesSystemd(t *testing.T) {
	for _, in := range escapeInputs {
		want := systemdEscape(t, "--path", in)
		got, err := EscapePath(in)
		if err != nil || got != want {
			t.Errorf("EscapePath(%q) = %q, %v; systemd-escape --path says %q", in, got, err, want)
		}
	}
}

func TestEscapePathRefusesDotDot(t *testing.T) {
	for _, in := range []string{"/..", "/a/../b", "../x"} {
		if _, err := EscapePath(in); !errors.Is(err, ErrBadPath) {
			t.Errorf("EscapePath(%q) error = %v, want ErrBadPath", in, err)
		}
		// systemd-escape refuses these too.
		if err := exec.Command("systemd-escape", "--path", "--", in).Run(); err == nil {
			t.Errorf("systemd-escape --path %q succeeded; EscapePath is stricter than systemd", in)
		}
	}
}

// The instance name scheme relies on this identity: the template writes
// dev-disk-by\x2duuid-%i.device and gets the by-uuid link's device unit.
func TestInstanceMatchesDeviceUnit(t *testing.T) {
	uuid := "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
	want := systemdEscape(t, "--path", "/dev/disk/by-uuid/"+uuid) + ".device"
	inst := strings.TrimSuffix(strings.TrimPrefix(InstanceUnit(uuid), "extdrive@"), ".service")
	if got := `dev-disk-by\x2duuid-` + inst + ".device"; got != want {
		t.Errorf("template device unit = %q, systemd-escape says %q", got, want)
	}
	if got, _ := DeviceUnit("/dev/disk/by-uuid/" + uuid); got != want {
		t.Errorf("DeviceUnit = %q, want %q", got, want)
	}
}

var testDrives = []Drive{
	{Name: "offsite-a", UUID: "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0"},
	{Name: "offsite-b", UUID: "11111111-2222-3333-4444-555555555555"},
}

func TestPlanRule(t *testing.T) {
	files, err := Plan(&Options{Drives: testDrives})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range files {
		paths = append(paths, f.Path)
	}
	if diff := cmp.Diff([]string{RulePath, UnitPath, FailureUnitPath}, paths); diff != "" {
		t.Errorf("planned files (-want +got):\n%s", diff)
	}
	var rules []string
	for _, l := range strings.Split(string(files[0].Data), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	want := []string{
		`ACTION!="remove", SUBSYSTEM=="block", ENV{ID_FS_TYPE}=="crypto_LUKS", ENV{ID_FS_UUID}=="0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", TAG+="systemd", ENV{SYSTEMD_WANTS}+="extdrive@0f1e2d3c\x2d4b5a\x2d6978\x2d8796\x2da5b4c3d2e1f0.service"`,
		`ACTION!="remove", SUBSYSTEM=="block", ENV{ID_FS_TYPE}=="crypto_LUKS", ENV{ID_FS_UUID}=="11111111-2222-3333-4444-555555555555", TAG+="systemd", ENV{SYSTEMD_WANTS}+="extdrive@11111111\x2d2222\x2d3333\x2d4444\x2d555555555555.service"`,
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("udev rules (-want +got):\n%s", diff)
	}
	// rotate exits 22 when the drive plugged in is not due; systemd must
	// not count that as a failure and start the OnFailure= unit.
	if unit := string(files[1].Data); !strings.Contains(unit, "\nSuccessExitStatus=22\n") {
		t.Errorf("job unit lacks SuccessExitStatus=22:\n%s", unit)
	}
}

func TestPlanRejects(t *testing.T) {
	for name, o := range map[string]Options{
		"no drives":     {},
		"bad uuid":      {Drives: []Drive{{Name: "x", UUID: `1234", RUN+="/bin/sh`}}},
		"short uuid":    {Drives: []Drive{{Name: "x", UUID: "1234-5678"}}},
		"duplicate":     {Drives: []Drive{{Name: "x", UUID: testDrives[0].UUID}, {Name: "y", UUID: strings.ToLower(testDrives[0].UUID)}}},
		"relative exec": {Drives: testDrives, Exec: "extdrive"},
		"exec spaces":   {Drives: testDrives, Exec: "/opt/my tools/extdrive"},
		"config %":      {Drives: testDrives, ConfigPath: "/etc/%i.toml"},
	} {
		if _, err := Plan(&o); !errors.Is(err, ErrBadDrive) {
			t.Errorf("%s: Plan error = %v, want ErrBadDrive", name, err)
		}
	}
}

// tree lists the regular files under root with their contents.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m["/"+rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestInstallUninstall(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	// Someone else's rule in the same directory must survive everything.
	foreign := filepath.Join(root, "etc/udev/rules.d/50-other.rules")
	os.MkdirAll(filepath.Dir(foreign), 0o755)
	os.WriteFile(foreign, []byte("# not ours\n"), 0o644)

	opts := &Options{Root: root, Drives: testDrives, LEDRule: `SUBSYSTEM=="hidraw", ATTRS{idVendor}=="20a0", GROUP="plugdev", MODE="0660"`}
	files, err := Install(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := tree(t, root)
	for _, f := range files {
		if got[f.Path] != string(f.Data) {
			t.Errorf("%s not written as planned", f.Path)
		}
	}
	if _, ok := got[ManifestPath]; !ok {
		t.Fatal("no manifest written")
	}
	// Installing again over our own unchanged files works, and dropping
	// the LED rule removes it.
	opts.LEDRule = ""
	if _, err := Install(ctx, opts); err != nil {
		t.Fatalf("reinstall: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, LEDRulePath)); !os.IsNotExist(err) {
		t.Errorf("LED rule left behind after reinstall without it: %v", err)
	}
	removed, err := Uninstall(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{RulePath, UnitPath, FailureUnitPath}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"/etc/udev/rules.d/50-other.rules": "# not ours\n"}, tree(t, root)); diff != "" {
		t.Errorf("tree after uninstall (-want +got):\n%s", diff)
	}
	if _, err := Uninstall(ctx, root); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("second uninstall error = %v, want ErrNotInstalled", err)
	}
}

func TestInstallRefusesForeignFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	unit := filepath.Join(root, UnitPath)
	os.MkdirAll(filepath.Dir(unit), 0o755)
	os.WriteFile(unit, []byte("[Service]\nExecStart=/bin/mine\n"), 0o644)
	before := tree(t, root)
	if _, err := Install(ctx, &Options{Root: root, Drives: testDrives}); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Install over a foreign unit: error = %v, want ErrNotOurs", err)
	}
	if diff := cmp.Diff(before, tree(t, root)); diff != "" {
		t.Errorf("refused install changed the tree (-want +got):\n%s", diff)
	}
}

func TestUninstallRefusesEditedFile(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	if _, err := Install(ctx, &Options{Root: root, Drives: testDrives}); err != nil {
		t.Fatal(err)
	}
	rule := filepath.Join(root, RulePath)
	b, _ := os.ReadFile(rule)
	os.WriteFile(rule, append(b, "# local tweak\n"...), 0o644)
	before := tree(t, root)
	if _, err := Uninstall(ctx, root); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Uninstall with an edited rule: error = %v, want ErrNotOurs", err)
	}
	if _, err := Install(ctx, &Options{Root: root, Drives: testDrives}); !errors.Is(err, ErrNotOurs) {
		t.Fatalf("Install over an edited rule: error = %v, want ErrNotOurs", err)
	}
	if diff := cmp.Diff(before, tree(t, root)); diff != "" {
		t.Errorf("refused uninstall changed the tree (-want +got):\n%s", diff)
	}
}

func TestUninstallRejectsHostileManifest(t *testing.T) {
	root := t.TempDir()
	victim := filepath.Join(root, "etc/passwd")
	os.MkdirAll(filepath.Dir(victim), 0o755)
	os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644)
	m := filepath.Join(root, ManifestPath)
	os.MkdirAll(filepath.Dir(m), 0o755)
	os.WriteFile(m, []byte(`{"version":1,"files":[{"path":"/etc/passwd","sha256":"`+sum([]byte("root:x:0:0\n"))+`"}]}`), 0o644)
	if _, err := Uninstall(context.Background(), root); !errors.Is(err, ErrBadManifest) {
		t.Fatalf("error = %v, want ErrBadManifest", err)
	}
	if _, err := os.Stat(victim); err != nil {
		t.Errorf("uninstall removed a file the manifest had no business listing: %v", err)
	}
}

// The generated units must load cleanly: systemd-analyze verify prints
// every problem (and still exits 0 for most), so any output fails.
func TestUnitsVerify(t *testing.T) {
	if _, err := exec.LookPath("systemd-analyze"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("systemd-analyze is missing (Debian package systemd)")
		}
		t.Skip("systemd-analyze not installed")
	}
	root := t.TempDir()
	exe, err := exec.LookPath("true") // ExecStart= must name an executable
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Install(context.Background(), &Options{Root: root, Drives: testDrives, Exec: exe}); err != nil {
		t.Fatal(err)
	}
	inst := InstanceUnit(testDrives[0].UUID)
	dir := filepath.Join(root, filepath.Dir(UnitPath))
	for _, unit := range []string{inst, strings.Replace(inst, "extdrive@", "extdrive-failed@", 1)} {
		out, err := exec.Command("systemd-analyze", "verify", filepath.Join(dir, unit)).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", unit, err, out)
		}
	}
}
