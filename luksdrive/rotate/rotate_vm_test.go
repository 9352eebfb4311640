//go:build vmguest

package rotate_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/blinkstick/blinksticktest"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/rotate"
	"github.com/extdrive/extdrive/luksdrive/treecopy"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// Disks in this test, all hot-plugged on the xHCI bus:
//
//	usb id "A"  drive A, LUKS UUID aaaaaaaa-…, ext4 label BACKUP-A
//	usb id "B"  drive B, LUKS UUID bbbbbbbb-…, ext4 label BACKUP-B
//	usb id "A2", "B2": the same images plugged again to inspect them.
const (
	uuidA = "aaaaaaaa-1c4d-4e6f-9a0b-7c2d1e3f4a5b"
	uuidB = "bbbbbbbb-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
)

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// makeDrive builds a LUKS2 image with an ext4 filesystem inside, opened
// by keyFile, and moves it to path in the directory shared with the host
// (so it can be plugged). It is built in /tmp: cryptsetup cannot open a
// loop device over the 9p share.
func makeDrive(t *testing.T, path, uuid, label, keyFile string) {
	t.Helper()
	final := path
	path = filepath.Join(t.TempDir(), filepath.Base(final))
	defer func() {
		copySparse(t, final, path)
		os.Remove(path)
	}()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(128 << 20)
	f.Close()
	sh(t, "cryptsetup", "luksFormat", "--batch-mode", "--type", "luks2", "--uuid", uuid,
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000",
		"--luks2-metadata-size", "16k", "--luks2-keyslots-size", "1m", "--key-file", keyFile, path)
	name := "mk-" + label
	sh(t, "cryptsetup", "open", "--key-file", keyFile, path, name)
	sh(t, "mkfs.ext4", "-q", "-L", label, "/dev/mapper/"+name)
	sh(t, "cryptsetup", "close", name)
}

// copySparse copies an image, leaving zero blocks as holes (busybox cp
// has no --sparse).
func copySparse(t *testing.T, dst, src string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	fi, _ := in.Stat()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	for off := int64(0); off < fi.Size(); off += int64(len(buf)) {
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if string(buf[:n]) == string(zero[:n]) {
			continue
		}
		if _, err := out.WriteAt(buf[:n], off); err != nil {
			t.Fatal(err)
		}
	}
	if err := out.Truncate(fi.Size()); err != nil {
		t.Fatal(err)
	}
}

func fillSource(t *testing.T, dir, prefix string, n int) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	r := rand.New(rand.NewPCG(1, uint64(len(prefix))))
	buf := make([]byte, 1<<20)
	for i := 0; i < n; i++ {
		for j := range buf {
			buf[j] = byte(r.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%03d.bin", prefix, i)), buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type pings struct {
	mu   sync.Mutex
	hits []string
}

func (p *pings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	p.hits = append(p.hits, r.URL.Path+" "+string(b))
	p.mu.Unlock()
}

func (p *pings) last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.hits) == 0 {
		return ""
	}
	return p.hits[len(p.hits)-1]
}

// inspect plugs image as id, opens it under a fresh name and returns the
// mounted directory; everything is undone at cleanup. It opens read-write,
// as the next job would: a drive yanked mid-copy has a journal to replay.
func inspect(t *testing.T, ctx context.Context, m *vmtest.Machine, id, image, keyFile string) string {
	t.Helper()
	dev, err := m.PlugUSB(ctx, id, image)
	if err != nil {
		t.Fatal(err)
	}
	name := "inspect-" + id
	sh(t, "cryptsetup", "open", "--key-file", keyFile, dev, name)
	dir := t.TempDir()
	sh(t, "mount", "/dev/mapper/"+name, dir)
	t.Cleanup(func() {
		exec.Command("umount", dir).Run()
		exec.Command("cryptsetup", "close", name).Run()
		m.Unplug(context.Background(), id)
	})
	return dir
}

func mappingOpen(name string) bool {
	_, err := os.Stat("/dev/mapper/" + name)
	return err == nil
}

