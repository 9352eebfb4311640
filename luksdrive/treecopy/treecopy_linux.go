package treecopy

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Snapshot makes a new dated snapshot of src under root and returns what it
// did. Files unchanged since root's newest complete snapshot (same size,
// mtime, mode and owner) are hard-linked from it, the rest copied.
//
// The snapshot is built as ROOT/NAME.inprogress, made durable (one
// syncfs; on kernels before 5.8, whose syncfs hides write errors, every
// file, then every directory, then the filesystem), renamed to ROOT/NAME,
// and only then does ROOT/latest move to it (a symlink replaced by
// rename). A run that
// dies at any point leaves every earlier snapshot complete; the next run
// removes the leftover. On error (including ctx cancellation and a full
// disk) the partial snapshot is removed before Snapshot returns.
func Snapshot(ctx context.Context, src, root string, opts *Options) (*Result, error) {
	o := opts.withDefaults()
	ex, err := ParseExcludes(o.Exclude)
	if err != nil {
		return nil, &OpError{Op: "snapshot", Path: src, Err: err}
	}
	srcFd, err := openSrcRoot(src)
	if err != nil {
		return nil, err
	}
	defer unix.Close(srcFd)
	rootFd, err := openDstRoot(root, false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(rootFd)
	if sameDir(srcFd, rootFd) {
		return nil, &OpError{Op: "snapshot", Path: root, Err: fmt.Errorf("%w: the snapshot root is the source itself", ErrDest)}
	}
	unlock, err := lockRoot(rootFd, root)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var lst unix.Stat_t
	if err := fstatat(rootFd, latestName, &lst); err == nil && lst.Mode&unix.S_IFMT != unix.S_IFLNK {
		return nil, &OpError{Op: "snapshot", Path: filepath.Join(root, latestName),
			Err: fmt.Errorf("%w: it is not a symlink; move it out of the way", ErrDest)}
	}

	snaps, leftovers, err := listSnapshots(rootFd)
	if err != nil {
		return nil, &OpError{Op: "snapshot", Path: root, Err: classify(err)}
	}
	for _, l := range leftovers {
		o.Logger.Info("removing the leftover of an interrupted run", "path", filepath.Join(root, l))
		if err := removeAllAt(rootFd, l); err != nil {
			return nil, &OpError{Op: "remove leftover", Path: filepath.Join(root, l), Err: classify(err)}
		}
	}
	prevFd, prevName := -1, ""
	for i := len(snaps) - 1; i >= 0; i-- {
		if fd, err := openat(rootFd, snaps[i].Name, dirFlags, 0); err == nil {
			prevFd, prevName = fd, snaps[i].Name
			break
		}
	}
	if prevFd >= 0 {
		defer unix.Close(prevFd)
	}

	now := o.Now()
	name := ""
	for seq := 1; ; seq++ {
		name = SnapshotName(now, seq)
		var st unix.Stat_t
		if fstatat(rootFd, name, &st) == unix.ENOENT && fstatat(rootFd, name+inProgressSuffix, &st) == unix.ENOENT {
			break
		}
	}
	tmp := name + inProgressSuffix
	if err := unix.Mkdirat(rootFd, tmp, 0o700); err != nil {
		return nil, &OpError{Op: "snapshot", Path: filepath.Join(root, tmp), Err: classify(err)}
	}
	cleanup := func() {
		if err := removeAllAt(rootFd, tmp); err != nil {
			o.Logger.Error("cannot remove the partial snapshot; the next run will", "path", filepath.Join(root, tmp), "err", err)
		}
	}
	dstFd, err := openat(rootFd, tmp, dirFlags, 0)
	if err != nil {
		cleanup()
		return nil, &OpError{Op: "snapshot", Path: filepath.Join(root, tmp), Err: classify(err)}
	}
	defer unix.Close(dstFd)
	o.Logger.Info("snapshot started", "source", src, "snapshot", filepath.Join(root, name), "previous", prevName)

	p := engineParams{mode: modeSnapshot, srcPath: src, dstPath: filepath.Join(root, tmp), src: srcFd, dst: dstFd, prev: prevFd, fsync: !syncfsReportsErrors(), avoid: []int{rootFd}}
	e := newEngine(ctx, p, o, ex)
	err = e.run(p)
	res := &Result{Path: filepath.Join(root, name)}
	e.fill(res)
	if err == nil {
		err = publish(rootFd, root, tmp, name)
	}
	if err != nil {
		cleanup()
		if errors.Is(err, ErrNoSpace) {
			return res, spaceError(ctx, root, rootFd, srcFd, prevFd, ex, modeSnapshot)
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return res, &OpError{Op: "snapshot", Path: root, Err: err}
		}
		return res, err
	}
	o.Logger.Info("snapshot complete", "snapshot", res.Path, "copied", res.Copied, "linked", res.Linked, "bytes", res.Bytes)

	if o.Verify {
		snapFd, err := openat(rootFd, name, dirFlags, 0)
		if err != nil {
			return res, &OpError{Op: "verify", Path: res.Path, Err: classify(err)}
		}
		res.Mismatches, err = verifyTree(ctx, srcFd, snapFd, src, res.Path, ex, o.Workers)
		unix.Close(snapFd)
		if err != nil {
			return res, err
		}
		if len(res.Mismatches) > 0 {
			return res, &OpError{Op: "verify", Path: res.Path,
				Err: fmt.Errorf("%w: %d files, first %s", ErrVerify, len(res.Mismatches), quotePath(res.Mismatches[0]))}
		}
	}
	if o.Retention != nil {
		snaps, _, err := listSnapshots(rootFd)
		if err != nil {
			return res, &OpError{Op: "prune", Path: root, Err: classify(err)}
		}
		_, prune := o.Retention.Select(snaps, now)
		for _, s := range prune {
			if s.Name == name {
				continue
			}
			if err := removeAllAt(rootFd, s.Name); err != nil {
				return res, &OpError{Op: "prune", Path: filepath.Join(root, s.Name), Err: classify(err)}
			}
			res.Pruned = append(res.Pruned, s.Name)
			o.Logger.Info("pruned snapshot", "snapshot", filepath.Join(root, s.Name))
		}
		unix.Fsync(rootFd)
	}
	return res, nil
}

// syncfsReportsErrors tells whether syncfs(2) returns writeback errors,
// which it does since Linux 5.8. Then one syncfs before the rename makes
// every file and directory of the snapshot durable (and reports a failed
// write) at a fraction of the cost of an fsync per file, each of which is
// a journal commit: on a USB disk, hours for a tree of small files. Older
// kernels silently drop such errors from syncfs, so there every file is
// fsynced, then its directory, then the filesystem.
func syncfsReportsErrors() bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 8
}

