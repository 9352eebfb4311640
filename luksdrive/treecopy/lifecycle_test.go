//go:build linux

package treecopy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

// The test binary doubles as a child that runs one Snapshot or Mirror, so
// kill tests can SIGKILL a real run and benchmarks can read its rusage.
func TestMain(m *testing.M) {
	if mode := os.Getenv("TREECOPY_CHILD"); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

func childMain(mode string) int {
	src, dst := os.Getenv("TREECOPY_SRC"), os.Getenv("TREECOPY_DST")
	opts := &treecopy.Options{}
	if s := os.Getenv("TREECOPY_NOW"); s != "" {
		sec, _ := strconv.ParseInt(s, 10, 64)
		opts.Now = func() time.Time { return time.Unix(sec, 0) }
	}
	if w := os.Getenv("TREECOPY_WORKERS"); w != "" {
		opts.Workers, _ = strconv.Atoi(w)
	}
	var err error
	if mode == "mirror" {
		_, err = treecopy.Mirror(context.Background(), src, dst, opts)
	} else {
		_, err = treecopy.Snapshot(context.Background(), src, dst, opts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func childCmd(t testing.TB, mode, src, dst string, env ...string) *exec.Cmd {
	exe, err := os.Executable()
	must(t, err)
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "TREECOPY_CHILD="+mode, "TREECOPY_SRC="+src, "TREECOPY_DST="+dst)
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

// makeBulk adds n files of up to maxSize bytes in a few directories.
func makeBulk(t testing.TB, root string, n, maxSize int, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	buf := make([]byte, maxSize)
	rng.Read(buf)
	for i := range n {
		dir := filepath.Join(root, "bulk", fmt.Sprintf("%02d", i%37))
		must(t, os.MkdirAll(dir, 0o755))
		sz := rng.Intn(maxSize)
		must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%05d", i)), buf[rng.Intn(maxSize-sz+1):][:sz], 0o644))
	}
}

func snapshotDirs(t testing.TB, root string) []string {
	ents, err := os.ReadDir(root)
	must(t, err)
	var out []string
	for _, e := range ents {
		if _, _, ok := treecopy.ParseSnapshotName(e.Name()); ok && e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// TestKillAnywhere SIGKILLs snapshot runs at random points. After every
// kill each complete snapshot is byte-for-byte what it was, latest names a
// complete snapshot, and the next run produces a complete snapshot.
func TestKillAnywhere(t *testing.T) {
	requireRoot(t)
	if testing.Short() {
		t.Skip("kill test takes a while")
	}
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	makeTree(t, src, 5)
	makeBulk(t, src, 1000, 32<<10, 5)
	must(t, os.Mkdir(root, 0o755))

	complete := map[string]tree{} // snapshot name -> what it held when it completed
	nowSec := day0.Unix()
	next := func() string { nowSec += 86400; return strconv.FormatInt(nowSec, 10) }

	// Each round rewrites part of the source, so runs copy as well as link.
	change := func(i int) {
		must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("round%02d", i)), bytes.Repeat([]byte{byte(i)}, 100<<10), 0o644))
		must(t, os.WriteFile(filepath.Join(src, "small.txt"), []byte(fmt.Sprintf("round %d", i)), 0o644))
		makeBulk(t, filepath.Join(src, "churn"), 200, 32<<10, int64(i))
	}
	// A first run, then a timed incremental one like those killed below.
	var full time.Duration
	for i := range 2 {
		change(-1 - i)
		start := time.Now()
		cmd := childCmd(t, "snapshot", src, root, "TREECOPY_NOW="+next())
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		}
		full = time.Since(start)
	}
	names := snapshotDirs(t, root)
	for _, n := range names {
		complete[n] = scanTree(t, filepath.Join(root, n))
	}

	measured := full
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	const rounds = 15
	killedMidway := 0
	for i := range rounds {
		change(i)
		srcTree := scanTree(t, src)

		cmd := childCmd(t, "snapshot", src, root, "TREECOPY_NOW="+next())
		delay := time.Duration(rng.Int63n(int64(full) * 11 / 10))
		start := time.Now()
		must(t, cmd.Start())
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
			// It finished before its kill point. The timed run above may
			// have been slowed by a loaded machine, making most kill
			// points fall after the end of a run: aim at this run's
			// length from now on.
			full = min(full, time.Since(start))
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			err = <-exited
		}
		if err != nil {
			killedMidway++
		}

		// A snapshot that appeared under its final name completed before
		// the kill: it must equal the source.
		for _, n := range snapshotDirs(t, root) {
			if _, ok := complete[n]; ok {
				continue
			}
			got := scanTree(t, filepath.Join(root, n))
			if diff := cmp.Diff(srcTree, got, rootIgnored); diff != "" {
				t.Fatalf("round %d (killed after %v): snapshot %s is published but incomplete (-source +snapshot):\n%s", i, delay, n, diff)
			}
			complete[n] = got
		}
		checkComplete(t, root, complete, fmt.Sprintf("round %d, killed after %v", i, delay))

		// The next run cleans up and completes.
		res, err := treecopy.Snapshot(context.Background(), src, root, &treecopy.Options{Now: func() time.Time { return time.Unix(nowSec+3600, 0) }})
		if err != nil {
			t.Fatalf("round %d: run after the kill: %v", i, err)
		}
		got := scanTree(t, res.Path)
		if diff := cmp.Diff(srcTree, got, rootIgnored); diff != "" {
			t.Fatalf("round %d: run after the kill is incomplete (-source +snapshot):\n%s", i, diff)
		}
		complete[filepath.Base(res.Path)] = got
		checkComplete(t, root, complete, fmt.Sprintf("round %d, after the next run", i))
		if left, _ := filepath.Glob(filepath.Join(root, "*.inprogress")); len(left) != 0 {
			t.Fatalf("round %d: leftovers remain after a complete run: %v", i, left)
		}
	}
	t.Logf("%d of %d runs killed before they finished (a full run takes %v; kill points aimed within %v)", killedMidway, rounds, measured, full*11/10)
	if killedMidway == 0 {
		t.Fatal("no run was killed midway: the kill points did not test anything")
	}
}

// rootIgnored drops nothing; it exists so call sites read as a choice.
var rootIgnored = cmp.Options{}

// checkComplete compares the oldest and the three newest complete
// snapshots with what they held (all of them would make the test
// quadratic; a run only ever touches the newest).
func checkComplete(t *testing.T, root string, complete map[string]tree, when string) {
	t.Helper()
	var names []string
	for n := range complete {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) > 4 {
		names = append(names[:1], names[len(names)-3:]...)
	}
	for _, n := range names {
		want := complete[n]
		if diff := cmp.Diff(want, scanTree(t, filepath.Join(root, n))); diff != "" {
			t.Fatalf("%s: complete snapshot %s changed (-before +after):\n%s", when, n, diff)
		}
	}
	l, err := os.Readlink(filepath.Join(root, "latest"))
	if err != nil {
		t.Fatalf("%s: latest: %v", when, err)
	}
	if _, ok := complete[l]; !ok {
		t.Fatalf("%s: latest -> %q, which is not a complete snapshot", when, l)
	}
}

// TestNoSpace fills a small tmpfs: the run stops, the partial snapshot is
// removed, the previous one is intact, the error says how much was needed,
// and a run that fits afterwards completes.
func TestNoSpace(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.Mkdir(root, 0o755))
	if err := unix.Mount("tmpfs", root, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "size=8m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v", err)
		}
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(root, unix.MNT_DETACH) })
	must(t, os.MkdirAll(filepath.Join(src, "d"), 0o755))
	rnd := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(rnd)
	must(t, os.WriteFile(filepath.Join(src, "d/first"), rnd, 0o644))

	res1, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	must(t, err)
	first := scanTree(t, res1.Path)

	for i := range 3 {
		rnd[0] = byte(i + 1)
		must(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("d/more%d", i)), rnd, 0o644))
	}
	_, err = treecopy.Snapshot(context.Background(), src, root, at(1))
	var se *treecopy.SpaceError
	if !errors.Is(err, treecopy.ErrNoSpace) || !errors.As(err, &se) {
		t.Fatalf("err = %v, want a *SpaceError", err)
	}
	if se.Needed != 9<<20 {
		t.Errorf("Needed = %d, want %d (three new 3 MiB files; the old one is linked)", se.Needed, 9<<20)
	}
	if se.Available < 4<<20 || se.Available > 8<<20 {
		t.Errorf("Available = %d, want the ~5 MiB left after the cleanup", se.Available)
	}
	if !strings.Contains(err.Error(), "9.0 MiB") {
		t.Errorf("message does not say what was needed: %q", err)
	}
	if diff := cmp.Diff([]string{filepath.Base(res1.Path)}, snapshotDirs(t, root)); diff != "" {
		t.Errorf("snapshots after ENOSPC (-want +got):\n%s", diff)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "*.inprogress")); len(left) != 0 {
		t.Errorf("partial snapshot not removed: %v", left)
	}
	if diff := cmp.Diff(first, scanTree(t, res1.Path)); diff != "" {
		t.Errorf("previous snapshot changed (-before +after):\n%s", diff)
	}
	if l, _ := os.Readlink(filepath.Join(root, "latest")); l != filepath.Base(res1.Path) {
		t.Errorf("latest -> %q, want the previous snapshot", l)
	}

	must(t, os.Remove(filepath.Join(src, "d/more1")))
	must(t, os.Remove(filepath.Join(src, "d/more2")))
	res3, err := treecopy.Snapshot(context.Background(), src, root, at(2))
	if err != nil {
		t.Fatalf("a run that fits after ENOSPC: %v", err)
	}
	if diff := cmp.Diff(scanTree(t, src), scanTree(t, res3.Path)); diff != "" {
		t.Errorf("snapshot after ENOSPC (-source +snapshot):\n%s", diff)
	}
}

