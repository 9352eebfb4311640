//go:build vmguest

package spindown_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/spindown"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// Disks in these tests: every test makes its own image in the shared
// directory and attaches it; AttachDisk returns its /dev/sdX.
//   - vmtest.IDE: ide-hd on QEMU's AHCI controller, driven by libata
//     (Transport "ata"), which runs ATA PASS-THROUGH through its SAT layer.
//   - vmtest.SCSI: scsi-hd on virtio-scsi (Transport "scsi"); QEMU's SCSI
//     disk model knows no ATA PASS-THROUGH opcode.

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// image creates a sparse image of size bytes; with part set it carries an
// MBR with one Linux partition from sector 2048 to the end.
func image(t *testing.T, m *vmtest.Machine, name string, size int64, part bool) string {
	t.Helper()
	p := filepath.Join(m.SharedDir(), name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if part {
		mbr := make([]byte, 512)
		e := mbr[446:462]
		e[4] = 0x83 // Linux
		binary.LittleEndian.PutUint32(e[8:], 2048)
		binary.LittleEndian.PutUint32(e[12:], uint32(size/512-2048))
		mbr[510], mbr[511] = 0x55, 0xaa
		if _, err := f.WriteAt(mbr, 0); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func attach(t *testing.T, m *vmtest.Machine, id string, bus vmtest.Bus, part bool) string {
	t.Helper()
	dev, err := m.AttachDisk(testCtx(t, time.Minute), id, image(t, m, id+".img", 64<<20, part), bus)
	if err != nil {
		t.Fatal(err)
	}
	return dev
}

func resolveOne(t *testing.T, target string) spindown.Disk {
	t.Helper()
	ds, err := spindown.Resolve(target)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", target, err)
	}
	if len(ds) != 1 {
		t.Fatalf("Resolve(%s) = %v, want one disk", target, ds)
	}
	return ds[0]
}

func TestGuestIDEAcceptsATACommands(t *testing.T) {
	m := vmtest.Guest(t)
	dev := attach(t, m, "ide1", vmtest.IDE, false)
	ctx := testCtx(t, time.Minute)
	d := resolveOne(t, dev)
	if d.Path != dev || d.Transport != "ata" {
		t.Fatalf("Resolve(%s) = %+v, want %s on ata", dev, d, dev)
	}
	// Debug records carry the CDBs and the sense bytes libata returned.
	opts := &spindown.Options{Logger: slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, v := range []spindown.Timer{120, 241, 0} {
		if err := d.SetStandbyTimer(ctx, v, opts); err != nil {
			t.Fatalf("SetStandbyTimer(%d): %v", v, err)
		}
	}
	m1, err := d.StandbyNow(ctx, opts)
	if err != nil || m1 != spindown.MethodATA16 {
		t.Fatalf("StandbyNow = %v, %v; want ATA pass-through(16)", m1, err)
	}
	pm, err := d.CheckPower(ctx, opts)
	if err != nil {
		t.Fatalf("CheckPower: %v", err)
	}
	// The reference: hdparm -C on the same disk reads the same register.
	out := sh(t, "hdparm", "-C", dev)
	want := strings.TrimSpace(out[strings.LastIndex(out, "drive state is:")+len("drive state is:"):])
	if pm.String() != want || pm == spindown.PowerUnknown {
		t.Errorf("CheckPower = %q, hdparm -C says %q", pm, want)
	}
	// The command line says the same.
	out = extdrive(t, 0, "spindown", "--check", dev)
	if w := dev + ": drive state is: " + want + "\n"; out != w {
		t.Errorf("extdrive spindown --check: %q, want %q", out, w)
	}
	// Not root: refused with exit 14 before anything is sent.
	cmd := exec.Command("extdrive", "spindown", "--now", dev)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	msg, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 14 || !strings.Contains(string(msg), "needs root") {
		t.Errorf("extdrive spindown --now as nobody: %v: %s", err, msg)
	}
	out = extdrive(t, 0, "spindown", "--timer", "10m", "--now", dev)
	if w := dev + ": standby timer set to 120 (10 minutes)\n" + dev + ": stopped (ATA STANDBY IMMEDIATE (pass-through 16))\n"; out != w {
		t.Errorf("extdrive spindown --timer 10m --now: %q, want %q", out, w)
	}
}

// extdrive runs the command built into the guest and checks its exit code.
func extdrive(t *testing.T, code int, args ...string) string {
	t.Helper()
	cmd := exec.Command("extdrive", args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	got := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		got = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if got != code {
		t.Fatalf("extdrive %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, stdout.String(), stderr.String())
	}
	if code != 0 {
		return stderr.String()
	}
	return stdout.String()
}

func TestGuestSCSIFallsBackToStartStopUnit(t *testing.T) {
	m := vmtest.Guest(t)
	dev := attach(t, m, "scsi1", vmtest.SCSI, false)
	ctx := testCtx(t, time.Minute)
	d := resolveOne(t, dev)
	if d.Transport != "scsi" {
		t.Fatalf("Resolve(%s) = %+v, want transport scsi", dev, d)
	}
	if err := d.SetStandbyTimer(ctx, 120, nil); !errors.Is(err, spindown.ErrPassThroughRejected) {
		t.Errorf("SetStandbyTimer on scsi-hd: %v, want ErrPassThroughRejected", err)
	}
	if _, err := d.CheckPower(ctx, nil); !errors.Is(err, spindown.ErrPassThroughRejected) {
		t.Errorf("CheckPower on scsi-hd: %v, want ErrPassThroughRejected", err)
	}
	got, err := d.StandbyNow(ctx, nil)
	if err != nil || got != spindown.MethodStartStopUnit {
		t.Errorf("StandbyNow on scsi-hd = %v, %v; want START STOP UNIT", got, err)
	}
	// The command line: exit 42 with the advice to use the monitor, and
	// the fallback for --now.
	msg := extdrive(t, 42, "spindown", "--timer", "10m", dev)
	if !strings.Contains(msg, "--watch --after") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Errorf("extdrive spindown --timer on scsi-hd said %q", msg)
	}
	if out := extdrive(t, 0, "spindown", "--now", dev); out != dev+": stopped (SCSI START STOP UNIT)\n" {
		t.Errorf("extdrive spindown --now on scsi-hd: %q", out)
	}
}

func TestGuestResolveThroughDMCrypt(t *testing.T) {
	m := vmtest.Guest(t)
	dev := attach(t, m, "crypt1", vmtest.IDE, true)
	part := dev + "1"
	key := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(key, []byte("spindown test key"), 0o600); err != nil {
		t.Fatal(err)
	}
	sh(t, "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--pbkdf", "pbkdf2",
		"--pbkdf-force-iterations", "1000", "--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m",
		part, key)
	sh(t, "cryptsetup", "open", "--key-file", key, part, "sdcrypt")
	t.Cleanup(func() { exec.Command("cryptsetup", "close", "sdcrypt").Run() })

	d := resolveOne(t, "/dev/mapper/sdcrypt")
	dm, err := filepath.EvalSymlinks("/dev/mapper/sdcrypt")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Base(dm), filepath.Base(part)}
	if d.Path != dev || cmp.Diff(want, d.Via) != "" {
		t.Fatalf("Resolve(/dev/mapper/sdcrypt) = %s via %v, want %s via %v", d.Path, d.Via, dev, want)
	}
	// A partition resolves to its disk; so does a filesystem mounted on
	// the mapping, named by its mount point.
	if p := resolveOne(t, part); p.Path != dev {
		t.Errorf("Resolve(%s) = %s, want %s", part, p.Path, dev)
	}
	sh(t, "mkfs.ext4", "-q", "/dev/mapper/sdcrypt")
	mnt := t.TempDir()
	sh(t, "mount", "/dev/mapper/sdcrypt", mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	if p := resolveOne(t, mnt); p.Path != dev {
		t.Errorf("Resolve(%s) = %s, want %s", mnt, p.Path, dev)
	}
	// The power command goes to the disk found, never to the mapping.
	if _, err := d.StandbyNow(testCtx(t, time.Minute), nil); err != nil {
		t.Errorf("StandbyNow on the disk under the mapping: %v", err)
	}
}

func TestGuestResolveRefusesNonDisks(t *testing.T) {
	m := vmtest.Guest(t)
	backing := image(t, m, "loop.img", 8<<20, false)
	loop := strings.TrimSpace(sh(t, "losetup", "--find", "--show", backing))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	// The error target is built into dm-mod, unlike zero.
	sh(t, "dmsetup", "create", "sdzero", "--table", "0 2048 error")
	t.Cleanup(func() { exec.Command("dmsetup", "remove", "sdzero").Run() })
	tmp := t.TempDir()
	sh(t, "mount", "-t", "tmpfs", "none", tmp)
	t.Cleanup(func() { exec.Command("umount", tmp).Run() })

	for _, target := range []string{loop, "/dev/mapper/sdzero", tmp, "/proc/diskstats"} {
		ds, err := spindown.Resolve(target)
		if !errors.Is(err, spindown.ErrNotDisk) {
			t.Errorf("Resolve(%s) = %v, %v; want ErrNotDisk", target, ds, err)
		} else {
			t.Logf("Resolve(%s): %v", target, err)
		}
	}
}

// events collects what Watch reports, safe for the test goroutine to read.
type events struct {
	mu    sync.Mutex
	downs []spindown.Event
	ups   []spindown.Event
	down  chan struct{}
	up    chan struct{}
}

func TestGuestWatchSpinsDownIdleDiskNotWrittenOne(t *testing.T) {
	m := vmtest.Guest(t)
	dev := attach(t, m, "watch1", vmtest.IDE, false)
	// No lazy inode-table init: its background writes would look like a
	// writer to the monitor.
	sh(t, "mkfs.ext4", "-q", "-E", "lazy_itable_init=0,lazy_journal_init=0", dev)
	mnt := t.TempDir()
	sh(t, "mount", "-o", "noatime", dev, mnt)
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	d := resolveOne(t, mnt)

	ev := &events{down: make(chan struct{}, 16), up: make(chan struct{}, 16)}
	ctx, cancel := context.WithCancel(testCtx(t, 3*time.Minute))
	done := make(chan error, 1)
	go func() {
		done <- spindown.Watch(ctx, []spindown.Disk{d}, &spindown.WatchOptions{
			Logger:   slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
			After:    2 * time.Second,
			Interval: 250 * time.Millisecond,
			OnSpinDown: func(e spindown.Event) {
				ev.mu.Lock()
				ev.downs = append(ev.downs, e)
				ev.mu.Unlock()
				ev.down <- struct{}{}
			},
			OnSpinUp: func(e spindown.Event) {
				ev.mu.Lock()
				ev.ups = append(ev.ups, e)
				ev.mu.Unlock()
				ev.up <- struct{}{}
			},
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	// A writer appends to a file without fsync for four idle periods:
	// the data sits in the page cache between journal commits, which
	// the counters alone would take for idleness.
	f, err := os.Create(filepath.Join(mnt, "busy"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 80; i++ {
		fmt.Fprintf(f, "line %d of a backup in progress\n", i)
		time.Sleep(100 * time.Millisecond)
	}
	f.Close()
	ev.mu.Lock()
	n := len(ev.downs)
	ev.mu.Unlock()
	if n != 0 {
		t.Fatalf("the disk was stopped %d times while a filesystem on it was being written", n)
	}

	// Writer gone: the disk must be stopped after the idle time.
	select {
	case <-ev.down:
	case <-ctx.Done():
		t.Fatal("the idle disk was never stopped")
	}
	ev.mu.Lock()
	e := ev.downs[0]
	ev.mu.Unlock()
	if e.Disk.Path != dev || e.Method != spindown.MethodATA16 || e.Idle < 2*time.Second {
		t.Errorf("spin-down event %+v", e)
	}

	// Reading past the page cache spins it up again, and that is reported.
	g, err := os.OpenFile(dev, os.O_RDONLY|syscallODirect, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := alignedBlock()
	if _, err := g.ReadAt(buf, 32<<20); err != nil {
		t.Fatal(err)
	}
	g.Close()
	select {
	case <-ev.up:
	case <-ctx.Done():
		t.Fatal("the read after the spin-down was not reported as a spin-up")
	}
}

// tWriter sends the monitor's log to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// QEMU's usb-storage is a bridge without SAT: it hands CDBs to a SCSI
// disk model, like the cheap enclosures that made hd-idle necessary.
func TestGuestUSBBridgeWithoutSAT(t *testing.T) {
	m := vmtest.Guest(t)
	dev, err := m.PlugUSB(testCtx(t, time.Minute), "usb1", image(t, m, "usb1.img", 64<<20, true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, time.Minute)
	d := resolveOne(t, dev+"1")
	if d.Path != dev || d.Transport != "usb" {
		t.Fatalf("Resolve(%s1) = %+v, want %s on usb", dev, d, dev)
	}
	if err := d.SetStandbyTimer(ctx, 120, nil); !errors.Is(err, spindown.ErrPassThroughRejected) {
		t.Errorf("SetStandbyTimer through usb-storage: %v, want ErrPassThroughRejected", err)
	}
	if got, err := d.StandbyNow(ctx, nil); err != nil || got != spindown.MethodStartStopUnit {
		t.Errorf("StandbyNow through usb-storage = %v, %v; want START STOP UNIT", got, err)
	}
}