// publish makes the finished snapshot durable and visible: syncfs, rename
// from .inprogress, then the latest symlink swap, each step fsynced so
// that after a crash ROOT/latest never names an incomplete snapshot.
func publish(rootFd int, root, tmp, name string) error {
	if err := unix.Syncfs(rootFd); err != nil {
		return &OpError{Op: "syncfs", Path: root, Err: classify(err)}
	}
	if err := unix.Renameat(rootFd, tmp, rootFd, name); err != nil {
		return &OpError{Op: "rename", Path: filepath.Join(root, tmp), Err: classify(err)}
	}
	if err := unix.Fsync(rootFd); err != nil {
		return &OpError{Op: "fsync", Path: root, Err: classify(err)}
	}
	unix.Unlinkat(rootFd, latestTemp, 0)
	if err := unix.Symlinkat(name, rootFd, latestTemp); err != nil {
		return &OpError{Op: "symlink", Path: filepath.Join(root, latestTemp), Err: classify(err)}
	}
	if err := unix.Renameat(rootFd, latestTemp, rootFd, latestName); err != nil {
		return &OpError{Op: "rename", Path: filepath.Join(root, latestName), Err: classify(err)}
	}
	if err := unix.Fsync(rootFd); err != nil {
		return &OpError{Op: "fsync", Path: root, Err: classify(err)}
	}
	return nil
}