func TestGuestRotation(t *testing.T) {
	m := vmtest.Guest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	// Loopback for the ping server.
	if err := exec.Command("ip", "link", "set", "lo", "up").Run(); err != nil {
		sh(t, "ifconfig", "lo", "127.0.0.1", "up")
	}
	ping := &pings{}
	srv := httptest.NewServer(ping)
	defer srv.Close()

	emu, err := blinksticktest.Start(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	if _, err := emu.Hidraw(ctx); err != nil {
		t.Fatal(err)
	}

	work := t.TempDir()
	keyFile := filepath.Join(work, "drive.key")
	key := make([]byte, 4096)
	for i := range key {
		key[i] = byte(rand.Uint32())
	}
	os.WriteFile(keyFile, key, 0o400)
	imgA := filepath.Join(m.SharedDir(), "rotate-A.img")
	imgB := filepath.Join(m.SharedDir(), "rotate-B.img")
	makeDrive(t, imgA, uuidA, "BACKUP-A", keyFile)
	makeDrive(t, imgB, uuidB, "BACKUP-B", keyFile)
	src := filepath.Join(work, "src")
	fillSource(t, src, "base", 24)

	cfgText := fmt.Sprintf(`
state_dir = %[1]q
log_dir = %[2]q
[[source]]
path = %[3]q
name = "data"
[notify]
ping_url = %[4]q
retries = 1
[led]
enabled = true
index = 0
[[drive]]
name = "A"
uuid = %[5]q
key = %[6]q
mapping = "extdrive-a"
mount_point = "/run/extdrive/A"
[[drive]]
name = "B"
uuid = %[7]q
key = %[6]q
mapping = "extdrive-b"
mount_point = "/run/extdrive/B"
sync = true
`, filepath.Join(work, "state"), filepath.Join(work, "log"), src, srv.URL+"/hc", uuidA, keyFile, uuidB)
	cfg, err := config.Parse("vm.toml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	yellow, green, red, blue := blinkstick.Working.Color(), blinkstick.Done.Color(), blinkstick.Failed.Color(), blinkstick.Interactive.Color()

	// 1. Drive A is plugged in: due (never copied). Full job, found by
	// itself among the configured drives.
	if _, err := m.PlugUSB(ctx, "A", imgA); err != nil {
		t.Fatal(err)
	}
	emu.Reset()
	res, err := rotate.Run(ctx, cfg, &rotate.Options{Logger: logger})
	if err != nil {
		t.Fatalf("run A: %v", err)
	}
	if res.Drive != "A" || !res.Record.OK || res.Record.Snapshot == "" {
		t.Fatalf("run A: %+v", res.Record)
	}
	snapA := res.Record.Snapshot
	if h := emu.History(0, 0); len(h) < 2 || h[0] != yellow || h[len(h)-1] != green {
		t.Errorf("LED during A's job went %v; want yellow first, green last", h)
	}
	if mappingOpen("extdrive-a") {
		t.Error("A's mapping still open after the job: not locked")
	}
	if l := ping.last(); !strings.HasPrefix(l, "/hc ") {
		t.Errorf("last ping %q, want the success ping", l)
	}

	// 2. A again: not due; blue blinks; nothing mounted.
	emu.Reset()
	_, err = rotate.Run(ctx, cfg, &rotate.Options{Drive: "A", Logger: logger})
	if !errors.Is(err, rotate.ErrNotDue) {
		t.Fatalf("A again: %v, want ErrNotDue", err)
	}
	if _, err := emu.WaitReports(ctx, 2); err != nil {
		t.Errorf("no blink for a drive that is not due: %v", err)
	}
	if h := emu.History(0, 0); len(h) == 0 || h[0] != blue {
		t.Errorf("LED for not due went %v; want blue blinks", h)
	}
	if mappingOpen("extdrive-a") {
		t.Error("a not-due drive was unlocked")
	}
	if err := m.Unplug(ctx, "A"); err != nil {
		t.Fatal(err)
	}

	// 3. B: due, copies.
	if _, err := m.PlugUSB(ctx, "B", imgB); err != nil {
		t.Fatal(err)
	}
	res, err = rotate.Run(ctx, cfg, &rotate.Options{Drive: "B", Logger: logger})
	if err != nil {
		t.Fatalf("run B: %v", err)
	}
	snapB := res.Record.Snapshot

	// 4. B forced again with new data, and yanked mid-copy: red, the job
	// fails, nothing earlier is lost.
	//
	// The drive is pulled from the first progress report with bytes
	// copied, and that report waits until it is gone: the copy engine
	// waits for its last report before it publishes the snapshot, so the
	// yank always lands before the snapshot is published, however slow
	// the unplug and however fast the copy. (A copy that ends before the
	// first periodic report is yanked from the final one.)
	fillSource(t, src, "more", 48)
	emu.Reset()
	var once sync.Once
	res, err = rotate.Run(ctx, cfg, &rotate.Options{Drive: "B", Force: true, Logger: logger,
		Now: func() time.Time { return time.Now().Add(time.Hour) },
		Progress: func(_ string, p treecopy.Progress) {
			if p.Bytes > 0 {
				once.Do(func() {
					if err := m.Unplug(ctx, "B"); err != nil {
						t.Errorf("unplug B: %v", err)
					}
				})
			}
		}})
	if err == nil {
		t.Fatalf("yanked run succeeded: %+v", res.Record)
	}
	t.Logf("yanked run failed as it should: %v", err)
	if res.Record == nil || res.Record.OK {
		t.Errorf("yanked run recorded as %+v", res.Record)
	}
	if h := emu.History(0, 0); len(h) == 0 || h[len(h)-1] != red {
		t.Errorf("LED after the yank went %v; want red last", h)
	}
	if l := ping.last(); !strings.HasPrefix(l, "/hc/fail ") {
		t.Errorf("last ping %q, want /fail with the log tail", l)
	}

	// A's and B's previous snapshots are intact.
	for _, d := range []struct{ id, img, snap string }{{"A2", imgA, snapA}, {"B2", imgB, snapB}} {
		dir := inspect(t, ctx, m, d.id, d.img, keyFile)
		snapDir := filepath.Join(dir, "extdrive", "data", d.snap)
		ents, err := os.ReadDir(snapDir)
		if err != nil || len(ents) != 24 {
			t.Errorf("%s: snapshot %s has %d entries (%v), want the 24 files", d.id, d.snap, len(ents), err)
			continue
		}
		got, _ := os.ReadFile(filepath.Join(snapDir, "base-007.bin"))
		want, _ := os.ReadFile(filepath.Join(src, "base-007.bin"))
		if string(got) != string(want) {
			t.Errorf("%s: base-007.bin differs from the source", d.id)
		}
		latest, _ := os.Readlink(filepath.Join(dir, "extdrive", "data", "latest"))
		if latest != d.snap {
			t.Errorf("%s: latest -> %q, want %q (the yanked run must not publish)", d.id, latest, d.snap)
		}
	}
	h, err := rotate.ReadHistory(rotate.HostHistoryPath(cfg))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range h.Runs {
		got = append(got, fmt.Sprintf("%s:%v", r.Drive, r.OK))
	}
	if strings.Join(got, " ") != "A:true B:true B:false" {
		t.Errorf("host history %v, want A ok, B ok, B failed", got)
	}
}

// TestGuestRotateCommand runs `extdrive rotate` as udev would, with
// private_mount on: while the job runs (held in its pre hook), the backup
// filesystem is mounted in the job's namespace and not in ours.
func TestGuestRotateCommand(t *testing.T) {
	m := vmtest.Guest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	work := t.TempDir()
	keyFile := filepath.Join(work, "drive.key")
	os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o400)
	img := filepath.Join(m.SharedDir(), "cli-C.img")
	const uuidC = "cccccccc-1c4d-4e6f-9a0b-7c2d1e3f4a5b"
	makeDrive(t, img, uuidC, "BACKUP-C", keyFile)
	src := filepath.Join(work, "src")
	fillSource(t, src, "cli", 3)
	ready, goOn := filepath.Join(work, "hook-ready"), filepath.Join(work, "hook-go")
	mnt := "/run/extdrive/C"
	cfgPath := filepath.Join(work, "config.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
state_dir = %q
log_dir = %q
private_mount = true
[[source]]
path = %q
[hooks]
pre = "grep -q ' %s ' /proc/self/mountinfo && touch %s; while [ ! -e %s ]; do sleep 0.1; done"
pre_timeout = "2m"
[spindown]
enabled = true
[[drive]]
name = "C"
uuid = %q
key = %q
mount_point = %q
# The other drive of the pair, off-site during this test.
[[drive]]
name = "D"
uuid = "dddddddd-1c4d-4e6f-9a0b-7c2d1e3f4a5b"
key = %[8]q
`, filepath.Join(work, "state"), filepath.Join(work, "log"), src, mnt, ready, goOn, uuidC, keyFile, mnt)), 0o600)

	if _, err := m.PlugUSB(ctx, "C", img); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "extdrive", "--config", cfgPath, "rotate")
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the pre hook never saw the mount in its namespace; stderr:\n%s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mi), " "+mnt+" ") {
		t.Errorf("the backup filesystem is visible outside the job's mount namespace")
	}
	os.WriteFile(goOn, nil, 0o644)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("extdrive rotate: %v\nstdout: %s\nstderr: %s", err, out.String(), errb.String())
	}
	if !strings.Contains(out.String(), "C: copied 3 files") || !strings.Contains(out.String(), "safe to unplug") {
		t.Errorf("stdout %q", out.String())
	}
	if mappingOpen("luks-" + uuidC) {
		t.Error("mapping still open after extdrive rotate")
	}
	// [spindown] is on: once locked, the USB disk under the mapping got
	// its standby command (START STOP UNIT through the bridge).
	if log := errb.String(); !strings.Contains(log, `msg="drive spun down" disk=sd`) || strings.Contains(log, "spindown failed") {
		t.Errorf("the job did not spin the drive down:\n%s", log)
	}

	// Again: not due, exit 22, one line.
	cmd = exec.CommandContext(ctx, "extdrive", "--config", cfgPath, "-q", "rotate", "C")
	errb.Reset()
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 22 {
		t.Errorf("second rotate: %v, want exit 22; stderr %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "drive is not due") {
		t.Errorf("stderr %q does not say the drive is not due", errb.String())
	}

	// The key stick is not plugged in: one clear line, exit 5 (no key
	// device), nothing left unlocked or mounted.
	stickCfg := filepath.Join(work, "stick.toml")
	os.WriteFile(stickCfg, []byte(fmt.Sprintf(`
state_dir = %q
log_dir = %q
[[source]]
path = %q
[[drive]]
name = "C"
uuid = %q
key = "/drive.key:UUID=eeeeeeee-1c4d-4e6f-9a0b-7c2d1e3f4a5b"
key_timeout = "1s"
mount_point = %q
`, filepath.Join(work, "state2"), filepath.Join(work, "log2"), src, uuidC, mnt)), 0o600)
	cmd = exec.CommandContext(ctx, "extdrive", "--config", stickCfg, "-q", "rotate", "C")
	errb.Reset()
	cmd.Stderr = &errb
	err = cmd.Run()
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		t.Errorf("rotate without the key stick: %v, want exit 5; stderr %s", err, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(errb.String()), "\n"); !strings.HasPrefix(lines[len(lines)-1], "extdrive: ensure C: ") ||
		!strings.Contains(lines[len(lines)-1], "key device not found") {
		t.Errorf("stderr %q: want a last line naming the step and the missing key device", errb.String())
	}
	if mappingOpen("luks-" + uuidC) {
		t.Error("mapping open after the failed unlock")
	}
}
