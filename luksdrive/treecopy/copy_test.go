//go:build linux

package treecopy_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

var day0 = time.Date(2026, 1, 1, 2, 0, 0, 0, time.UTC)

func at(days int) *treecopy.Options {
	return &treecopy.Options{Now: func() time.Time { return day0.AddDate(0, 0, days) }}
}

// TestSnapshotMatchesRsync: a snapshot equals what rsync -aHAX makes from
// the same source, metadata included; a second snapshot links what did
// not change and leaves the first one untouched.
func TestSnapshotMatchesRsync(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	src, ref, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "ref"), filepath.Join(tmp, "root")
	makeTree(t, src, 1)
	must(t, os.Mkdir(root, 0o755))
	rsyncRef(t, src, ref)

	res1, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	if err != nil {
		t.Fatal(err)
	}
	first := scanTree(t, res1.Path)
	if diff := cmp.Diff(scanTree(t, ref), first); diff != "" {
		t.Fatalf("first snapshot differs from rsync -aHAX (-rsync +snapshot):\n%s", diff)
	}
	// Sparse files stay sparse (rsync without --sparse fills them, so this
	// is checked against the source).
	for _, f := range []string{"sparse.img", "a/hole"} {
		if got, want := allocated(t, filepath.Join(res1.Path, f)), allocated(t, filepath.Join(src, f)); got > want+64<<10 {
			t.Errorf("%s: %d bytes allocated in the snapshot, %d in the source", f, got, want)
		}
	}
	// The only links in a first snapshot are the source's own hard links
	// (h1 has two more names, p1 one).
	if res1.Linked != 3 {
		t.Errorf("first snapshot: linked %d, want 3", res1.Linked)
	}

	// Change the source: new content, a new file, a removed file, a
	// metadata-only change.
	must(t, os.WriteFile(filepath.Join(src, "small.txt"), []byte("changed content"), 0o644))
	must(t, os.WriteFile(filepath.Join(src, "a/new"), []byte("new"), 0o644))
	must(t, os.Remove(filepath.Join(src, "p2")))
	must(t, os.Chmod(filepath.Join(src, "a/b/exec"), 0o700))
	// rsync 3.5.0 leaves a directory mtime from the current second
	// unset (it then carries the time rsync wrote into it); keep the
	// modified directories' times in the past for the reference.
	setTime(t, filepath.Join(src, "a"), 1_700_000_000, 11)
	setTime(t, src, 1_700_000_000, 12)
	ref2 := filepath.Join(tmp, "ref2")
	rsyncRef(t, src, ref2)

	res2, err := treecopy.Snapshot(context.Background(), src, root, at(1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(scanTree(t, ref2), scanTree(t, res2.Path)); diff != "" {
		t.Fatalf("second snapshot differs from rsync -aHAX (-rsync +snapshot):\n%s", diff)
	}
	if diff := cmp.Diff(first, scanTree(t, res1.Path)); diff != "" {
		t.Fatalf("first snapshot changed by the second run (-before +after):\n%s", diff)
	}
	sameInode := func(rel string) bool {
		var a, b unix.Stat_t
		must(t, unix.Lstat(filepath.Join(res1.Path, rel), &a))
		must(t, unix.Lstat(filepath.Join(res2.Path, rel), &b))
		return a.Ino == b.Ino
	}
	for _, rel := range []string{"big.bin", "sparse.img", "h1", "a/h2", "a/b/c/nested.txt"} {
		if !sameInode(rel) {
			t.Errorf("%s is unchanged but was not hard-linked from the previous snapshot", rel)
		}
	}
	for _, rel := range []string{"small.txt", "a/b/exec"} {
		if sameInode(rel) {
			t.Errorf("%s changed but was hard-linked from the previous snapshot", rel)
		}
	}
	latest, err := os.Readlink(filepath.Join(root, "latest"))
	must(t, err)
	if latest != filepath.Base(res2.Path) {
		t.Errorf("latest -> %q, want %q", latest, filepath.Base(res2.Path))
	}
	if ents, _ := filepath.Glob(filepath.Join(root, "*.inprogress")); len(ents) != 0 {
		t.Errorf("leftovers after a clean run: %v", ents)
	}
}

// buildMirrorDest fills dst with stale content that a mirror must fix:
// other contents and times, extra entries, and every kind of type change.
func buildMirrorDest(t *testing.T, dst, outside string) {
	makeTree(t, dst, 2)
	must(t, os.Chmod(filepath.Join(dst, "ro"), 0o755))
	// file -> dir, dir -> file, symlink -> dir, fifo -> file, dir -> symlink
	must(t, os.Remove(filepath.Join(dst, "small.txt")))
	must(t, os.MkdirAll(filepath.Join(dst, "small.txt/sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dst, "small.txt/sub/x"), []byte("x"), 0o644))
	must(t, os.RemoveAll(filepath.Join(dst, "a/b/c")))
	must(t, os.WriteFile(filepath.Join(dst, "a/b/c"), []byte("now a file"), 0o644))
	must(t, os.Remove(filepath.Join(dst, "rel-link")))
	must(t, os.Mkdir(filepath.Join(dst, "rel-link"), 0o755))
	must(t, os.Remove(filepath.Join(dst, "fifo")))
	must(t, os.WriteFile(filepath.Join(dst, "fifo"), []byte("was a fifo"), 0o644))
	must(t, os.RemoveAll(filepath.Join(dst, "tmpdir")))
	must(t, os.Symlink("small.txt", filepath.Join(dst, "tmpdir")))
	// Extra entries to delete, and an extra xattr on a kept file.
	must(t, os.MkdirAll(filepath.Join(dst, "extra/deep/er"), 0o755))
	must(t, os.WriteFile(filepath.Join(dst, "extra/deep/er/f"), []byte("f"), 0o644))
	must(t, os.WriteFile(filepath.Join(dst, "a/extra"), []byte("f"), 0o644))
	must(t, unix.Setxattr(filepath.Join(dst, "empty"), "user.stale", []byte("stale"), 0))
	// Planted symlinks where the source has a directory and a file: a
	// mirror must replace them, never write through them.
	must(t, os.RemoveAll(filepath.Join(dst, "shared")))
	must(t, os.Symlink(outside, filepath.Join(dst, "shared")))
	must(t, os.Remove(filepath.Join(dst, "big.bin")))
	must(t, os.Symlink(filepath.Join(outside, "victim"), filepath.Join(dst, "big.bin")))
}

// TestMirrorMatchesRsync: starting from the same stale destination, Mirror
// and rsync -aHAX --delete end with equal trees: deletions, type changes,
// content and metadata fixes.
func TestMirrorMatchesRsync(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	src, ref, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "ref"), filepath.Join(tmp, "dst")
	outside := filepath.Join(tmp, "outside")
	must(t, os.MkdirAll(outside, 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "victim"), []byte("must stay"), 0o644))
	before := scanTree(t, outside)
	makeTree(t, src, 1)
	buildMirrorDest(t, ref, outside)
	buildMirrorDest(t, dst, outside)
	rsyncRef(t, src, ref)

	res, err := treecopy.Mirror(context.Background(), src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := scanTree(t, ref)
	if diff := cmp.Diff(want, scanTree(t, dst)); diff != "" {
		t.Fatalf("mirror differs from rsync -aHAX --delete (-rsync +mirror):\n%s", diff)
	}
	if diff := cmp.Diff(before, scanTree(t, outside)); diff != "" {
		t.Fatalf("a write escaped through a planted symlink (-before +after):\n%s", diff)
	}
	if res.Deleted == 0 {
		t.Errorf("Deleted = 0, want the extra entries counted")
	}

	// A second pass changes nothing.
	res, err = treecopy.Mirror(context.Background(), src, dst, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != 0 || res.Deleted != 0 || res.Bytes != 0 {
		t.Errorf("no-change pass: copied %d deleted %d bytes %d, want 0", res.Copied, res.Deleted, res.Bytes)
	}
	if diff := cmp.Diff(want, scanTree(t, dst)); diff != "" {
		t.Fatalf("no-change pass altered the mirror (-rsync +mirror):\n%s", diff)
	}

	// Metadata-only changes in the source: mode, owner, an xattr, an ACL.
	must(t, os.Chmod(filepath.Join(src, "small.txt"), 0o600))
	must(t, os.Chown(filepath.Join(src, "empty"), 7, 8))
	must(t, unix.Setxattr(filepath.Join(src, "a/b/c/nested.txt"), "user.late", []byte("added"), 0))
	run(t, "setfacl", "-m", "u:99:r--", filepath.Join(src, "h1"))
	rsyncRef(t, src, ref)
	if _, err := treecopy.Mirror(context.Background(), src, dst, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(scanTree(t, ref), scanTree(t, dst)); diff != "" {
		t.Fatalf("metadata-only changes not mirrored (-rsync +mirror):\n%s", diff)
	}
}

// TestMirrorExcludes: excluded entries are neither copied nor deleted,
// exactly as with rsync --exclude.
func TestMirrorExcludes(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	src, ref, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "ref"), filepath.Join(tmp, "dst")
	makeTree(t, src, 3)
	for _, d := range []string{ref, dst} {
		must(t, os.MkdirAll(filepath.Join(d, "a/b"), 0o755))
		must(t, os.WriteFile(filepath.Join(d, "keep.bin"), []byte("excluded, kept"), 0o644))
		must(t, os.WriteFile(filepath.Join(d, "a/b/kept"), []byte("under an excluded dir"), 0o644))
		for _, p := range []string{"keep.bin", "a/b/kept", "a/b", "a", "."} {
			setTime(t, filepath.Join(d, p), 1_500_000_000, 5)
		}
	}
	excl := []string{"*.bin", "/a/b/", "ro", "d0*/**/leaf"}
	var args []string
	for _, e := range excl {
		args = append(args, "--exclude="+e)
	}
	rsyncRef(t, src, ref, args...)
	if _, err := treecopy.Mirror(context.Background(), src, dst, &treecopy.Options{Exclude: excl}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(scanTree(t, ref), scanTree(t, dst)); diff != "" {
		t.Fatalf("mirror with excludes differs from rsync (-rsync +mirror):\n%s", diff)
	}
}

// TestDeepTree: paths far beyond PATH_MAX copy exactly (every access is
// relative to a directory fd).
func TestDeepTree(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.Mkdir(src, 0o755))
	must(t, os.Mkdir(root, 0o755))
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	must(t, err)
	name := strings.Repeat("d", 40)
	for i := range 200 { // 200 * 41 bytes: twice PATH_MAX
		must(t, unix.Mkdirat(fd, name, 0o755))
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err)
		if i%50 == 0 {
			f, err := unix.Openat(fd, fmt.Sprintf("file%d", i), unix.O_WRONLY|unix.O_CREAT, 0o644)
			must(t, err)
			unix.Write(f, []byte("at depth"))
			unix.Close(f)
		}
		unix.Close(fd)
		fd = next
	}
	must(t, unix.Symlinkat("../..", fd, "up"))
	unix.Close(fd)
	res, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(scanTree(t, src), scanTree(t, res.Path)); diff != "" {
		t.Fatalf("deep tree differs (-source +snapshot):\n%s", diff)
	}
	if res.Dirs != 201 {
		t.Errorf("Dirs = %d, want 201", res.Dirs)
	}
}

// TestPlantedSymlinksInRoot: symlinks planted in ROOT (as latest, as a
// snapshot name, as a leftover) never lead a write, a link source or a
// deletion outside ROOT.
func TestPlantedSymlinksInRoot(t *testing.T) {
	tmp := t.TempDir()
	src, root, outside := filepath.Join(tmp, "src"), filepath.Join(tmp, "root"), filepath.Join(tmp, "outside")
	must(t, os.MkdirAll(filepath.Join(src, "a"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "a/f"), []byte("data"), 0o644))
	must(t, os.MkdirAll(filepath.Join(outside, "a"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "a/f"), []byte("data"), 0o644))
	must(t, os.Mkdir(root, 0o755))
	must(t, os.Symlink(outside, filepath.Join(root, "latest")))
	must(t, os.Symlink(outside, filepath.Join(root, "2025-12-31T000000Z")))
	must(t, os.Symlink(outside, filepath.Join(root, "2025-12-30T000000Z.inprogress")))
	must(t, os.Symlink(filepath.Join(outside, "a/f"), filepath.Join(root, ".latest.new")))
	before := scanTree(t, outside)

	opts := at(0)
	opts.Retention = &treecopy.Retention{Last: 1}
	res, err := treecopy.Snapshot(context.Background(), src, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, scanTree(t, outside)); diff != "" {
		t.Fatalf("outside ROOT changed (-before +after):\n%s", diff)
	}
	var st unix.Stat_t
	must(t, unix.Lstat(filepath.Join(res.Path, "a/f"), &st))
	var ost unix.Stat_t
	must(t, unix.Lstat(filepath.Join(outside, "a/f"), &ost))
	if st.Ino == ost.Ino {
		t.Fatal("a file was hard-linked from a symlinked 'snapshot' outside ROOT")
	}
	if res.Linked != 0 {
		t.Errorf("Linked = %d, want 0 (the only 'previous snapshot' is a planted symlink)", res.Linked)
	}
	if l, _ := os.Readlink(filepath.Join(root, "latest")); l != filepath.Base(res.Path) {
		t.Errorf("latest -> %q, want %q", l, filepath.Base(res.Path))
	}
	if _, err := os.Lstat(filepath.Join(root, "2025-12-30T000000Z.inprogress")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("planted leftover symlink not removed: %v", err)
	}
}

// TestLatestNotSymlink: a real directory named latest stops the run before
// anything is written.
func TestLatestNotSymlink(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "latest"), 0o755))
	_, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	if !errors.Is(err, treecopy.ErrDest) {
		t.Fatalf("err = %v, want ErrDest", err)
	}
	ents, _ := os.ReadDir(root)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if diff := cmp.Diff([]string{".extdrive-sync.lock", "latest"}, names); diff != "" {
		t.Errorf("ROOT contents (-want +got):\n%s", diff)
	}
}

