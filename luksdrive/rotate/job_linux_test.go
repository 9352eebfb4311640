package rotate

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// bindOps stands in for the drive layer (tested in package luksdrive and
// in this package's VM test) with real bind mounts of a directory per
// drive, so the job's own steps run for real: the copy engine, hooks,
// wrapper, histories on both sides, logs, pings, and the unmount.
type bindOps struct {
	t       *testing.T
	backing map[string]string // drive name -> directory playing its filesystem
	mu      sync.Mutex
	events  []string
}

func (b *bindOps) event(s string) {
	b.mu.Lock()
	b.events = append(b.events, s)
	b.mu.Unlock()
}

func (b *bindOps) present(_ context.Context, d *config.Drive) bool {
	_, ok := b.backing[d.Name]
	return ok
}

func (b *bindOps) ensure(_ context.Context, d *config.Drive, _ []byte, _ *slog.Logger) (string, error) {
	src, ok := b.backing[d.Name]
	if !ok {
		return "", errors.New("not plugged in")
	}
	if err := os.MkdirAll(d.MountPoint, 0o755); err != nil {
		return "", err
	}
	if err := unix.Mount(src, d.MountPoint, "", unix.MS_BIND, ""); err != nil {
		return "", err
	}
	b.event("ensure " + d.Name)
	return d.MountPoint, nil
}

func (b *bindOps) release(_ context.Context, d *config.Drive, _ *slog.Logger) error {
	if err := unix.Unmount(d.MountPoint, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return err
	}
	b.event("release " + d.Name)
	return nil
}

func (b *bindOps) spindown(_ context.Context, d *config.Drive, _ *slog.Logger) error {
	b.event("spindown " + d.Name)
	return nil
}

type jobEnv struct {
	c    *config.Config
	ops  *bindOps
	src  string
	ping *pingServer
	now  time.Time
	dir  string
}

func newJobEnv(t *testing.T) *jobEnv {
	if os.Geteuid() != 0 {
		t.Skip("needs root for bind mounts")
	}
	probe := t.TempDir()
	if err := unix.Mount(probe, probe, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mounts not permitted here: %v", err)
	}
	unix.Unmount(probe, 0)
	dir := t.TempDir()
	e := &jobEnv{dir: dir, src: filepath.Join(dir, "src"), ping: newPingServer(t),
		now: time.Date(2026, 1, 2, 19, 0, 0, 0, time.UTC)}
	os.MkdirAll(filepath.Join(e.src, "photos"), 0o755)
	os.WriteFile(filepath.Join(e.src, "photos", "a.jpg"), []byte("jpeg data"), 0o644)
	os.WriteFile(filepath.Join(e.src, "skip.tmp"), []byte("scratch"), 0o644)
	e.ops = &bindOps{t: t, backing: map[string]string{}}
	cfgText := `
state_dir = "` + dir + `/state"
log_dir = "` + dir + `/log"
[[source]]
path = "` + e.src + `"
name = "data"
exclude = ["*.tmp"]
[hooks]
pre = "echo pre $EXTDRIVE_DRIVE"
post = "echo post $EXTDRIVE_RESULT >> ` + dir + `/post.out"
[notify]
ping_url = "` + e.ping.srv.URL + `/check"
on_failure = "cat > ` + dir + `/failure.mail"
[spindown]
enabled = true
[[drive]]
name = "A"
uuid = "5b8f3a2e-1c4d-4e6f-9a0b-7c2d1e3f4a5b"
key = "/etc/extdrive/a.key"
mount_point = "` + dir + `/mnt"
[[drive]]
name = "B"
uuid = "c3d4e5f6-a7b8-4c9d-8e0f-1a2b3c4d5e6f"
key = "/etc/extdrive/b.key"
mount_point = "` + dir + `/mnt"
`
	c, err := config.Parse("test.toml", []byte(cfgText))
	if err != nil {
		t.Fatal(err)
	}
	e.c = c
	for _, n := range []string{"A", "B"} {
		os.MkdirAll(filepath.Join(dir, "disk-"+n), 0o755)
	}
	t.Cleanup(func() { unix.Unmount(filepath.Join(dir, "mnt"), 0) })
	return e
}

