package rotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func TestHookTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	// The hook's shell starts a child that would outlive a plain kill of
	// the shell and keep the drive busy.
	hook := config.Command{"/bin/sh", "-c", "sleep 300 & echo $! > " + pidFile + "; echo started; wait"}
	// The timeout must not fire before the shell has started its child
	// and said so, which a loaded machine can delay past any short
	// timeout: then the run proves nothing, and it is tried again with a
	// longer one.
	timeouts := []time.Duration{300 * time.Millisecond, 3 * time.Second, 30 * time.Second}
	for i, timeout := range timeouts {
		os.Remove(pidFile)
		var out bytes.Buffer
		err := runCommand(context.Background(), "pre hook", hook, timeout, nil, nil, &out)
		if !errors.Is(err, ErrHook) || !strings.Contains(err.Error(), fmt.Sprintf("did not finish within %v", timeout)) {
			t.Fatalf("runCommand = %v, want ErrHook naming the timeout %v", err, timeout)
		}
		if strings.Contains(out.String(), "started") {
			break
		}
		if i == len(timeouts)-1 {
			t.Errorf("hook output %q not passed on", out.String())
			break
		}
		t.Logf("the hook had not started its child within %v; trying again with a longer timeout", timeout)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	// The SIGKILL is sent before Run returns but takes effect
	// asynchronously; an orphan is then reaped by init. Wait for it.
	for i := 0; ; i++ {
		st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil || strings.Contains(string(st), ") Z") {
			break
		}
		if i == 1500 {
			t.Fatalf("the hook's child %d is still running 30s after the timeout: %s", pid, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestHookFailsAndEnv(t *testing.T) {
	var out bytes.Buffer
	err := runCommand(context.Background(), "post hook", config.Command{"/bin/sh", "-c", "echo drive=$EXTDRIVE_DRIVE; exit 3"},
		time.Minute, []string{"EXTDRIVE_DRIVE=offsite-1"}, nil, &out)
	if !errors.Is(err, ErrHook) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("runCommand = %v, want ErrHook with exit status 3", err)
	}
	if got := out.String(); got != "drive=offsite-1\n" {
		t.Errorf("output %q, want the environment passed", got)
	}
	if err := runCommand(context.Background(), "hook", config.Command{"/nonexistent/hook"}, time.Minute, nil, nil, &out); !errors.Is(err, ErrHook) {
		t.Errorf("missing program: %v, want ErrHook", err)
	}
	if err := runCommand(context.Background(), "hook", nil, time.Minute, nil, nil, &out); err != nil {
		t.Errorf("no hook configured: %v", err)
	}
}

// TestWrapperHoldsLock runs the copy's stand-in under flock(1), the way
// `borg with-lock` is used: while the wrapper is held, nobody else gets
// the lock; once released, they do.
func TestWrapperHoldsLock(t *testing.T) {
	if _, err := exec.LookPath("flock"); err != nil {
		t.Skip("flock(1) not installed (util-linux)")
	}
	lock := filepath.Join(t.TempDir(), "borg.lock")
	tryLock := func() bool { return exec.Command("flock", "-n", lock, "true").Run() == nil }
	var out bytes.Buffer
	h, err := startWrapper(context.Background(), config.Command{"flock", lock}, 10*time.Second, &out)
	if err != nil {
		t.Fatal(err)
	}
	if tryLock() {
		t.Error("lock free while the wrapper holds it")
	}
	if err := h.release(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if !tryLock() {
		t.Error("lock still held after release")
	}

	// A wrapper that cannot get its lock in time fails the job instead of
	// waiting forever.
	holder := exec.Command("flock", lock, "sleep", "30")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	for i := 0; tryLock(); i++ {
		if i == 1500 {
			t.Fatal("flock(1) never took the lock in 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := startWrapper(context.Background(), config.Command{"flock", lock}, 300*time.Millisecond, &out); !errors.Is(err, ErrHook) {
		t.Errorf("startWrapper on a held lock = %v, want ErrHook", err)
	}
}

func TestWrapperExitsEarly(t *testing.T) {
	var out bytes.Buffer
	_, err := startWrapper(context.Background(), config.Command{"/bin/sh", "-c", "echo no lock for you >&2; exit 2", "sh"}, 10*time.Second, &out)
	if !errors.Is(err, ErrHook) || !strings.Contains(err.Error(), "exited before running the copy") {
		t.Errorf("startWrapper = %v, want ErrHook", err)
	}
	if !strings.Contains(out.String(), "no lock for you") {
		t.Errorf("wrapper stderr %q not passed on", out.String())
	}
}
