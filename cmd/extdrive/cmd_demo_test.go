//go:build linux

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// TestDemoTemplate: the embedded template is a valid configuration once
// the demo fills in the UUIDs, and an invalid one without them (so the
// demo cannot silently write a config that names no drive).
func TestDemoTemplate(t *testing.T) {
	p := demoParams{
		StateDir: "/tmp/d/state", LogDir: "/tmp/d/log", Source: "/tmp/d/source/documents",
		UUIDA:  "5b8f3a2e-1c4d-4e6f-9a0b-7c2d1e3f4a5b",
		UUIDB:  "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f",
		KeyA:   "/extdrive/offsite-a.key:UUID=3f9c2b1a-7d6e-4f5a-8b9c-0d1e2f3a4b5c",
		KeyB:   "/extdrive/offsite-b.key:UUID=3f9c2b1a-7d6e-4f5a-8b9c-0d1e2f3a4b5c",
		MountA: "/tmp/d/mnt/offsite-a", MountB: "/tmp/d/mnt/offsite-b",
		LED: true,
	}
	text, err := renderDemoConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse("demo.toml", text)
	if err != nil {
		t.Fatalf("filled template does not load: %v\n%s", err, text)
	}
	type drive struct{ Name, UUID, Key, MountPoint string }
	var got []drive
	for _, d := range cfg.Drives {
		got = append(got, drive{d.Name, d.UUID, d.Key, d.MountPoint})
	}
	want := []drive{
		{"offsite-a", p.UUIDA, p.KeyA, p.MountA},
		{"offsite-b", p.UUIDB, p.KeyB, p.MountB},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drives (-want +got):\n%s", diff)
	}
	type job struct {
		Mode    config.CopyMode
		Period  string
		Private bool
		LED     bool
		Source  string
	}
	gotJob := job{cfg.Copy.Mode, cfg.Schedule.Period.String(), cfg.PrivateMount, cfg.LED.Enabled, cfg.Sources[0].Path}
	wantJob := job{config.ModeSnapshot, "monthly", true, true, p.Source}
	if diff := cmp.Diff(wantJob, gotJob); diff != "" {
		t.Errorf("job settings (-want +got):\n%s", diff)
	}

	p.UUIDA, p.UUIDB = "", ""
	text, err = renderDemoConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse("demo.toml", text); !errors.Is(err, config.ErrInvalid) {
		t.Errorf("template without UUIDs: err = %v, want config.ErrInvalid", err)
	}
}

// runDemoCmd runs extdrive with args and returns the exit code, stdout
// and stderr.
func runDemoCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code := run(ctx, args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// wantOneLine checks a refusal: the exit code, a single stderr line
// containing each of wants, nothing on stdout and no work directory.
func wantOneLine(t *testing.T, dir string, code int, stdout, stderr string, wantCode int, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("exit %d, want %d; stderr %q", code, wantCode, stderr)
	}
	if strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", stderr)
	}
	for _, w := range wants {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr %q does not say %q", stderr, w)
		}
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing", stdout)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("%s was created by a refused demo", dir)
	}
}

// TestDemoNoDeviceMapper runs on hosts without device-mapper (such as the
// machines this project is built on): one line naming what is missing and
// the VM alternative, exit 13, nothing created.
func TestDemoNoDeviceMapper(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the root check comes first (see TestDemoNotRoot)")
	}
	if kernelHasMisc("/dev/mapper/control", "device-mapper") {
		t.Skip("this kernel has device-mapper; the demo runs here (.ci/demo)")
	}
	dir := filepath.Join(t.TempDir(), "work")
	code, stdout, stderr := runDemoCmd(t, "demo", "--dir", dir)
	wantOneLine(t, dir, code, stdout, stderr, exitNoDM, "no device-mapper", "bash .ci/demo")
}

// TestDemoMissingTool: without cryptsetup in PATH the demo says which
// package to install, exit 11, before it checks anything else.
func TestDemoMissingTool(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := filepath.Join(t.TempDir(), "work")
	code, stdout, stderr := runDemoCmd(t, "demo", "--dir", dir)
	wantOneLine(t, dir, code, stdout, stderr, exitUnsupported, "cryptsetup", "apt-get install cryptsetup-bin")
}

// TestDemoBadDir: a non-empty --dir is a usage error and is left alone.
func TestDemoBadDir(t *testing.T) {
	dir := t.TempDir()
	keep := filepath.Join(dir, "precious")
	if err := os.WriteFile(keep, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runDemoCmd(t, "demo", "--dir", dir)
	if code != exitUsage || !strings.Contains(stderr, "not empty") {
		t.Errorf("exit %d, stderr %q; want %d saying the directory is not empty", code, stderr, exitUsage)
	}
	if b, err := os.ReadFile(keep); err != nil || string(b) != "x" {
		t.Errorf("%s changed: %q %v", keep, b, err)
	}
	code, _, stderr = runDemoCmd(t, "demo", "extra")
	if code != exitUsage {
		t.Errorf("demo with an argument: exit %d, stderr %q; want %d", code, stderr, exitUsage)
	}
}

// TestDemoNotRoot runs the demo as nobody (this test binary re-executed):
// exit 14 with one line saying root is needed, nothing created.
func TestDemoNotRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to nobody")
	}
	for _, tool := range demoTools {
		if _, err := exec.LookPath(tool.name); err != nil {
			t.Skipf("%s missing: the tool check comes before the root check", tool.name)
		}
	}
	dir, bin := nobodyDir(t, 0o777)
	work := filepath.Join(dir, "work")
	stdout, stderr, code := runAsNobody(t, bin, "demo", "--dir", work)
	wantOneLine(t, work, code, stdout, stderr, exitPermission, "needs root", "bash .ci/demo")
}