func (e *jobEnv) plug(names ...string) {
	e.ops.backing = map[string]string{}
	for _, n := range names {
		e.ops.backing[n] = filepath.Join(e.dir, "disk-"+n)
	}
}

func (e *jobEnv) run(drive string, mod func(*Options)) (*Result, error) {
	o := &Options{Drive: drive, Now: func() time.Time { return e.now }, ops: e.ops}
	if mod != nil {
		mod(o)
	}
	return Run(context.Background(), e.c, o)
}

func (e *jobEnv) mounted() bool {
	var st, pst unix.Stat_t
	unix.Stat(filepath.Join(e.dir, "mnt"), &st)
	unix.Stat(e.dir, &pst)
	return st.Dev != pst.Dev
}

func TestJob(t *testing.T) {
	e := newJobEnv(t)
	e.plug("A")

	// First run: A is due, copied, recorded on both sides.
	res, err := e.run("", nil)
	if err != nil {
		t.Fatalf("first run: %v", err)
	}
	if res.Drive != "A" || !res.Record.OK || res.Record.Snapshot == "" {
		t.Fatalf("first run result %+v", res.Record)
	}
	snap := filepath.Join(e.dir, "disk-A", "extdrive", "data", res.Record.Snapshot)
	if b, err := os.ReadFile(filepath.Join(snap, "photos", "a.jpg")); err != nil || string(b) != "jpeg data" {
		t.Errorf("snapshot content: %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(snap, "skip.tmp")); !os.IsNotExist(err) {
		t.Errorf("excluded file copied: %v", err)
	}
	if e.mounted() {
		t.Error("drive still mounted after the job")
	}
	if diff := cmp.Diff([]string{"ensure A", "release A", "spindown A"}, e.ops.events); diff != "" {
		t.Errorf("drive steps (-want +got):\n%s", diff)
	}
	hostH, _ := ReadHistory(HostHistoryPath(e.c))
	driveH, _ := ReadHistory(DriveHistoryPath(filepath.Join(e.dir, "disk-A")))
	if len(hostH.Runs) != 1 || len(driveH.Runs) != 1 || !hostH.Runs[0].OK || !driveH.Runs[0].OK {
		t.Errorf("histories: host %+v drive %+v; want the good run in both", hostH.Runs, driveH.Runs)
	}
	pings := e.ping.got()
	if len(pings) != 2 || !strings.HasPrefix(pings[0], "POST /check/start rid="+res.Record.ID) || !strings.HasPrefix(pings[1], "POST /check rid=") {
		t.Errorf("pings %q, want /start then success", pings)
	}
	logText, _ := os.ReadFile(filepath.Join(LogDir(e.c, "A"), res.Record.Log))
	for _, want := range []string{"pre A", "copied", "safe to unplug"} {
		if !strings.Contains(string(logText), want) {
			t.Errorf("run log lacks %q:\n%s", want, logText)
		}
	}

	// A again: not due, nothing touched.
	e.now = e.now.Add(time.Hour)
	e.ops.events = nil
	_, err = e.run("A", nil)
	if !errors.Is(err, ErrNotDue) || !strings.Contains(err.Error(), "B's turn") {
		t.Errorf("A again: %v, want ErrNotDue naming B's turn", err)
	}
	if len(e.ops.events) != 0 {
		t.Errorf("a not-due drive was touched: %v", e.ops.events)
	}

	// A second instance for the same drive exits with ErrAlreadyRunning.
	lk, err := lockDrive(e.c.StateDir, "B")
	if err != nil {
		t.Fatal(err)
	}
	e.plug("B")
	if _, err := e.run("B", nil); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second instance: %v, want ErrAlreadyRunning", err)
	}
	lk.unlock()

	// B: due, copies.
	e.now = e.now.AddDate(0, 1, 0)
	if _, err := e.run("", nil); err != nil {
		t.Fatalf("B: %v", err)
	}

	// The source's disk failed to mount: it looks empty. Refused, the
	// previous copy untouched, red path taken, drive released.
	os.RemoveAll(e.src)
	os.MkdirAll(e.src, 0o755)
	e.plug("A")
	e.now = e.now.AddDate(0, 1, 0)
	e.ops.events = nil
	res, err = e.run("A", nil)
	if !errors.Is(err, ErrEmptySource) {
		t.Fatalf("empty source: %v, want ErrEmptySource", err)
	}
	var op *OpError
	if !errors.As(err, &op) || op.Op != "check-source" || op.Drive != "A" {
		t.Errorf("error %v: want an *OpError for step check-source on A", err)
	}
	if res.Record == nil || res.Record.OK {
		t.Errorf("failed run recorded as %+v", res.Record)
	}
	if _, err := os.Stat(filepath.Join(snap, "photos", "a.jpg")); err != nil {
		t.Errorf("previous snapshot damaged: %v", err)
	}
	if e.mounted() || !cmp.Equal([]string{"ensure A", "release A"}, e.ops.events) {
		t.Errorf("after failure: mounted %v, steps %v; want released, no spindown", e.mounted(), e.ops.events)
	}
	mail, _ := os.ReadFile(filepath.Join(e.dir, "failure.mail"))
	if !strings.Contains(string(mail), "source missing or empty") {
		t.Errorf("failure command got %q, want the log tail naming the problem", mail)
	}
	pings = e.ping.got()
	if last := pings[len(pings)-1]; !strings.HasPrefix(last, "POST /check/fail") || !strings.Contains(last, "source missing or empty") {
		t.Errorf("last ping %q, want /fail with the log tail", last)
	}
	post, _ := os.ReadFile(filepath.Join(e.dir, "post.out"))
	if got := strings.Fields(string(post)); !cmp.Equal(got, []string{"post", "ok", "post", "ok", "post", "failed"}) {
		t.Errorf("post hook ran as %q; want after every run, with the result", got)
	}

	// --allow-empty: the user really emptied it.
	if _, err := e.run("A", func(o *Options) { o.AllowEmpty = true }); err != nil {
		t.Errorf("--allow-empty: %v", err)
	}
}

