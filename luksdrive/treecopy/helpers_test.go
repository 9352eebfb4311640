//go:build linux

package treecopy_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// entry is everything "exact copy" promises about one path of a tree.
// Times are compared to the nanosecond; atime is not (rsync does not keep
// it, and reading changes it).
type entry struct {
	Type      string
	Perm      string // octal, with set-uid/gid and sticky bits
	UID, GID  uint32
	Size      int64 // regular files only
	Mtime     string
	Target    string // symlinks
	Rdev      uint64
	SHA256    string            // regular files
	Xattrs    map[string]string // hex values, including system.posix_acl_*
	LinkGroup string            // smallest path sharing the inode within the tree ("" if none)
}

type tree map[string]entry

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (chown, mknod, trusted xattrs); run the tests as root")
	}
}

// scanTree describes the tree under root, walking with directory fds so
// paths longer than PATH_MAX work. The root itself is "." .
func scanTree(t testing.TB, root string) tree {
	t.Helper()
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatalf("scan %s: %v", root, err)
	}
	defer unix.Close(fd)
	tr := tree{}
	inodes := map[uint64][]string{}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		t.Fatal(err)
	}
	tr["."] = describe(t, fd, ".", "", &st)
	var walk func(dir int, rel string)
	walk = func(dir int, rel string) {
		f := os.NewFile(uintptr(dir), rel)
		names, err := f.Readdirnames(-1)
		if err != nil {
			t.Fatalf("readdir %s/%s: %v", root, rel, err)
		}
		sort.Strings(names)
		for _, n := range names {
			r := filepath.Join(rel, n)
			var st unix.Stat_t
			if err := unix.Fstatat(dir, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				t.Fatal(err)
			}
			e := describe(t, dir, n, r, &st)
			if e.Type == "file" && st.Nlink > 1 {
				inodes[st.Ino] = append(inodes[st.Ino], r)
			}
			tr[r] = e
			if e.Type == "dir" {
				sub, err := unix.Openat(dir, n, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
				if err != nil {
					t.Fatal(err)
				}
				walk(sub, r)
			}
		}
		f.Close()
	}
	dup, _ := unix.Dup(fd)
	walk(dup, "")
	for _, paths := range inodes {
		if len(paths) < 2 {
			continue
		}
		sort.Strings(paths)
		for _, p := range paths {
			e := tr[p]
			e.LinkGroup = paths[0]
			tr[p] = e
		}
	}
	return tr
}

func describe(t testing.TB, dir int, name, rel string, st *unix.Stat_t) entry {
	e := entry{
		Perm:  strconv.FormatUint(uint64(st.Mode&0o7777), 8),
		UID:   st.Uid,
		GID:   st.Gid,
		Mtime: fmt.Sprintf("%d.%09d", st.Mtim.Sec, st.Mtim.Nsec),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type, e.Size = "file", st.Size
		fd, err := unix.Openat(dir, name, unix.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			t.Fatal(err)
		}
		f := os.NewFile(uintptr(fd), rel)
		h := sha256.New()
		if _, err := f.WriteTo(h); err != nil {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/self/fd/%d", fd))
			h.Write(b)
		}
		f.Close()
		e.SHA256 = hex.EncodeToString(h.Sum(nil))[:16]
	case unix.S_IFDIR:
		e.Type = "dir"
	case unix.S_IFLNK:
		e.Type, e.Perm = "symlink", ""
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(dir, name, buf)
		if err != nil {
			t.Fatal(err)
		}
		e.Target = string(buf[:n])
	case unix.S_IFIFO:
		e.Type = "fifo"
	case unix.S_IFSOCK:
		e.Type = "socket"
	case unix.S_IFCHR:
		e.Type, e.Rdev = "chardev", st.Rdev
	case unix.S_IFBLK:
		e.Type, e.Rdev = "blockdev", st.Rdev
	}
	p := fmt.Sprintf("/proc/self/fd/%d/%s", dir, name)
	if name == "." {
		p = fmt.Sprintf("/proc/self/fd/%d", dir)
	}
	sz, err := unix.Llistxattr(p, nil)
	if err == nil && sz > 0 {
		buf := make([]byte, sz)
		sz, _ = unix.Llistxattr(p, buf)
		for _, k := range bytes.Split(buf[:sz], []byte{0}) {
			if len(k) == 0 || bytes.HasPrefix(k, []byte("security.")) {
				continue
			}
			v := make([]byte, 65536)
			n, err := unix.Lgetxattr(p, string(k), v)
			if err != nil {
				continue
			}
			if e.Xattrs == nil {
				e.Xattrs = map[string]string{}
			}
			e.Xattrs[string(k)] = hex.EncodeToString(v[:n])
		}
	}
	return e
}

// allocated returns the bytes a file occupies on disk.
func allocated(t testing.TB, path string) int64 {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func setTime(t testing.TB, path string, sec, nsec int64) {
	t.Helper()
	ts := []unix.Timespec{{Sec: sec - 1000, Nsec: 7}, {Sec: sec, Nsec: nsec}}
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW))
}

