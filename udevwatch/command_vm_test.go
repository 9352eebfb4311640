//go:build vmguest

package udevwatch

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// waitLog waits until the daemon's log holds every one of want.
func waitLog(ctx context.Context, t *testing.T, logs *syncBuffer, want ...string) {
	t.Helper()
	for {
		s := logs.String()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(s, w)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("daemon never logged %q:\n%s", want, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestGuestWatchCommand runs `extdrive watch` as the daemon it is, in both
// modes: plugging the configured drive runs its rotation job (a real copy
// onto the LUKS drive), an unconfigured drive is ignored, and pulling the
// configured one is noticed and cleaned up after.
func TestGuestWatchCommand(t *testing.T) {
	m := vmtest.Guest(t)
	imgA, keyA := luksImage(t, m.SharedDir(), "a", guestLUKS)
	imgB, _ := luksImage(t, m.SharedDir(), "b", guestOther)
	for _, mode := range []string{"udev", "kernel"} {
		t.Run(mode, func(t *testing.T) {
			ctx := guestCtx(t, 3*time.Minute)
			dir := t.TempDir()
			src := filepath.Join(dir, "src")
			os.MkdirAll(src, 0o755)
			os.WriteFile(filepath.Join(src, "photo.jpg"), []byte("not really a photo"), 0o644)
			cfg := filepath.Join(dir, "config.toml")
			os.WriteFile(cfg, []byte(`state_dir = "`+dir+`/state"
log_dir = "`+dir+`/log"
[[source]]
path = "`+src+`"
[[drive]]
name = "a"
uuid = "`+guestLUKS+`"
key = "`+keyA+`"
mount_point = "`+dir+`/mnt"
`), 0o600)
			logs := &syncBuffer{}
			cmd := exec.Command("extdrive", "--config", cfg, "-v", "watch", "--mode", mode)
			cmd.Stdout, cmd.Stderr = logs, logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				if err := <-exited; err != nil {
					t.Errorf("watch did not exit cleanly on SIGTERM: %v", err)
				}
				if t.Failed() {
					t.Logf("watch log:\n%s", logs.String())
				}
			}()
			waitLog(ctx, t, logs, "watching for configured drives")

			if _, err := m.PlugUSB(ctx, "b", imgB); err != nil {
				t.Fatal(err)
			}
			if _, err := m.PlugUSB(ctx, "a", imgA); err != nil {
				t.Fatal(err)
			}
			waitLog(ctx, t, logs, `msg="job done" drive=a job=insert`)
			if err := m.Unplug(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			waitLog(ctx, t, logs, "drive removed; no mount or mapping left behind")
			if err := m.Unplug(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(logs.String(), `msg="job started" drive=a job=insert`); n != 1 {
				t.Errorf("%d insert jobs for drive a, want 1", n)
			}
			if n := strings.Count(logs.String(), `msg="job started"`); n != 2 {
				t.Errorf("%d jobs started, want 2 (insert and remove for drive a, none for the other drive)", n)
			}
		})
	}
}