// Mirror makes dst an exact copy of src, as `rsync -aHAX --delete src/ dst/`
// would: entries missing from src are deleted, entries of another type
// replaced, files with the same size and mtime left in place (their
// metadata fixed). dst is created if missing (its parent must exist).
//
// Unlike Snapshot a mirror is updated in place: a run that fails leaves a
// mix of old and new files (each file whole: files are written under a
// temporary name and renamed).
func Mirror(ctx context.Context, src, dst string, opts *Options) (*Result, error) {
	o := opts.withDefaults()
	ex, err := ParseExcludes(o.Exclude)
	if err != nil {
		return nil, &OpError{Op: "mirror", Path: src, Err: err}
	}
	srcFd, err := openSrcRoot(src)
	if err != nil {
		return nil, err
	}
	defer unix.Close(srcFd)
	dstFd, err := openDstRoot(dst, true)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dstFd)
	if sameDir(srcFd, dstFd) {
		return nil, &OpError{Op: "mirror", Path: dst, Err: fmt.Errorf("%w: the destination is the source itself", ErrDest)}
	}
	// The lock is on the directory itself: a lock file inside would be
	// part of the mirror (and deleted by it).
	if err := unix.Flock(dstFd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		if err == unix.EWOULDBLOCK {
			return nil, &OpError{Op: "lock", Path: dst, Err: ErrLocked}
		}
		return nil, &OpError{Op: "lock", Path: dst, Err: classify(err)}
	}
	defer unix.Flock(dstFd, unix.LOCK_UN)
	o.Logger.Info("mirror started", "source", src, "destination", dst)

	p := engineParams{mode: modeMirror, srcPath: src, dstPath: dst, src: srcFd, dst: dstFd, prev: -1}
	e := newEngine(ctx, p, o, ex)
	err = e.run(p)
	res := &Result{Path: dst}
	e.fill(res)
	// No syncfs here: a mirror has no publish step to order against, and
	// unmounting the drive (luksdrive.Release) flushes it.
	if err != nil {
		if errors.Is(err, ErrNoSpace) {
			return res, spaceError(ctx, dst, dstFd, srcFd, dstFd, ex, modeMirror)
		}
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return res, &OpError{Op: "mirror", Path: dst, Err: err}
		}
		return res, err
	}
	o.Logger.Info("mirror complete", "destination", dst, "copied", res.Copied, "deleted", res.Deleted, "bytes", res.Bytes)
	if o.Verify {
		res.Mismatches, err = verifyTree(ctx, srcFd, dstFd, src, dst, ex, o.Workers)
		if err != nil {
			return res, err
		}
		if len(res.Mismatches) > 0 {
			return res, &OpError{Op: "verify", Path: dst,
				Err: fmt.Errorf("%w: %d files, first %s", ErrVerify, len(res.Mismatches), quotePath(res.Mismatches[0]))}
		}
	}
	return res, nil
}

func openSrcRoot(src string) (int, error) {
	fd, err := unix.Open(src, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		msg := "cannot open it"
		switch err {
		case unix.ENOENT:
			msg = "it does not exist"
		case unix.ENOTDIR:
			msg = "it is not a directory"
		case unix.EACCES, unix.EPERM:
			msg = "permission denied"
		}
		return -1, &OpError{Op: "open source", Path: src, Err: fmt.Errorf("%w: %s (%w)", ErrSource, msg, err)}
	}
	return fd, nil
}