func TestLocked(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.MkdirAll(root, 0o755))
	f, err := os.OpenFile(filepath.Join(root, ".extdrive-sync.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	must(t, err)
	defer f.Close()
	must(t, unix.Flock(int(f.Fd()), unix.LOCK_EX))
	if _, err := treecopy.Snapshot(context.Background(), src, root, at(0)); !errors.Is(err, treecopy.ErrLocked) {
		t.Fatalf("snapshot err = %v, want ErrLocked", err)
	}
	d, err := os.Open(root)
	must(t, err)
	defer d.Close()
	must(t, unix.Flock(int(d.Fd()), unix.LOCK_EX))
	if _, err := treecopy.Mirror(context.Background(), src, root, nil); !errors.Is(err, treecopy.ErrLocked) {
		t.Fatalf("mirror err = %v, want ErrLocked", err)
	}
}

func TestBadArguments(t *testing.T) {
	tmp := t.TempDir()
	must(t, os.WriteFile(filepath.Join(tmp, "file"), nil, 0o644))
	must(t, os.Mkdir(filepath.Join(tmp, "dir"), 0o755))
	tests := []struct {
		name      string
		src, dst  string
		opts      *treecopy.Options
		want      error
		mirror    bool
		createdIn string
	}{
		{name: "missing source", src: filepath.Join(tmp, "nope"), dst: filepath.Join(tmp, "dir"), want: treecopy.ErrSource},
		{name: "source is a file", src: filepath.Join(tmp, "file"), dst: filepath.Join(tmp, "dir"), want: treecopy.ErrSource},
		{name: "missing root", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "nope"), want: treecopy.ErrDest},
		{name: "root is a file", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "file"), want: treecopy.ErrDest},
		{name: "root is source", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "dir"), want: treecopy.ErrDest},
		{name: "bad exclude", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "dir"), opts: &treecopy.Options{Exclude: []string{"a//b"}}, want: treecopy.ErrBadPattern},
		{name: "mirror into itself", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "dir"), want: treecopy.ErrDest, mirror: true},
		{name: "mirror missing parent", src: filepath.Join(tmp, "dir"), dst: filepath.Join(tmp, "nope/deeper"), want: treecopy.ErrDest, mirror: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.mirror {
				_, err = treecopy.Mirror(context.Background(), tt.src, tt.dst, tt.opts)
			} else {
				_, err = treecopy.Snapshot(context.Background(), tt.src, tt.dst, tt.opts)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans lines: %q", err)
			}
			ents, _ := os.ReadDir(filepath.Join(tmp, "dir"))
			if len(ents) != 0 {
				t.Errorf("something was written: %v", ents)
			}
		})
	}
}