func TestJobHookTimeoutAndRebuild(t *testing.T) {
	e := newJobEnv(t)
	e.plug("A")
	if _, err := e.run("A", nil); err != nil {
		t.Fatal(err)
	}
	// The SD card died: the host history is gone. A is plugged in again
	// an hour later; the host alone thinks it never had a copy, the drive
	// knows better, and the host history is rebuilt from it.
	os.Remove(HostHistoryPath(e.c))
	e.now = e.now.Add(time.Hour)
	_, err := e.run("A", nil)
	if !errors.Is(err, ErrNotDue) || !strings.Contains(err.Error(), "drive's history") {
		t.Errorf("after host history loss: %v, want ErrNotDue from the drive's history", err)
	}
	h, _ := ReadHistory(HostHistoryPath(e.c))
	if h.LastGood("A") == nil {
		t.Errorf("host history not rebuilt from the drive: %+v", h.Runs)
	}
	if e.mounted() {
		t.Error("left mounted after the not-due decision")
	}

	// A pre hook that hangs is killed at its timeout and fails the job.
	e.c.Hooks.Pre = config.Command{"/bin/sh", "-c", "sleep 600"}
	e.c.Hooks.PreTimeout = config.Duration(200 * time.Millisecond)
	e.plug("B")
	_, err = e.run("B", nil)
	if !errors.Is(err, ErrHook) || !strings.Contains(err.Error(), "did not finish within 200ms") {
		t.Errorf("hanging pre hook: %v, want ErrHook timeout", err)
	}
	if e.mounted() {
		t.Error("left mounted after the hook failed")
	}
	if _, err := os.Stat(filepath.Join(e.dir, "disk-B", "extdrive")); !os.IsNotExist(err) {
		t.Errorf("copy ran despite the failed pre hook: %v", err)
	}
}