func openDstRoot(dst string, create bool) (int, error) {
	if dst == "" {
		return -1, &OpError{Op: "open destination", Path: dst, Err: fmt.Errorf("%w: empty path", ErrDest)}
	}
	fd, err := unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT && create {
		if err = unix.Mkdir(dst, 0o700); err == nil || err == unix.EEXIST {
			fd, err = unix.Open(dst, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		msg := "cannot open it"
		switch err {
		case unix.ENOENT:
			msg = "it does not exist (is the drive mounted?)"
		case unix.ENOTDIR:
			msg = "it is not a directory"
		case unix.EACCES, unix.EPERM:
			msg = "permission denied"
		}
		return -1, &OpError{Op: "open destination", Path: dst, Err: fmt.Errorf("%w: %s (%w)", ErrDest, msg, err)}
	}
	return fd, nil
}

func sameDir(a, b int) bool {
	var sa, sb unix.Stat_t
	return unix.Fstat(a, &sa) == nil && unix.Fstat(b, &sb) == nil && sa.Dev == sb.Dev && sa.Ino == sb.Ino
}

// lockRoot takes the per-root lock: an flock on ROOT/.extdrive-sync.lock,
// released by the kernel whenever the process dies, so a killed run never
// leaves a stale lock behind.
func lockRoot(rootFd int, root string) (func(), error) {
	fd, err := openat(rootFd, lockName, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &OpError{Op: "lock", Path: filepath.Join(root, lockName), Err: classify(err)}
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(fd)
		if err == unix.EWOULDBLOCK {
			return nil, &OpError{Op: "lock", Path: root, Err: ErrLocked}
		}
		return nil, &OpError{Op: "lock", Path: filepath.Join(root, lockName), Err: classify(err)}
	}
	return func() { unix.Close(fd) }, nil
}

// listSnapshots returns ROOT's complete snapshots (real directories with a
// snapshot name), oldest first, and the leftovers of interrupted runs.
func listSnapshots(rootFd int) (snaps []SnapshotInfo, leftovers []string, err error) {
	fd, err := openat(rootFd, ".", dirFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 16<<10)
	err = readDir(fd, buf, func(name string, typ uint8) error {
		if base, ok := strings.CutSuffix(name, inProgressSuffix); ok {
			if _, _, ok := ParseSnapshotName(base); ok {
				leftovers = append(leftovers, name)
			}
			return nil
		}
		if name == latestTemp {
			leftovers = append(leftovers, name)
			return nil
		}
		t, _, ok := ParseSnapshotName(name)
		if !ok {
			return nil
		}
		var st unix.Stat_t
		if fstatat(rootFd, name, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil // a symlink or file with a snapshot name is not ours
		}
		snaps = append(snaps, SnapshotInfo{Name: name, Time: t})
		return nil
	})
	sort.Slice(snaps, func(i, j int) bool {
		if !snaps[i].Time.Equal(snaps[j].Time) {
			return snaps[i].Time.Before(snaps[j].Time)
		}
		_, si, _ := ParseSnapshotName(snaps[i].Name)
		_, sj, _ := ParseSnapshotName(snaps[j].Name)
		return si < sj
	})
	return snaps, leftovers, err
}

// spaceError builds the ENOSPC report: how much file data the run needed
// (the files that could not be linked or left in place) and what is free
// now that the partial snapshot is gone.
func spaceError(ctx context.Context, root string, rootFd, srcFd, cmpFd int, ex *Excludes, m mode) error {
	need := estimate(ctx, srcFd, cmpFd, ex, m)
	var sf unix.Statfs_t
	var avail int64
	if unix.Fstatfs(rootFd, &sf) == nil {
		avail = int64(sf.Bavail) * int64(sf.Bsize)
	}
	return &SpaceError{Path: root, Needed: need, Available: avail}
}

// estimate sums the sizes of the regular files that a run would write: in
// snapshot mode those that differ from the previous snapshot (cmp), in
// mirror mode those that differ from the destination.
func estimate(ctx context.Context, srcFd, cmpFd int, ex *Excludes, m mode) int64 {
	var total int64
	seen := map[devIno]bool{}
	buf := make([]byte, 32<<10)
	var walk func(src, cmp int, rel string)
	walk = func(src, cmp int, rel string) {
		var subdirs []string
		readDir(src, buf, func(name string, typ uint8) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := path.Join(rel, name)
			if ex.Match(r, typ == unix.DT_DIR) {
				return nil
			}
			if typ == unix.DT_DIR {
				subdirs = append(subdirs, name)
				return nil
			}
			var st unix.Stat_t
			if fstatat(src, name, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
				return nil
			}
			if st.Nlink > 1 {
				k := devIno{uint64(st.Dev), st.Ino}
				if seen[k] {
					return nil
				}
				seen[k] = true
			}
			var cst unix.Stat_t
			if cmp >= 0 && fstatat(cmp, name, &cst) == nil && cst.Mode&unix.S_IFMT == unix.S_IFREG {
				if m == modeSnapshot && unchanged(&st, &cst) || m == modeMirror && st.Size == cst.Size && st.Mtim == cst.Mtim {
					return nil
				}
			}
			total += min(st.Size, st.Blocks*512)
			return nil
		})
		for _, name := range subdirs {
			s, err := openat(src, name, dirFlags, 0)
			if err != nil {
				continue
			}
			c := -1
			if cmp >= 0 {
				if fd, err := openat(cmp, name, dirFlags, 0); err == nil {
					c = fd
				}
			}
			walk(s, c, path.Join(rel, name))
			unix.Close(s)
			if c >= 0 {
				unix.Close(c)
			}
		}
	}
	s, err := reopen(srcFd)
	if err != nil {
		return 0
	}
	defer unix.Close(s)
	walk(s, cmpFd, "")
	return total
}

// verifyTree re-reads every regular file under dst, after asking the
// kernel to drop it from the page cache, and compares its SHA-256 with the
// file of the same path under src. It returns the differing paths.
func verifyTree(ctx context.Context, srcFd, dstFd int, srcPath, dstPath string, ex *Excludes, workers int) ([]string, error) {
	type item struct {
		src, dst int
		name     string
		rel      string
		done     *sync.WaitGroup
	}
	var (
		mu         sync.Mutex
		mismatches []string
		firstErr   error
		wg         sync.WaitGroup
	)
	addMismatch := func(rel string) {
		mu.Lock()
		if len(mismatches) < maxListed {
			mismatches = append(mismatches, rel)
		}
		mu.Unlock()
	}
	items := make(chan item, workers*4)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range items {
				if ctx.Err() == nil {
					same, err := sameContent(it.src, it.dst, it.name)
					switch {
					case err != nil:
						mu.Lock()
						if firstErr == nil {
							firstErr = &OpError{Op: "verify", Path: path.Join(dstPath, it.rel), Err: classify(err)}
						}
						mu.Unlock()
					case !same:
						addMismatch(it.rel)
					}
				}
				it.done.Done()
			}
		}()
	}
	buf := make([]byte, 32<<10)
	var walk func(src, dst int, rel string)
	walk = func(src, dst int, rel string) {
		var subdirs []string
		var pending sync.WaitGroup
		readDir(dst, buf, func(name string, typ uint8) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := path.Join(rel, name)
			if ex.Match(r, typ == unix.DT_DIR) {
				return nil
			}
			switch typ {
			case unix.DT_DIR:
				subdirs = append(subdirs, name)
			case unix.DT_REG:
				pending.Add(1)
				items <- item{src, dst, name, r, &pending}
			}
			return nil
		})
		// The fds must outlive this directory's queued checks.
		pending.Wait()
		for _, name := range subdirs {
			r := path.Join(rel, name)
			s, err := openat(src, name, dirFlags, 0)
			if err != nil {
				addMismatch(r)
				continue
			}
			d, err := openat(dst, name, dirFlags, 0)
			if err == nil {
				walk(s, d, r)
				unix.Close(d)
			}
			unix.Close(s)
		}
	}
	walk(srcFd, dstFd, "")
	close(items)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return mismatches, &OpError{Op: "verify", Path: dstPath, Err: err}
	}
	return mismatches, firstErr
}

func sameContent(srcDir, dstDir int, name string) (bool, error) {
	d, err := openat(dstDir, name, readFlags, 0)
	if err != nil {
		return false, err
	}
	defer unix.Close(d)
	s, err := openSource(srcDir, name, readFlags)
	if err != nil {
		if err == unix.ENOENT || err == unix.ELOOP {
			return false, nil
		}
		return false, err
	}
	defer unix.Close(s)
	// Written pages are clean after the fsync; drop them so the check
	// reads what the disk holds.
	unix.Fdatasync(d)
	unix.Fadvise(d, 0, 0, unix.FADV_DONTNEED)
	hs, err := hashFd(s)
	if err != nil {
		return false, err
	}
	hd, err := hashFd(d)
	if err != nil {
		return false, err
	}
	return hs == hd, nil
}

func hashFd(fd int) ([32]byte, error) {
	h := sha256.New()
	_, err := io.Copy(h, fdReader(fd))
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, err
}

type fdReader int

func (r fdReader) Read(p []byte) (int, error) {
	var n int
	err := retry(func() (err error) { n, err = unix.Read(int(r), p); return err })
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}