// TestXattrChangeNotLinked: an xattr changed in the source without an
// mtime change makes the next snapshot copy the file, not link the stale
// inode (which would also rewrite the older snapshot's metadata).
func TestXattrChangeNotLinked(t *testing.T) {
	tmp := t.TempDir()
	src, root := filepath.Join(tmp, "src"), filepath.Join(tmp, "root")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.Mkdir(root, 0o755))
	f := filepath.Join(src, "f")
	must(t, os.WriteFile(f, []byte("x"), 0o644))
	res1, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	must(t, err)
	must(t, unix.Lsetxattr(f, "user.tag", []byte("new"), 0))
	res2, err := treecopy.Snapshot(context.Background(), src, root, at(1))
	must(t, err)
	if res2.Copied != 1 {
		t.Errorf("copied %d, want 1", res2.Copied)
	}
	if diff := cmp.Diff(scanTree(t, src), scanTree(t, res2.Path)); diff != "" {
		t.Errorf("second snapshot (-source +snapshot):\n%s", diff)
	}
	if _, err := unix.Lgetxattr(filepath.Join(res1.Path, "f"), "user.tag", make([]byte, 16)); err == nil {
		t.Errorf("the first snapshot gained the new xattr")
	}
	res3, err := treecopy.Snapshot(context.Background(), src, root, at(2))
	must(t, err)
	if res3.Linked != 1 {
		t.Errorf("third run: linked %d, want 1 (nothing changed since)", res3.Linked)
	}
}

