//go:build vmguest

package udevwatch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
	"github.com/extdrive/extdrive/udevwatch/install"
)

// syncBuffer is a log sink goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventLog collects what the watcher reports and lets a test wait for a
// given event: the watcher handles messages in order, so once an event
// shows up, everything the kernel or udev sent before it was handled.
type eventLog struct {
	mu   sync.Mutex
	evs  []Event
	cond chan struct{}
}

func newEventLog() *eventLog { return &eventLog{cond: make(chan struct{})} }

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.evs = append(l.evs, e)
	close(l.cond)
	l.cond = make(chan struct{})
	l.mu.Unlock()
}

func (l *eventLog) wait(ctx context.Context, t *testing.T, what string, ok func(Event) bool) Event {
	t.Helper()
	for {
		l.mu.Lock()
		for _, e := range l.evs {
			if ok(e) {
				l.mu.Unlock()
				return e
			}
		}
		c := l.cond
		l.mu.Unlock()
		select {
		case <-c:
		case <-ctx.Done():
			t.Fatalf("no %s event: %v; got %v", what, ctx.Err(), l.all())
		}
	}
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.evs...)
}

func isMounted(t *testing.T, dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

// startWatch runs a watcher in mode and a dispatcher with the given jobs
// for drive "a" (LUKS UUID guestLUKS) until the test ends.
func startWatch(t *testing.T, mode Mode, rcvbuf int, insert, remove Job) (*eventLog, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := NewDispatcher(&DispatcherOptions{
		Targets:  []Target{{Name: "a", Match: Matcher{LUKSUUID: guestLUKS}}},
		OnInsert: insert, OnRemove: remove, Logger: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(&Options{Mode: mode, Logger: log, ReceiveBuffer: rcvbuf})
	if err != nil {
		t.Fatal(err)
	}
	evs := newEventLog()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- w.Run(ctx, func(e Event) {
			evs.add(e)
			d.Handle(ctx, e)
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
		d.Wait()
		w.Close()
		if t.Failed() {
			t.Logf("watcher log:\n%s", logs.String())
		}
	})
	return evs, logs
}

// TestGuestWatcher is the whole story on a real kernel, in both modes:
// an unconfigured drive is ignored, a configured one is unlocked and
// mounted by its job exactly once despite repeated events, and pulling it
// out while mounted gets the stale mount and mapping cleaned up.
func TestGuestWatcher(t *testing.T) {
	m := vmtest.Guest(t)
	imgA, keyA := luksImage(t, m.SharedDir(), "a", guestLUKS)
	imgB, _ := luksImage(t, m.SharedDir(), "b", guestOther)
	for _, mode := range []Mode{ModeUdev, ModeKernel} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := guestCtx(t, 3*time.Minute)
			mnt := filepath.Join(t.TempDir(), "mnt")
			drive := func(dev string) *luksdrive.Drive {
				return &luksdrive.Drive{Name: "a", Device: dev, Key: luksdrive.Key{File: keyA, Slot: luksdrive.AnySlot},
					MappingName: "watch-a", MountPoint: mnt}
			}
			var mu sync.Mutex
			var jobs []string
			inserted, removed := make(chan error, 4), make(chan error, 4)
			evs, _ := startWatch(t, mode, 0,
				func(ctx context.Context, name string, ev Event) error {
					mu.Lock()
					jobs = append(jobs, "insert "+name)
					mu.Unlock()
					_, err := luksdrive.Ensure(ctx, drive(ev.DevNode), &luksdrive.EnsureOptions{CreateMountPoint: true})
					inserted <- err
					return err
				},
				func(ctx context.Context, name string, ev Event) error {
					mu.Lock()
					jobs = append(jobs, "remove "+name)
					mu.Unlock()
					err := luksdrive.Release(ctx, drive("UUID="+guestLUKS), nil)
					removed <- err
					return err
				})

			devB, err := m.PlugUSB(ctx, "b", imgB)
			if err != nil {
				t.Fatal(err)
			}
			evs.wait(ctx, t, "unconfigured drive added", func(e Event) bool { return e.Action == Added && e.LUKSUUID == guestOther })
			devA, err := m.PlugUSB(ctx, "a", imgA)
			if err != nil {
				t.Fatal(err)
			}
			added := evs.wait(ctx, t, "configured drive added", func(e Event) bool { return e.Action == Added && e.LUKSUUID == guestLUKS })
			if added.DevNode != devA || added.Disk != devA || added.FS.Type != "crypto_LUKS" {
				t.Errorf("Added event %+v, want device %s with a LUKS header", added, devA)
			}
			if mode == ModeUdev && added.Serial == "" {
				t.Errorf("udev event without ID_SERIAL: %+v", added.Props)
			}
			select {
			case err := <-inserted:
				if err != nil {
					t.Fatalf("insert job: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("insert job did not run")
			}
			if !isMounted(t, mnt) {
				t.Fatalf("%s not mounted after the insert job", mnt)
			}
			// The same insertion reported again, by the kernel and by udev.
			os.WriteFile("/sys/block/"+filepath.Base(devA)+"/uevent", []byte("add"), 0)
			exec.Command("udevadm", "trigger", "--action=change", "--settle", devA).Run()
			// B's removal is a marker: once the watcher reports it, it has
			// handled every event before it.
			if err := m.Unplug(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			evs.wait(ctx, t, "unconfigured drive removed", func(e Event) bool { return e.Action == Removed && e.DevNode == devB })
			// Yank A while mounted.
			if err := m.Unplug(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			evs.wait(ctx, t, "configured drive removed", func(e Event) bool { return e.Action == Removed && e.LUKSUUID == guestLUKS })
			select {
			case err := <-removed:
				if err != nil {
					t.Errorf("remove job: %v", err)
				}
			case <-ctx.Done():
				t.Fatal("remove job did not run")
			}
			if isMounted(t, mnt) {
				t.Errorf("%s still mounted after the drive was pulled", mnt)
			}
			if _, err := os.Stat("/dev/mapper/watch-a"); err == nil {
				t.Errorf("mapping watch-a left open after the drive was pulled")
			}
			mu.Lock()
			defer mu.Unlock()
			if got := strings.Join(jobs, ", "); got != "insert a, remove a" {
				t.Errorf("jobs: %s; want exactly one insert and one remove", got)
			}
			var forA []string
			for _, e := range evs.all() {
				if e.DevNode == devA {
					forA = append(forA, e.Action.String())
				}
			}
			if got := strings.Join(forA, " "); got != "added removed" {
				t.Errorf("events for %s: %s; want one added, one removed", devA, got)
			}
		})
	}
}

// TestGuestOverrun fills a tiny receive buffer before the watcher reads:
// the kernel reports ENOBUFS, and the watcher must say so, reopen, re-scan
// and keep working.
func TestGuestOverrun(t *testing.T) {
	m := vmtest.Guest(t)
	img, _ := luksImage(t, m.SharedDir(), "a", guestLUKS)
	for _, mode := range []Mode{ModeUdev, ModeKernel} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx := guestCtx(t, 2*time.Minute)
			logs := &syncBuffer{}
			w, err := New(&Options{Mode: mode, ReceiveBuffer: 1, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			// Dozens of events nobody reads yet.
			sh(t, "", "udevadm", "trigger", "--action=change", "--subsystem-match=block", "--subsystem-match=mem", "--subsystem-match=tty", "--settle")
			evs := newEventLog()
			rctx, cancel := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- w.Run(rctx, evs.add) }()
			defer func() {
				cancel()
				<-done
			}()
			dev, err := m.PlugUSB(ctx, "a", img)
			if err != nil {
				t.Fatal(err)
			}
			evs.wait(ctx, t, "drive added after the overrun", func(e Event) bool { return e.DevNode == dev && e.LUKSUUID == guestLUKS })
			if !strings.Contains(logs.String(), "uevents lost") {
				t.Errorf("no overrun reported; log:\n%s", logs.String())
			}
			if err := m.Unplug(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			evs.wait(ctx, t, "drive removed", func(e Event) bool { return e.DevNode == dev && e.Action == Removed })
		})
	}
}

// TestGuestInstalledRule installs the generated rule into the guest's
// running udev and plugs the drive in: udev must tag it for systemd and
// ask for the job unit, and must not for another LUKS drive.
func TestGuestInstalledRule(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := guestCtx(t, 2*time.Minute)
	imgA, _ := luksImage(t, m.SharedDir(), "a", guestLUKS)
	imgB, _ := luksImage(t, m.SharedDir(), "b", guestOther)
	if _, err := install.Install(ctx, &install.Options{Drives: []install.Drive{{Name: "a", UUID: guestLUKS}}}); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if _, err := install.Uninstall(context.Background(), "/"); err != nil {
			t.Error(err)
		}
		exec.Command("udevadm", "control", "--reload").Run()
	}()
	sh(t, "", "udevadm", "control", "--reload")
	devA, err := m.PlugUSB(ctx, "a", imgA)
	if err != nil {
		t.Fatal(err)
	}
	devB, err := m.PlugUSB(ctx, "b", imgB)
	if err != nil {
		t.Fatal(err)
	}
	props := sh(t, "", "udevadm", "info", "--query=property", devA)
	if want := "SYSTEMD_WANTS=" + install.InstanceUnit(guestLUKS); !strings.Contains(props, want+"\n") {
		t.Errorf("udev properties of %s lack %s:\n%s", devA, want, props)
	}
	if !strings.Contains(props, ":systemd:") {
		t.Errorf("%s not tagged for systemd:\n%s", devA, props)
	}
	if props := sh(t, "", "udevadm", "info", "--query=property", devB); strings.Contains(props, "SYSTEMD_WANTS") {
		t.Errorf("unconfigured %s got SYSTEMD_WANTS:\n%s", devB, props)
	}
	// udevadm test shows the rule file and line that matched.
	syspath := strings.TrimSpace(sh(t, "", "udevadm", "info", "--query=path", devA))
	out := sh(t, "", "udevadm", "test", "--action=add", syspath)
	if !strings.Contains(out, "90-extdrive.rules") {
		t.Errorf("udevadm test does not mention 90-extdrive.rules:\n%s", out)
	}
}