// makeTree builds a source tree with every kind of entry the engine must
// copy exactly. seed varies file contents and times.
func makeTree(t testing.TB, root string, seed int64) {
	t.Helper()
	rng := rand.New(rand.NewSource(seed))
	w := func(rel string, data []byte, perm os.FileMode) {
		p := filepath.Join(root, rel)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, data, perm))
		must(t, os.Chmod(p, perm))
	}
	rnd := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	must(t, os.MkdirAll(root, 0o755))
	w("empty", nil, 0o644)
	w("small.txt", []byte("hello "+strconv.FormatInt(seed, 10)+"\n"), 0o644)
	w("big.bin", rnd(3<<20+17), 0o600)
	w("a/b/c/nested.txt", []byte("nested"), 0o640)
	w("a/setuid", []byte("#!/bin/sh\n"), 0o4755)
	w("a/b/exec", rnd(100), 0o755)
	w("name\nwith newline", []byte("nl"), 0o644)
	w("bad\xff\xfeutf8", []byte("bytes"), 0o644)
	w(strings.Repeat("L", 255), []byte("long name"), 0o644)
	w("dir with space/-rf", []byte("dash"), 0o644)
	w("owned", []byte("owned by someone else"), 0o660)
	must(t, os.Chown(filepath.Join(root, "owned"), 1234, 5678))

	// Sparse: data at 0 and at 9 MiB of a 16 MiB file.
	sp, err := os.Create(filepath.Join(root, "sparse.img"))
	must(t, err)
	sp.WriteAt(rnd(4096), 0)
	sp.WriteAt(rnd(8192), 9<<20)
	sp.Truncate(16 << 20)
	sp.Close()
	// All hole.
	hole, err := os.Create(filepath.Join(root, "a/hole"))
	must(t, err)
	hole.Truncate(5 << 20)
	hole.Close()

	// Hard-link group across directories, plus a pair.
	w("h1", rnd(5000), 0o644)
	must(t, os.Link(filepath.Join(root, "h1"), filepath.Join(root, "a/h2")))
	must(t, os.Link(filepath.Join(root, "h1"), filepath.Join(root, "a/b/h3")))
	w("p1", rnd(10), 0o600)
	must(t, os.Link(filepath.Join(root, "p1"), filepath.Join(root, "p2")))

	// Symlinks: relative, absolute (must not be followed), dangling, to a dir.
	must(t, os.Symlink("a/b/c/nested.txt", filepath.Join(root, "rel-link")))
	must(t, os.Symlink("/etc", filepath.Join(root, "abs-link")))
	must(t, os.Symlink("does/not/exist", filepath.Join(root, "dangling")))
	must(t, os.Symlink("a", filepath.Join(root, "dir-link")))
	must(t, unix.Lchown(filepath.Join(root, "rel-link"), 42, 43))

	// Specials.
	must(t, unix.Mkfifo(filepath.Join(root, "fifo"), 0o620))
	must(t, unix.Mknod(filepath.Join(root, "a/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	must(t, unix.Mknod(filepath.Join(root, "a/loop7"), unix.S_IFBLK|0o660, int(unix.Mkdev(7, 7))))
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	must(t, err)
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()

	// Xattrs and ACLs.
	must(t, unix.Setxattr(filepath.Join(root, "small.txt"), "user.comment", []byte("seed "+strconv.FormatInt(seed, 10)), 0))
	must(t, unix.Setxattr(filepath.Join(root, "big.bin"), "trusted.origin", rnd(40), 0))
	must(t, unix.Setxattr(filepath.Join(root, "a"), "user.dir", []byte("on a dir"), 0))
	run(t, "setfacl", "-m", "u:1234:rw-,g:5678:r--", filepath.Join(root, "a/b/exec"))
	must(t, os.MkdirAll(filepath.Join(root, "shared"), 0o2775))
	must(t, os.Chmod(filepath.Join(root, "shared"), 0o2775))
	run(t, "setfacl", "-d", "-m", "u:1234:rwx", filepath.Join(root, "shared"))
	w("shared/inherits", []byte("x"), 0o664)

	// Odd directory modes: sticky, and read-only with contents.
	must(t, os.MkdirAll(filepath.Join(root, "tmpdir"), 0o1777))
	must(t, os.Chmod(filepath.Join(root, "tmpdir"), 0o1777))
	w("ro/inside", []byte("in a read-only dir"), 0o444)

	// A moderately deep path (rsync cannot pass PATH_MAX, so the very
	// deep tree has its own test).
	deep := root
	for i := range 30 {
		deep = filepath.Join(deep, fmt.Sprintf("d%02d", i))
	}
	w(filepath.Join(strings.TrimPrefix(deep, root+"/"), "leaf"), []byte("deep"), 0o644)

	// Times with nanoseconds on everything, directories last (children
	// change their parent's mtime).
	base := int64(1_600_000_000) + seed*1000
	var dirs []string
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		must(t, err)
		if fi.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		setTime(t, p, base+rng.Int63n(1e6), rng.Int63n(1e9))
		return nil
	})
	must(t, os.Chmod(filepath.Join(root, "ro"), 0o555))
	for i := len(dirs) - 1; i >= 0; i-- {
		setTime(t, dirs[i], base+rng.Int63n(1e6), rng.Int63n(1e9))
	}
}

// rsyncRef makes the reference copy.
func rsyncRef(t testing.TB, src, dst string, extra ...string) {
	t.Helper()
	args := append([]string{"-aHAX", "--delete"}, extra...)
	args = append(args, src+"/", dst+"/")
	run(t, "rsync", args...)
}