// TestXattrUnsupportedWarnsOnce copies onto ramfs, which keeps no user
// xattrs: the copy completes and the run warns exactly once.
func TestXattrUnsupportedWarnsOnce(t *testing.T) {
	requireRoot(t)
	tmp := t.TempDir()
	src, dst := filepath.Join(tmp, "src"), filepath.Join(tmp, "dst")
	must(t, os.Mkdir(dst, 0o755))
	if err := unix.Mount("ramfs", dst, "ramfs", 0, ""); err != nil {
		t.Skipf("cannot mount ramfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dst, unix.MNT_DETACH) })
	for i := range 5 {
		p := filepath.Join(src, fmt.Sprintf("d%d/f", i))
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte("x"), 0o644))
		must(t, unix.Setxattr(p, "user.n", []byte("v"), 0))
	}
	var logs bytes.Buffer
	res, err := treecopy.Mirror(context.Background(), src, dst, &treecopy.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	must(t, err)
	if res.Files != 5 {
		t.Errorf("Files = %d, want 5", res.Files)
	}
	if n := strings.Count(logs.String(), "extended attributes"); n != 1 {
		t.Errorf("%d warnings about xattrs, want 1:\n%s", n, logs.String())
	}
}

// TestDestinationInsideSource: a snapshot root or mirror inside the
// source is not copied into itself.
func TestDestinationInsideSource(t *testing.T) {
	src := t.TempDir()
	must(t, os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644))
	root := filepath.Join(src, "backups")
	must(t, os.Mkdir(root, 0o755))
	res, err := treecopy.Snapshot(context.Background(), src, root, at(0))
	must(t, err)
	if res.Files != 1 || res.Dirs != 1 {
		t.Errorf("snapshot: %d files %d dirs, want 1 and 1 (ROOT skipped)", res.Files, res.Dirs)
	}
	mir := filepath.Join(src, "mirror")
	res, err = treecopy.Mirror(context.Background(), src, mir, nil)
	must(t, err)
	if _, err := os.Stat(filepath.Join(mir, "mirror")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("mirror copied itself: %v", err)
	}
}
