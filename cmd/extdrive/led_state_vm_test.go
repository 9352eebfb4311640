//go:build vmguest

package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/blinkstick/blinksticktest"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestGuestUnlockLockLED: with an LED configured, a by-hand unlock shows
// blue (a job someone watches), lock turns it green (safe to remove), and
// a failed unlock turns it red, as does the hook systemd runs when a job
// unit fails, through the kernel's hidraw path to an
// emulated BlinkStick Nano.
func TestGuestUnlockLockLED(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := e2eCtx(t)
	emu, err := blinksticktest.Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if _, err := emu.Hidraw(ctx); err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	keyFile := filepath.Join(work, "offsite.key")
	os.WriteFile(keyFile, []byte("led-test-key-material\n"), 0o600)
	wrongKey := filepath.Join(work, "wrong.key")
	os.WriteFile(wrongKey, []byte("not the key\n"), 0o600)
	os.Mkdir(filepath.Join(work, "src"), 0o755)
	e2ePlug(t, ctx, m, "drive", e2eDriveImage(t, m, keyFile))

	cfg := filepath.Join(work, "config.toml")
	os.WriteFile(cfg, []byte(`state_dir = "`+work+`/state"
log_dir = "`+work+`/log"
[[source]]
path = "`+work+`/src"
[[drive]]
name = "offsite-a"
uuid = "`+e2eLUKSUUID+`"
key = "`+keyFile+`"
mount_point = "/srv/led"
[led]
enabled = true
index = 1
limit = 100
`), 0o600)

	blue, green, red := blinkstick.Interactive.Color(), blinkstick.Done.Color(), blinkstick.Failed.Color()
	step := func(name string, wantCode int, want []blinkstick.Color, args ...string) {
		t.Helper()
		emu.Reset()
		out, code := e2eRun(t, "extdrive", append([]string{"--config", cfg}, args...)...)
		if code != wantCode {
			t.Fatalf("%s: exit %d, want %d\n%s", name, code, wantCode, out)
		}
		if diff := cmp.Diff(want, emu.History(0, 1)); diff != "" {
			t.Errorf("%s: LED 1 colours (-want +got):\n%s", name, diff)
		}
		if c := emu.LED(0, 0); c != (blinkstick.Color{}) {
			t.Errorf("%s: LED 0 is %v; only the configured LED may change", name, c)
		}
	}
	step("unlock", 0, []blinkstick.Color{blue}, "unlock", "--create", "offsite-a")
	step("lock", 0, []blinkstick.Color{blue, green}, "lock", "offsite-a")
	step("unlock with the wrong key", exitWrongKey, []blinkstick.Color{blue, red},
		"unlock", "--key-file", wrongKey, "offsite-a")
	// What extdrive-failed@.service runs when the job unit fails.
	step("OnFailure hook", 0, []blinkstick.Color{red}, "handle-event", "--job-failed", "offsite-a")
	if left := dmLeft(t); left != "" {
		t.Errorf("dmsetup ls shows: %s", left)
	}
}
