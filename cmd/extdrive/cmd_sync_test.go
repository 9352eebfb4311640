package main

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func syncRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"sync"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func listDir(t *testing.T, dir string) []string {
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestSyncBadInput(t *testing.T) {
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	os.MkdirAll(filepath.Join(src, "d"), 0o755)
	os.WriteFile(filepath.Join(src, "d/f"), []byte("x"), 0o644)
	os.Mkdir(dst, 0o755)
	os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644)
	os.WriteFile(filepath.Join(tmp, "excl"), []byte("# comment\n\nok\na//b\n"), 0o644)
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no arguments", nil, exitUsage, "needs SRC and DST"},
		{"one argument", []string{src}, exitUsage, "needs SRC and DST"},
		{"bad mode", []string{"--mode=copy", src, dst}, exitUsage, "--mode must be snapshot or mirror"},
		{"bad exclude", []string{"--exclude=[", src, dst}, exitUsage, "bad exclude pattern"},
		{"bad exclude file line", []string{"--exclude-from", filepath.Join(tmp, "excl"), src, dst}, exitUsage, `"a//b"`},
		{"missing exclude file", []string{"--exclude-from", filepath.Join(tmp, "nope"), src, dst}, exitUsage, "does not exist"},
		{"negative keep", []string{"--keep-last=-1", src, dst}, exitUsage, "count >= 0"},
		{"keep with mirror", []string{"--mode=mirror", "--keep-last=3", src, dst}, exitUsage, "apply to snapshots"},
		{"bad progress", []string{"--progress=fancy", src, dst}, exitUsage, "--progress must be"},
		{"unknown flag", []string{"--delete", src, dst}, exitUsage, "unknown flag"},
		{"missing source", []string{filepath.Join(tmp, "nope"), dst}, exitSyncSource, "does not exist"},
		{"source is a file", []string{filepath.Join(tmp, "file"), dst}, exitSyncSource, "not a directory"},
		{"missing root", []string{src, filepath.Join(tmp, "nope")}, exitSyncDest, "is the drive mounted"},
		{"root is a file", []string{src, filepath.Join(tmp, "file")}, exitSyncDest, "not a directory"},
		{"mirror onto source", []string{"--mode=mirror", src, src}, exitSyncDest, "the source itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := syncRun(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.msg) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line containing %q", stderr, tt.msg)
			}
			if got := listDir(t, dst); len(got) != 0 {
				t.Errorf("something was written to DST: %v", got)
			}
		})
	}
}

func TestSyncSnapshotAndMirror(t *testing.T) {
	tmp := t.TempDir()
	src, root, mir := filepath.Join(tmp, "src"), filepath.Join(tmp, "root"), filepath.Join(tmp, "mirror")
	os.MkdirAll(filepath.Join(src, "d/cache"), 0o755)
	os.WriteFile(filepath.Join(src, "d/f"), []byte("data"), 0o644)
	os.WriteFile(filepath.Join(src, "d/cache/junk"), []byte("junk"), 0o644)
	os.Mkdir(root, 0o755)

	code, out, stderr := syncRun(t, "--exclude=cache/", "--progress=none", src, root)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "1 files (1 copied, 0 linked)") {
		t.Errorf("stdout %q", out)
	}
	code, out, stderr = syncRun(t, "--exclude=cache/", "--verify", "--keep-last=1", "--progress=log", src, root)
	if code != 0 {
		t.Fatalf("second run: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "1 files (0 copied, 1 linked)") || !strings.Contains(out, "pruned ") {
		t.Errorf("second run stdout %q", out)
	}
	latest, err := os.Readlink(filepath.Join(root, "latest"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{".extdrive-sync.lock", latest, "latest"}, listDir(t, root)); diff != "" {
		t.Errorf("ROOT (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, latest, "d/cache")); !os.IsNotExist(err) {
		t.Errorf("excluded directory copied: %v", err)
	}

	code, out, stderr = syncRun(t, "--mode=mirror", "--verify", "--progress=log", "--log-every=1ms", src, mir)
	if code != 0 {
		t.Fatalf("mirror: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "mirror "+mir+": 2 files (2 copied, 0 unchanged)") {
		t.Errorf("mirror stdout %q", out)
	}
	if b, _ := os.ReadFile(filepath.Join(mir, "d/cache/junk")); string(b) != "junk" {
		t.Errorf("mirror content %q", b)
	}
}

func TestSyncLocked(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	os.MkdirAll(src, 0o755)
	os.Mkdir(root, 0o755)
	f, err := os.OpenFile(filepath.Join(root, ".extdrive-sync.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unix.Flock(int(f.Fd()), unix.LOCK_EX)
	code, _, stderr := syncRun(t, src, root)
	if code != exitSyncLocked || !strings.Contains(stderr, "another sync is running") {
		t.Errorf("exit %d, stderr %q; want %d", code, stderr, exitSyncLocked)
	}
}

func TestSyncNoSpace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	os.MkdirAll(src, 0o755)
	os.Mkdir(root, 0o755)
	if err := unix.Mount("tmpfs", root, "tmpfs", 0, "size=2m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skipf("cannot mount a tmpfs: %v", err)
	}
	defer unix.Unmount(root, unix.MNT_DETACH)
	b := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(b)
	os.WriteFile(filepath.Join(src, "big"), b, 0o644)
	code, _, stderr := syncRun(t, "--progress=none", src, root)
	if code != exitNoSpace || !strings.Contains(stderr, "needs to write about 3.0 MiB") {
		t.Errorf("exit %d, stderr %q; want %d", code, stderr, exitNoSpace)
	}
	if diff := cmp.Diff([]string{".extdrive-sync.lock"}, listDir(t, root)); diff != "" {
		t.Errorf("ROOT after ENOSPC (-want +got):\n%s", diff)
	}
}