// TestCancel: a cancelled run removes its partial snapshot and reports
// the cancellation; the previous snapshot stays.
func TestCancel(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	makeBulk(t, src, 3000, 32<<10, 9)
	must(t, os.Mkdir(root, 0o755))
	res1, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(src, "bulk/00/f00000"), []byte("changed"), 0o644))

	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int32
	opts := at(1)
	// Cancel from inside the run: at the first progress report.
	opts.ProgressInterval = time.Microsecond
	opts.Progress = func(p treecopy.Progress) {
		if calls.Add(1) == 1 {
			cancel()
		}
	}
	_, err = treecopy.Snapshot(ctx, src, root, opts)
	if !errors.Is(err, context.Canceled) {
		// The whole run fit before the first tick; cancel up front instead.
		if err == nil {
			t.Logf("run finished before the first progress tick")
		} else {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := treecopy.Snapshot(ctx2, src, root, at(5)); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled run: err = %v, want context.Canceled", err)
	}
	if left, _ := filepath.Glob(filepath.Join(root, "*.inprogress")); len(left) != 0 {
		t.Errorf("partial snapshot not removed: %v", left)
	}
	if _, err := os.Stat(res1.Path); err != nil {
		t.Errorf("previous snapshot: %v", err)
	}
}

// TestChangedWhileReading: a file rewritten during its copy is reported,
// and the next run copies it again rather than linking the torn copy.
func TestChangedWhileReading(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(root, 0o755))
	big := filepath.Join(src, "growing.log")
	must(t, os.WriteFile(big, bytes.Repeat([]byte("0123456789abcdef"), 16<<20), 0o644)) // 256 MiB

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Start writing once the copy has begun (its destination file
		// exists), and keep writing until the run returns.
		for {
			select {
			case <-stop:
				return
			default:
			}
			m, _ := filepath.Glob(filepath.Join(root, "*.inprogress", "growing.log"))
			if len(m) > 0 {
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
		f, err := os.OpenFile(big, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		defer f.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.WriteAt([]byte{byte(i)}, int64(i%1000)*4096)
		}
	}()
	res, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	close(stop)
	<-done
	must(t, err)
	if diff := cmp.Diff([]string{"growing.log"}, res.Changed); diff != "" {
		t.Fatalf("Changed (-want +got):\n%s", diff)
	}
	res2, err := treecopy.Snapshot(context.Background(), src, root, at(1))
	must(t, err)
	if res2.Copied != 1 || res2.Linked != 0 {
		t.Errorf("next run: copied %d linked %d, want the changed file copied again", res2.Copied, res2.Linked)
	}
	if diff := cmp.Diff(scanTree(t, src), scanTree(t, res2.Path)); diff != "" {
		t.Errorf("next snapshot (-source +snapshot):\n%s", diff)
	}
}

// TestRetentionPrunes: old snapshots go only once the new one is complete.
func TestRetentionPrunes(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	must(t, os.Mkdir(root, 0o755))
	must(t, os.Mkdir(filepath.Join(root, "not-a-snapshot"), 0o755))
	var last *treecopy.Result
	for _, d := range []int{0, 10, 20, 40, 41, 42} {
		opts := at(d)
		opts.Retention = &treecopy.Retention{Last: 2, Monthly: 2}
		res, err := treecopy.Snapshot(context.Background(), src, root, opts)
		must(t, err)
		last = res
	}
	want := []string{"2026-01-21T020000Z", "2026-02-11T020000Z", "2026-02-12T020000Z"}
	if diff := cmp.Diff(want, snapshotDirs(t, root)); diff != "" {
		t.Errorf("kept snapshots (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2026-02-10T020000Z"}, last.Pruned); diff != "" {
		t.Errorf("last run pruned (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(root, "not-a-snapshot")); err != nil {
		t.Errorf("a foreign directory was pruned: %v", err)
	}
}

// TestVerifyAndProgress: --verify on a clean copy finds nothing; progress
// ends with a Done report whose counts match the result.
func TestVerifyAndProgress(t *testing.T) {
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	makeBulk(t, src, 200, 100<<10, 3)
	var lastP treecopy.Progress
	var n int
	res, err := treecopy.Mirror(context.Background(), src, dst, &treecopy.Options{
		Verify: true, Scan: true, ProgressInterval: time.Millisecond,
		Progress: func(p treecopy.Progress) { lastP = p; n++ },
	})
	must(t, err)
	if len(res.Mismatches) != 0 {
		t.Errorf("Mismatches = %v", res.Mismatches)
	}
	if !lastP.Done || lastP.Files != res.Files || lastP.Written != res.Bytes || lastP.TotalFiles != 200 || lastP.Bytes != lastP.TotalBytes {
		t.Errorf("last progress %+v, result files %d bytes %d", lastP, res.Files, res.Bytes)
	}
	if n < 2 {
		t.Errorf("%d progress calls", n)
	}

	// A no-change pass writes nothing but still reaches the total.
	res, err = treecopy.Mirror(context.Background(), src, dst, &treecopy.Options{
		Scan: true, ProgressInterval: time.Hour,
		Progress: func(p treecopy.Progress) { lastP = p },
	})
	must(t, err)
	if lastP.Written != 0 || lastP.Bytes != lastP.TotalBytes || lastP.TotalBytes == 0 {
		t.Errorf("no-change pass: last progress %+v", lastP)
	}
}