// A drive that cannot be unlocked (here: not plugged in) fails the job
// without a release: the mount point may belong to the other drive now.
func TestJobEnsureFails(t *testing.T) {
	e := newJobEnv(t)
	e.plug("A")
	res, err := e.run("B", nil)
	var op *OpError
	if !errors.As(err, &op) || op.Op != "ensure" || !strings.Contains(err.Error(), "not plugged in") {
		t.Fatalf("run B = %v, want an ensure error", err)
	}
	if len(e.ops.events) != 0 {
		t.Errorf("drive steps %v after a failed ensure, want none", e.ops.events)
	}
	if res.Record == nil || res.Record.OK || res.Record.Error == "" {
		t.Errorf("record %+v, want a failed run with its error", res.Record)
	}
	h, _ := ReadHistory(HostHistoryPath(e.c))
	if f := h.LastFailure(); f == nil || f.Drive != "B" {
		t.Errorf("host history %+v, want B's failure recorded", h.Runs)
	}
}

// SIGTERM (systemd stopping the job because the drive was pulled) cancels
// the context mid-job: the drive is still released, the post hook still
// runs, the failure is reported.
func TestJobCancelled(t *testing.T) {
	e := newJobEnv(t)
	e.plug("A")
	started := filepath.Join(e.dir, "pre-started")
	e.c.Hooks.Pre = config.Command{"/bin/sh", "-c", "touch " + started + "; sleep 600"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			if _, err := os.Stat(started); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err := Run(ctx, e.c, &Options{Drive: "A", Now: func() time.Time { return e.now }, ops: e.ops})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled run = %v, want context.Canceled", err)
	}
	if e.mounted() || !cmp.Equal([]string{"ensure A", "release A"}, e.ops.events) {
		t.Errorf("after cancel: mounted %v, steps %v; want released", e.mounted(), e.ops.events)
	}
	post, _ := os.ReadFile(filepath.Join(e.dir, "post.out"))
	if strings.TrimSpace(string(post)) != "post failed" {
		t.Errorf("post hook output %q, want it run with the failed result", post)
	}
	if l := e.ping.got(); len(l) == 0 || !strings.HasPrefix(l[len(l)-1], "POST /check/fail") {
		t.Errorf("pings %q, want /fail last", l)
	}
}

// Mirror mode keeps one tree; an empty source must not wipe it.
func TestJobMirror(t *testing.T) {
	e := newJobEnv(t)
	e.c.Copy.Mode = config.ModeMirror
	e.plug("A")
	res, err := e.run("A", nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Snapshot != "" {
		t.Errorf("mirror run recorded snapshot %q", res.Record.Snapshot)
	}
	mirror := filepath.Join(e.dir, "disk-A", "extdrive", "data")
	if b, err := os.ReadFile(filepath.Join(mirror, "photos", "a.jpg")); err != nil || string(b) != "jpeg data" {
		t.Fatalf("mirror content %q, %v", b, err)
	}
	os.RemoveAll(e.src)
	os.MkdirAll(e.src, 0o755)
	e.now = e.now.AddDate(0, 2, 0)
	if _, err := e.run("A", nil); !errors.Is(err, ErrEmptySource) {
		t.Fatalf("empty source over a mirror: %v, want ErrEmptySource", err)
	}
	if _, err := os.Stat(filepath.Join(mirror, "photos", "a.jpg")); err != nil {
		t.Errorf("mirror wiped by a refused run: %v", err)
	}
	// A missing source is refused even with --allow-empty.
	os.RemoveAll(e.src)
	e.now = e.now.AddDate(0, 2, 0)
	if _, err := e.run("A", func(o *Options) { o.AllowEmpty = true }); !errors.Is(err, ErrEmptySource) || !strings.Contains(err.Error(), "is its disk mounted?") {
		t.Errorf("missing source: %v, want ErrEmptySource", err)
	}
}
