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

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/rotate"
)

// testConfig writes a config whose state, logs and one source live in a
// new temporary directory dir, followed by drives (TOML [[drive]] tables,
// in which {dir} stands for dir).
func testConfig(t *testing.T, drives string) (path, dir string) {
	t.Helper()
	dir = t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	text := `state_dir = "` + dir + `/state"
log_dir = "` + dir + `/log"
[[source]]
path = "` + src + `"
` + strings.ReplaceAll(drives, "{dir}", dir)
	path = filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dir
}

// writeTestConfig writes a config with drives A and B.
func writeTestConfig(t *testing.T) (path, dir string) {
	return testConfig(t, `[[drive]]
name = "A"
uuid = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
key = "/etc/extdrive/a.key"
[[drive]]
name = "B"
uuid = "1f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
key = "/etc/extdrive/b.key"
`)
}

func TestRotateCommandRefusals(t *testing.T) {
	cfg, dir := writeTestConfig(t)
	// A was copied an hour ago: B's turn.
	now := time.Now()
	h := &rotate.History{}
	h.Add(rotate.Record{ID: "x-A", Seq: 1, Drive: "A", Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour), OK: true})
	if err := rotate.WriteHistory(filepath.Join(dir, "state", "history.json"), h); err != nil {
		t.Fatal(err)
	}
	// Another job holds B.
	os.MkdirAll(filepath.Join(dir, "state", "locks"), 0o700)
	lf, err := os.Create(filepath.Join(dir, "state", "locks", "B.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.Flock(int(lf.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"not due", []string{"rotate", "A"}, exitNotDue, "", "drive is not due: last good copy on"},
		{"not due by UUID", []string{"rotate", "0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9"}, exitNotDue, "", "it is B's turn"},
		{"already running", []string{"rotate", "B"}, exitOK, "B: already running", ""},
		{"unknown drive", []string{"rotate", "C"}, exitUnknownDrive, "", `drive "C": drive not in the configuration`},
		{"none plugged in", []string{"rotate"}, exitNoDrive, "", "no configured drive present: plug one in or name it"},
		{"two drives", []string{"rotate", "A", "B"}, exitUsage, "", "accepts at most 1 arg"},
		{"bad config", []string{"--config", "../../testdata/config/broken/typo.toml", "rotate"}, exitConfig, "", "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"--config", cfg, "-q"}, tt.args...)
			if tt.args[0] == "--config" {
				args = tt.args
			}
			code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Errorf("stdout %q stderr %q; want %q and %q", out.String(), errb.String(), tt.stdout, tt.stderr)
			}
			if n := strings.Count(strings.TrimSpace(errb.String()), "\n"); tt.code != exitOK && n > 0 {
				t.Errorf("error is %d lines, want one:\n%s", n+1, errb.String())
			}
		})
	}
	// Nothing was run, so nothing was recorded.
	h2, _ := rotate.ReadHistory(filepath.Join(dir, "state", "history.json"))
	if len(h2.Runs) != 1 {
		t.Errorf("history has %d runs after refusals, want 1", len(h2.Runs))
	}
}

// TestRotatePrivateNamespaceOneLine runs rotate with private_mount on: the
// command re-executes itself in a new mount namespace, and the child's
// error must reach the user once, with the child's exit code.
func TestRotatePrivateNamespaceOneLine(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a new mount namespace")
	}
	cfg, _ := writeTestConfig(t)
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, append([]byte("private_mount = true\n"), text...), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--", "--config", cfg, "-q", "rotate")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != exitNoDrive {
		t.Fatalf("exit %v, want code %d; stderr: %s", err, exitNoDrive, errb.String())
	}
	want := "extdrive: find: no configured drive present: plug one in or name it\n"
	if got := errb.String(); got != want {
		t.Errorf("stderr:\n%s\nwant exactly:\n%s", got, want)
	}
}
