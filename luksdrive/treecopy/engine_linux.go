package treecopy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

type mode int

const (
	modeSnapshot mode = iota
	modeMirror
)

// engine copies one tree. The walker goroutine lists directories (depth
// first, holding one directory's names at a time) and creates
// subdirectories; every other entry goes through a bounded channel to a
// pool of workers that stat it and copy, link or recreate it. A directory's
// own metadata is applied, and the directory fsynced, by whoever finishes
// its last child, so memory is bounded by the depth of the tree and the
// queue length, never by the number of files.
type engine struct {
	ctx    context.Context
	cancel context.CancelFunc
	mode   mode
	opts   Options
	log    *slog.Logger
	ex     *Excludes

	srcPath, dstPath string
	dstRoot          int // the directory being written (snapshot .inprogress dir or mirror DST)
	fsync            bool
	isRoot           bool
	euid, egid       uint32

	jobs     chan job
	rootDone chan struct{} // closed when the last entry is done
	wg       sync.WaitGroup
	bufPool  sync.Pool
	walkBuf  []byte

	errMu sync.Mutex
	err   error

	hlMu  sync.Mutex
	links map[devIno]*hlink
	avoid map[devIno]bool
	// avoidIno holds the inode numbers of avoid, so the walker can skip
	// an fstat for every directory whose getdents inode cannot match.
	avoidIno map[uint64]bool

	warnMu sync.Mutex
	warned map[string]bool

	chMu    sync.Mutex
	changed []string
	nChg    int

	noCFR atomic.Bool // copy_file_range failed once with "not supported here"

	files, dirs, symlinks, specials atomic.Int64
	copied, linked, bytes, deleted  atomic.Int64
	done                            atomic.Int64 // bytes of regular files finished or in flight, copied or linked
	totalFiles, totalBytes          atomic.Int64
	scanDone                        atomic.Bool
	start                           time.Time
}

// job is a batch of names from one directory: one channel operation per
// entry costs as much as the two stats a no-change pass does per file.
type job struct {
	d     *dirNode
	names []string
}

const batchSize = 32

// heavyBytes: after copying this much, a worker hands the rest of its
// batch back to the queue so big files spread over the workers.
const heavyBytes = 256 << 10

type devIno struct{ dev, ino uint64 }

// hlink tracks one hard-link group of the source: the first name seen is
// copied (or linked from the previous snapshot), later names link to it.
type hlink struct {
	done   chan struct{}
	rel    string // destination path of the first name
	ok     bool
	dstIno uint64
	seen   uint64
}

type dirNode struct {
	e              *engine
	parent         *dirNode
	rel            string
	src, dst, prev int
	st             unix.Stat_t
	pending        atomic.Int64
	// fresh: this run created the destination directory, so nothing
	// in it needs checking or deleting (a full copy skips a stat per file).
	fresh bool
	// sgid: the destination directory passes its group to new files,
	// so their group must always be set explicitly.
	sgid bool
	// statted: st holds the source directory's stat; otherwise
	// finishDir takes it (off the walker's critical path).
	statted bool
}

type dirEnt struct {
	name string
	ino  uint64
}

// mayExist tells whether destination entries in d may predate this run.
func (e *engine) mayExist(d *dirNode) bool { return e.mode == modeMirror && !d.fresh }

func (d *dirNode) child(name string) string {
	if d.rel == "" {
		return name
	}
	return d.rel + "/" + name
}

// release drops one reference; the last one finishes the directory.
func (d *dirNode) release() {
	if d.pending.Add(-1) != 0 {
		return
	}
	d.e.finishDir(d)
	if d.parent != nil {
		d.parent.release()
	} else {
		close(d.e.rootDone)
	}
}

type engineParams struct {
	mode             mode
	srcPath, dstPath string
	src, dst, prev   int // borrowed; the engine reopens them
	fsync            bool
	// avoid lists directories never to descend into: the destination
	// (and snapshot root) when they lie inside the source, which would
	// otherwise copy the copy into itself.
	avoid []int
}

func newEngine(ctx context.Context, p engineParams, o Options, ex *Excludes) *engine {
	e := &engine{
		mode:     p.mode,
		opts:     o,
		log:      o.Logger,
		ex:       ex,
		srcPath:  p.srcPath,
		dstPath:  p.dstPath,
		dstRoot:  p.dst,
		fsync:    p.fsync,
		isRoot:   os.Geteuid() == 0,
		euid:     uint32(os.Geteuid()),
		egid:     uint32(os.Getegid()),
		links:    make(map[devIno]*hlink),
		avoid:    make(map[devIno]bool),
		avoidIno: make(map[uint64]bool),
		warned:   make(map[string]bool),
		walkBuf:  make([]byte, 32<<10),
		start:    time.Now(),
	}
	e.ctx, e.cancel = context.WithCancel(ctx)
	for _, fd := range append(p.avoid, p.dst) {
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			e.avoid[devIno{uint64(st.Dev), st.Ino}] = true
			e.avoidIno[st.Ino] = true
		}
	}
	e.bufPool.New = func() any { b := make([]byte, 256<<10); return &b }
	return e
}

// run copies the tree and returns the first error. Directory fds passed in
// p stay owned by the caller.
func (e *engine) run(p engineParams) error {
	defer e.cancel()
	root := &dirNode{e: e, src: -1, dst: -1, prev: -1, fresh: p.mode == modeSnapshot}
	var err error
	if root.src, err = reopen(p.src); err != nil {
		return err
	}
	if root.dst, err = reopen(p.dst); err != nil {
		unix.Close(root.src)
		return err
	}
	if p.prev >= 0 {
		if root.prev, err = reopen(p.prev); err != nil {
			root.prev = -1
		}
	}
	root.statted = true
	if err := unix.Fstat(root.src, &root.st); err != nil {
		e.fail(&OpError{Op: "stat", Path: e.srcPath, Err: classify(err)})
	}
	if e.mode == modeMirror && !e.isRoot {
		e.makeWritable(root.dst)
	}
	root.pending.Store(1)

	e.jobs = make(chan job, e.opts.Workers*4)
	for range e.opts.Workers {
		e.wg.Add(1)
		go e.worker()
	}
	progDone := make(chan struct{})
	var progWG sync.WaitGroup
	if e.opts.Progress != nil {
		progWG.Add(1)
		go func() { defer progWG.Done(); e.reportLoop(progDone) }()
	}
	if e.opts.Scan {
		go e.scan(p.src)
	}

	e.rootDone = make(chan struct{})
	e.walk(root)
	// Workers may requeue until the last entry is done, so the queue
	// closes only then.
	<-e.rootDone
	close(e.jobs)
	e.wg.Wait()
	close(progDone)
	progWG.Wait()
	return e.firstErr()
}

func (e *engine) worker() {
	defer e.wg.Done()
	for j := range e.jobs {
		for i, name := range j.names {
			if e.do(j.d, name) && i+1 < len(j.names) && e.requeue(job{j.d, j.names[i+1:]}) {
				break
			}
		}
		j.d.release()
	}
}

// requeue offers the rest of a batch to idle workers; it never blocks
// (a worker blocked on a full queue could deadlock the pool).
func (e *engine) requeue(j job) bool {
	j.d.pending.Add(1)
	select {
	case e.jobs <- j:
		return true
	default:
		j.d.pending.Add(-1)
		return false
	}
}

func (e *engine) fail(err error) {
	e.errMu.Lock()
	if e.err == nil {
		e.err = err
	}
	e.errMu.Unlock()
	e.cancel()
}

func (e *engine) firstErr() error {
	e.errMu.Lock()
	defer e.errMu.Unlock()
	if e.err == nil {
		if err := e.ctx.Err(); err != nil {
			return err
		}
	}
	return e.err
}

func (e *engine) failed() bool { return e.ctx.Err() != nil }

func (e *engine) srcErr(op, rel string, err error) error {
	return &OpError{Op: op, Path: path.Join(e.srcPath, rel), Err: classify(err)}
}

func (e *engine) dstErr(op, rel string, err error) error {
	return &OpError{Op: op, Path: path.Join(e.dstPath, rel), Err: classify(err)}
}

// warnOnce logs a warning the first time key is seen in this run.
func (e *engine) warnOnce(key, msg string, args ...any) {
	e.warnMu.Lock()
	seen := e.warned[key]
	e.warned[key] = true
	e.warnMu.Unlock()
	if !seen {
		e.log.Warn(msg, args...)
	}
}

func (e *engine) noteChanged(rel, why string) {
	e.chMu.Lock()
	e.nChg++
	if len(e.changed) < maxListed {
		e.changed = append(e.changed, rel)
	}
	e.chMu.Unlock()
	e.log.Warn("source changed while being copied", "path", path.Join(e.srcPath, rel), "change", why)
}

// walk lists d and hands its entries out; it runs in one goroutine.
func (e *engine) walk(d *dirNode) {
	defer d.release()
	// Mirror: names in the destination not met in the source are deleted
	// once the source is listed (rsync --delete-during). Holding one
	// directory's names costs less than a stat per destination entry.
	var extra map[string]uint8
	if e.mayExist(d) {
		extra = make(map[string]uint8)
		if err := readDir(d.dst, e.walkBuf, func(name string, typ uint8) error {
			extra[name] = typ
			return nil
		}); err != nil {
			e.fail(e.dstErr("read directory", d.rel, err))
			return
		}
	}
	var subdirs []dirEnt
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		d.pending.Add(1)
		select {
		case e.jobs <- job{d, batch}:
			batch = nil
			return nil
		case <-e.ctx.Done():
			d.pending.Add(-1)
			return e.ctx.Err()
		}
	}
	err := readDirIno(d.src, e.walkBuf, func(name string, typ uint8, ino uint64) error {
		if e.failed() {
			return e.ctx.Err()
		}
		if extra != nil {
			delete(extra, name)
		}
		isDir := typ == unix.DT_DIR
		if typ == unix.DT_UNKNOWN {
			var st unix.Stat_t
			if fstatat(d.src, name, &st) == nil {
				isDir = st.Mode&unix.S_IFMT == unix.S_IFDIR
			}
		}
		if e.ex != nil && e.ex.Match(d.child(name), isDir) {
			return nil
		}
		if isDir {
			subdirs = append(subdirs, dirEnt{name, ino})
			return nil
		}
		batch = append(batch, name)
		if len(batch) >= batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		if !e.failed() {
			e.fail(e.srcErr("read directory", d.rel, err))
		}
		return
	}
	for name, typ := range extra {
		if e.ex != nil && e.ex.Match(d.child(name), typ == unix.DT_DIR) {
			continue // excluded entries are protected, as with rsync
		}
		if err := removeAllAt(d.dst, name); err != nil {
			e.fail(e.dstErr("remove", d.child(name), err))
			return
		}
		e.deleted.Add(1)
	}
	for _, de := range subdirs {
		if e.failed() {
			return
		}
		c, err := e.openChild(d, de.name, de.ino)
		if err != nil {
			e.fail(err)
			return
		}
		if c != nil {
			e.walk(c)
		}
	}
}

// openChild opens (and creates at the destination) the subdirectory name.
// It returns nil, nil when the entry is no longer a directory; it is then
// handled as a plain entry.
func (e *engine) openChild(d *dirNode, name string, ino uint64) (*dirNode, error) {
	rel := d.child(name)
	c := &dirNode{e: e, parent: d, rel: rel, src: -1, dst: -1, prev: -1}
	fd, err := openSource(d.src, name, dirFlags)
	if err != nil {
		if err == unix.ENOENT || err == unix.ELOOP || err == unix.ENOTDIR {
			// Vanished, or replaced by something else: treat it as a leaf.
			e.do(d, name)
			return nil, nil
		}
		return nil, e.srcErr("open", rel, err)
	}
	c.src = fd
	if e.avoidIno[ino] {
		if err := unix.Fstat(fd, &c.st); err != nil {
			unix.Close(fd)
			return nil, e.srcErr("stat", rel, err)
		}
		c.statted = true
		if e.avoid[devIno{uint64(c.st.Dev), c.st.Ino}] {
			unix.Close(fd)
			e.warnOnce("self", "the destination lies inside the source; not copying it into itself", "path", path.Join(e.srcPath, rel))
			return nil, nil
		}
	}
	if c.dst, c.fresh, c.sgid, err = e.makeDir(d, name); err != nil {
		unix.Close(fd)
		return nil, e.dstErr("mkdir", rel, err)
	}
	if d.prev >= 0 {
		if p, err := openat(d.prev, name, dirFlags, 0); err == nil {
			c.prev = p
		}
	}
	c.pending.Store(1)
	d.pending.Add(1)
	e.dirs.Add(1)
	return c, nil
}

// makeDir creates the destination directory (owner-only until finishDir
// applies the source mode) and opens it without following symlinks.
func (e *engine) makeDir(d *dirNode, name string) (fd int, fresh, sgid bool, err error) {
	if e.mayExist(d) {
		// Opening straight away (O_NOFOLLOW|O_DIRECTORY) both tests and
		// opens an existing directory in one call.
		fd, err := openat(d.dst, name, dirFlags, 0)
		switch err {
		case nil:
			if !e.isRoot {
				e.makeWritable(fd)
			}
			// Its set-group-ID bit is unknown without another stat;
			// assume it, which only costs a chown per new file.
			return fd, false, true, nil
		case unix.ENOENT:
		case unix.ENOTDIR, unix.ELOOP:
			// A file, or a symlink possibly planted to lead outside:
			// replace it, never follow it.
			if err := removeAllAt(d.dst, name); err != nil {
				return -1, false, false, err
			}
			e.deleted.Add(1)
		default:
			return -1, false, false, err
		}
	}
	if err := retry(func() error { return unix.Mkdirat(d.dst, name, 0o700) }); err != nil {
		return -1, false, false, err
	}
	fd, err = openat(d.dst, name, dirFlags, 0)
	return fd, true, false, err
}

func (e *engine) makeWritable(fd int) {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil && st.Mode&0o700 != 0o700 {
		unix.Fchmod(fd, st.Mode&0o7777|0o700)
	}
}

// finishDir applies the source directory's metadata once all its entries
// are in place (creating entries changes a directory's mtime) and fsyncs
// it: files are fsynced before their directory, directories before the
// filesystem.
func (e *engine) finishDir(d *dirNode) {
	defer func() {
		unix.Close(d.src)
		unix.Close(d.dst)
		if d.prev >= 0 {
			unix.Close(d.prev)
		}
	}()
	if e.failed() {
		return
	}
	if !d.statted {
		if err := unix.Fstat(d.src, &d.st); err != nil {
			e.fail(e.srcErr("stat", d.rel, err))
			return
		}
	}
	var cur unix.Stat_t
	// A directory already up to date (the common case of a no-change
	// mirror) costs one fstat instead of four metadata calls. Its ctime
	// postdates any xattr change in the source, as in fixFile.
	upToDate := !d.fresh && unix.Fstat(d.dst, &cur) == nil && cur.Mode == d.st.Mode &&
		cur.Uid == d.st.Uid && cur.Gid == d.st.Gid && cur.Mtim == d.st.Mtim && tsBefore(d.st.Ctim, cur.Ctim)
	if !upToDate {
		if err := e.setMetaX(d.dst, d.src, -1, "", -1, "", &d.st, d.rel, !d.fresh, false); err != nil {
			e.fail(err)
			return
		}
	}
	if e.fsync {
		if err := retry(func() error { return unix.Fsync(d.dst) }); err != nil {
			e.fail(e.dstErr("fsync", d.rel, err))
		}
	}
}

// do handles one non-directory entry and reports whether it copied much data.
func (e *engine) do(d *dirNode, name string) (heavy bool) {
	if e.failed() {
		return false
	}
	var st unix.Stat_t
	if err := fstatat(d.src, name, &st); err != nil {
		if err == unix.ENOENT {
			e.noteChanged(d.child(name), "vanished")
			return
		}
		e.fail(e.srcErr("stat", d.child(name), err))
		return
	}
	var err error
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		// Counted by size even when linked: handing off costs little.
		heavy = st.Size >= heavyBytes
		err = e.doFile(d, name, &st)
	case unix.S_IFLNK:
		err = e.doSymlink(d, name, &st)
	case unix.S_IFDIR:
		// Became a directory after it was listed; the next run takes it.
		e.noteChanged(d.child(name), "replaced by a directory")
	default:
		err = e.doSpecial(d, name, &st)
	}
	if err != nil {
		e.fail(err)
	}
	return heavy
}

// unchanged is the quick check of rsync and of hard-link snapshots: same
// size, mtime, mode and owner means same content.
func unchanged(a, b *unix.Stat_t) bool {
	return a.Size == b.Size && a.Mtim == b.Mtim && a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid
}

func (e *engine) doFile(d *dirNode, name string, st *unix.Stat_t) error {
	size := st.Size
	var hl *hlink
	if st.Nlink > 1 {
		var first bool
		hl, first = e.linkGroup(st, d.child(name))
		if !first {
			select {
			case <-hl.done:
			case <-e.ctx.Done():
				return nil
			}
			if hl.ok {
				return e.linkTo(d, name, hl, st.Size)
			}
			hl = nil // the first copy failed or was skipped: copy on our own
		} else {
			defer close(hl.done)
		}
	}
	// Snapshot: link unchanged files from the previous snapshot.
	if e.mode == modeSnapshot && d.prev >= 0 {
		var pst unix.Stat_t
		// The previous copy's ctime is when a snapshot last linked it; a
		// later source ctime means xattrs or ACLs may have changed under
		// the same mtime, so copy rather than share a stale inode.
		if fstatat(d.prev, name, &pst) == nil && pst.Mode&unix.S_IFMT == unix.S_IFREG && unchanged(st, &pst) && tsBefore(st.Ctim, pst.Ctim) {
			err := retry(func() error { return unix.Linkat(d.prev, name, d.dst, name, 0) })
			switch err {
			case nil:
				e.countLinked(size)
				if hl != nil {
					hl.ok, hl.dstIno = true, pst.Ino
				}
				return nil
			case unix.EMLINK, unix.EPERM, unix.EXDEV, unix.EOPNOTSUPP:
				// Too many links to that inode, or a filesystem without
				// hard links: fall back to a copy.
			default:
				return e.dstErr("link", d.child(name), err)
			}
		}
	}
	// Mirror: leave up-to-date files alone, fix their metadata.
	exists := false
	if e.mayExist(d) {
		var dst unix.Stat_t
		exists = fstatat(d.dst, name, &dst) != unix.ENOENT
		if exists && dst.Mode&unix.S_IFMT == unix.S_IFREG && dst.Size == st.Size && dst.Mtim == st.Mtim {
			if err := e.fixFile(d, name, st, &dst); err != nil {
				return err
			}
			e.countLinked(size)
			if hl != nil {
				hl.ok, hl.dstIno = true, dst.Ino
			}
			return nil
		}
	}
	ino, ok, err := e.copyFile(d, name, !exists, hl != nil)
	if err != nil {
		return err
	}
	if hl != nil && ok {
		hl.ok, hl.dstIno = true, ino
	}
	return nil
}

// linkGroup returns the group of st's inode and whether the caller is the
// first of its names (and so must close done).
func (e *engine) linkGroup(st *unix.Stat_t, rel string) (*hlink, bool) {
	k := devIno{uint64(st.Dev), st.Ino}
	e.hlMu.Lock()
	defer e.hlMu.Unlock()
	hl := e.links[k]
	if hl == nil {
		hl = &hlink{done: make(chan struct{}), rel: rel, seen: 1}
		e.links[k] = hl
		return hl, true
	}
	hl.seen++
	if hl.seen >= uint64(st.Nlink) {
		delete(e.links, k) // all names seen: the map only holds open groups
	}
	return hl, false
}

func (e *engine) countLinked(size int64) {
	e.files.Add(1)
	e.linked.Add(1)
	e.done.Add(size)
}

func (e *engine) linkTo(d *dirNode, name string, hl *hlink, size int64) error {
	rel := d.child(name)
	dir, base := path.Split(hl.rel)
	pfd, err := openBeneath(e.dstRoot, path.Clean("/" + dir)[1:])
	if err != nil {
		return e.dstErr("link", rel, err)
	}
	defer unix.Close(pfd)
	if e.mayExist(d) {
		var st unix.Stat_t
		if fstatat(d.dst, name, &st) == nil {
			if st.Ino == hl.dstIno && st.Mode&unix.S_IFMT == unix.S_IFREG {
				e.countLinked(size)
				return nil
			}
			if err := removeAllAt(d.dst, name); err != nil {
				return e.dstErr("remove", rel, err)
			}
		}
	}
	if err := retry(func() error { return unix.Linkat(pfd, base, d.dst, name, 0) }); err != nil {
		return e.dstErr("link", rel, err)
	}
	e.countLinked(size)
	return nil
}

// copyFile copies a regular file with its metadata. It returns the inode
// written and whether a copy was made (false when the source vanished).
//
// Unless direct (a mirror replacing an existing entry) the data goes to a
// temporary name renamed over the old file, so a crash leaves the old or
// the new version, never half of one. A new file is written in place: if
// the run dies, its mtime is not yet the source's and the next run copies
// it again.
func (e *engine) copyFile(d *dirNode, name string, direct, needIno bool) (uint64, bool, error) {
	rel := d.child(name)
	src, err := openSource(d.src, name, readFlags)
	if err != nil {
		if err == unix.ENOENT || err == unix.ELOOP {
			e.noteChanged(rel, "vanished or replaced")
			return 0, false, nil
		}
		return 0, false, e.srcErr("open", rel, err)
	}
	defer unix.Close(src)
	var st unix.Stat_t
	if err := unix.Fstat(src, &st); err != nil {
		return 0, false, e.srcErr("stat", rel, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		e.noteChanged(rel, "replaced")
		return 0, false, nil
	}

	tmp := name
	if e.mode == modeMirror && !direct {
		tmp = ".extdrive." + strconv.FormatUint(st.Ino, 36) + "." + strconv.Itoa(os.Getpid()) + ".tmp"
	}
	dst, err := openat(d.dst, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err == unix.EEXIST && e.mode == modeMirror {
		if err = removeAllAt(d.dst, tmp); err == nil {
			dst, err = openat(d.dst, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		}
	}
	if err != nil {
		return 0, false, e.dstErr("create", rel, err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(dst)
			unix.Unlinkat(d.dst, tmp, 0)
		}
	}()
	var copied int64
	if err := e.copyData(dst, src, &st, rel, &copied); err != nil {
		return 0, false, err
	}
	var after unix.Stat_t
	if err := unix.Fstat(src, &after); err == nil && (after.Size != st.Size || after.Mtim != st.Mtim) {
		e.noteChanged(rel, "size or mtime changed during the copy")
	}
	// A new file is ours with our group unless its directory is
	// set-group-ID; then the chown would change nothing.
	owned := st.Uid == e.euid && st.Gid == e.egid && !d.sgid
	if err := e.setMetaX(dst, src, -1, "", -1, "", &st, rel, false, owned); err != nil {
		return 0, false, err
	}
	if e.fsync {
		if err := retry(func() error { return unix.Fsync(dst) }); err != nil {
			return 0, false, e.dstErr("fsync", rel, err)
		}
	}
	var wst unix.Stat_t
	if needIno {
		if err := unix.Fstat(dst, &wst); err != nil {
			return 0, false, e.dstErr("stat", rel, err)
		}
	}
	if err := unix.Close(dst); err != nil {
		return 0, false, e.dstErr("close", rel, err)
	}
	ok = true
	if tmp != name {
		if err := e.replace(d, tmp, name); err != nil {
			unix.Unlinkat(d.dst, tmp, 0)
			return 0, false, e.dstErr("rename", rel, err)
		}
	}
	e.files.Add(1)
	e.copied.Add(1)
	e.done.Add(st.Size - copied) // holes count as done
	return wst.Ino, true, nil
}

// replace renames tmp over name, first removing a directory in the way
// (rename cannot replace a directory with a file).
func (e *engine) replace(d *dirNode, tmp, name string) error {
	err := retry(func() error { return unix.Renameat(d.dst, tmp, d.dst, name) })
	if err == unix.EISDIR || err == unix.ENOTEMPTY || err == unix.EEXIST {
		if err = removeAllAt(d.dst, name); err != nil {
			return err
		}
		e.deleted.Add(1)
		err = retry(func() error { return unix.Renameat(d.dst, tmp, d.dst, name) })
	}
	return err
}

// copyData copies the file's data extents (holes stay holes) with
// copy_file_range, falling back to pread/pwrite where the kernel or the
// filesystem pair does not support it.
func (e *engine) copyData(dst, src int, st *unix.Stat_t, rel string, copied *int64) error {
	size := st.Size
	if size == 0 {
		return nil
	}
	// Only files with fewer blocks than their size can have holes; for the
	// rest two lseek calls per file would be wasted.
	sparse := st.Blocks*512 < size
	var off, written int64
	for off < size {
		if e.failed() {
			return e.ctx.Err()
		}
		start, end := off, size
		if sparse {
			ds, err := unix.Seek(src, off, unix.SEEK_DATA)
			if err == unix.ENXIO {
				break // only a hole remains
			}
			if err != nil {
				sparse = false
			} else {
				start = ds
				if he, err := unix.Seek(src, ds, unix.SEEK_HOLE); err == nil && he > ds {
					end = min(he, size)
				}
			}
		}
		if start >= size {
			break
		}
		n, err := e.copyRange(dst, src, start, end-start)
		if err != nil {
			if errors.Is(err, errSrcRead) {
				return e.srcErr("read", rel, errors.Unwrap(err))
			}
			return e.dstErr("write", rel, err)
		}
		written = start + n
		*copied += n
		if n < end-start {
			// The file shrank while we read it; noted by the caller's
			// before/after stat. Keep what we have.
			break
		}
		off = end
	}
	// The destination is always a new, empty file: only a trailing hole
	// needs the size set.
	if written < size {
		if err := retry(func() error { return unix.Ftruncate(dst, size) }); err != nil {
			return e.dstErr("truncate", rel, err)
		}
	}
	return nil
}

var errSrcRead = errors.New("source read")

func (e *engine) copyRange(dst, src int, off, n int64) (int64, error) {
	var done int64
	if !e.noCFR.Load() {
		roff, woff := off, off
		for done < n {
			c, err := unix.CopyFileRange(src, &roff, dst, &woff, int(min(n-done, 1<<30)), 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				if done == 0 && (err == unix.EXDEV || err == unix.EINVAL || err == unix.ENOSYS ||
					err == unix.EOPNOTSUPP || err == unix.EBADF || err == unix.EPERM) {
					e.noCFR.Store(true)
					break
				}
				if err == unix.EIO {
					// Which side failed is unknown; a read/write retry tells.
					break
				}
				return done, err
			}
			if c == 0 {
				return done, nil
			}
			done += int64(c)
			e.bytes.Add(int64(c))
			e.done.Add(int64(c))
		}
		if done >= n {
			return done, nil
		}
	}
	bp := e.bufPool.Get().(*[]byte)
	defer e.bufPool.Put(bp)
	buf := *bp
	for done < n {
		want := min(int64(len(buf)), n-done)
		var r int
		err := retry(func() (err error) { r, err = unix.Pread(src, buf[:want], off+done); return err })
		if err != nil {
			return done, fmt.Errorf("%w: %w", errSrcRead, err)
		}
		if r == 0 {
			return done, nil
		}
		for w := 0; w < r; {
			var m int
			err := retry(func() (err error) { m, err = unix.Pwrite(dst, buf[w:r], off+done+int64(w)); return err })
			if err != nil {
				return done, err
			}
			w += m
		}
		done += int64(r)
		e.bytes.Add(int64(r))
		e.done.Add(int64(r))
	}
	return done, nil
}

// fixFile brings an up-to-date mirror file's metadata in line with the
// source. The common case (nothing to do) costs two llistxattr calls.
func (e *engine) fixFile(d *dirNode, name string, st, dst *unix.Stat_t) error {
	xattrs := false
	// Any change to the source's xattrs or ACLs bumps its ctime past the
	// moment this copy was last written, so only then are the (costly)
	// xattr lists compared.
	if !tsBefore(st.Ctim, dst.Ctim) && !e.warnedKey("xattr-unsupported") {
		if n, err := unix.Llistxattr(fdPath(d.src, name), nil); err == nil && n > 0 {
			xattrs = true
		} else if n, err := unix.Llistxattr(fdPath(d.dst, name), nil); err == nil && n > 0 {
			xattrs = true
		}
	}
	if !xattrs && dst.Mode == st.Mode && (!e.isRoot || dst.Uid == st.Uid && dst.Gid == st.Gid) {
		return nil
	}
	rel := d.child(name)
	fd, err := openat(d.dst, name, readFlags, 0)
	if err != nil {
		return e.dstErr("open", rel, err)
	}
	defer unix.Close(fd)
	return e.setMetaX(fd, -1, d.src, name, -1, "", st, rel, true, false)
}

// tsBefore compares ctimes strictly: the kernel stamps them from a coarse
// clock, so equal ctimes may hide a change made in the same tick.
func tsBefore(a, b unix.Timespec) bool {
	return a.Sec < b.Sec || a.Sec == b.Sec && a.Nsec < b.Nsec
}

func (e *engine) warnedKey(k string) bool {
	e.warnMu.Lock()
	defer e.warnMu.Unlock()
	return e.warned[k]
}

func (e *engine) doSymlink(d *dirNode, name string, st *unix.Stat_t) error {
	rel := d.child(name)
	target, err := readlinkat(d.src, name, st.Size)
	if err != nil {
		if err == unix.ENOENT || err == unix.EINVAL {
			e.noteChanged(rel, "vanished or replaced")
			return nil
		}
		return e.srcErr("readlink", rel, err)
	}
	if e.mayExist(d) {
		var dst unix.Stat_t
		if fstatat(d.dst, name, &dst) == nil {
			if dst.Mode&unix.S_IFMT == unix.S_IFLNK {
				if cur, err := readlinkat(d.dst, name, dst.Size); err == nil && cur == target {
					e.symlinks.Add(1)
					return e.setMetaX(-1, -1, d.src, name, d.dst, name, st, rel, true, false)
				}
			}
			if err := removeAllAt(d.dst, name); err != nil {
				return e.dstErr("remove", rel, err)
			}
		}
	}
	if err := retry(func() error { return unix.Symlinkat(target, d.dst, name) }); err != nil {
		return e.dstErr("symlink", rel, err)
	}
	e.symlinks.Add(1)
	return e.setMetaX(-1, -1, d.src, name, d.dst, name, st, rel, false, false)
}

func readlinkat(dir int, name string, size int64) (string, error) {
	n := max(int(size)+1, 256)
	for {
		buf := make([]byte, n)
		var r int
		err := retry(func() (err error) { r, err = unix.Readlinkat(dir, name, buf); return err })
		if err != nil {
			return "", err
		}
		if r < len(buf) {
			return string(buf[:r]), nil
		}
		n *= 2
	}
}

func (e *engine) doSpecial(d *dirNode, name string, st *unix.Stat_t) error {
	rel := d.child(name)
	if e.mayExist(d) {
		var dst unix.Stat_t
		if fstatat(d.dst, name, &dst) == nil {
			if dst.Mode&unix.S_IFMT == st.Mode&unix.S_IFMT && dst.Rdev == st.Rdev {
				e.specials.Add(1)
				return e.setMetaX(-1, -1, d.src, name, d.dst, name, st, rel, true, false)
			}
			if err := removeAllAt(d.dst, name); err != nil {
				return e.dstErr("remove", rel, err)
			}
		}
	}
	err := retry(func() error { return unix.Mknodat(d.dst, name, st.Mode&(unix.S_IFMT|0o7777), int(st.Rdev)) })
	if err == unix.EPERM && (st.Mode&unix.S_IFMT == unix.S_IFCHR || st.Mode&unix.S_IFMT == unix.S_IFBLK) {
		e.warnOnce("mknod", "device nodes need root; skipping them", "first", path.Join(e.srcPath, rel))
		return nil
	}
	if err != nil {
		return e.dstErr("mknod", rel, err)
	}
	e.specials.Add(1)
	return e.setMetaX(-1, -1, d.src, name, d.dst, name, st, rel, false, false)
}

// setMeta applies st's owner, xattrs, mode and times. The target is the
// open fd dst, or (for symlinks and special files, which cannot be opened
// safely) the entry dname of directory ddir. Xattrs come from the open fd
// src.
func (e *engine) setMeta(dst, src, ddir int, dname string, st *unix.Stat_t, rel string) error {
	return e.setMetaX(dst, src, -1, "", ddir, dname, st, rel, false, false)
}

// setMetaX is setMeta with the xattr source given either as an fd (xsrc)
// or as an entry (sdir, sname), and with prune set when the destination
// may carry stale xattrs of its own (an existing mirror entry), and owned
// set when the destination already has st's owner and group.
func (e *engine) setMetaX(dst, xsrc, sdir int, sname string, ddir int, dname string, st *unix.Stat_t, rel string, prune, owned bool) error {
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	// Owner first: chown clears set-uid bits, and ACLs refer to the owner.
	if owned {
		// nothing to change
	} else if e.isRoot {
		var err error
		if dst >= 0 {
			err = retry(func() error { return unix.Fchown(dst, int(st.Uid), int(st.Gid)) })
		} else {
			err = retry(func() error {
				return unix.Fchownat(ddir, dname, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
			})
		}
		if err != nil {
			return e.dstErr("chown", rel, err)
		}
	} else if st.Uid != uint32(os.Geteuid()) {
		e.warnOnce("chown", "not running as root: files keep the copying user as owner", "first", path.Join(e.srcPath, rel))
	}
	if err := e.copyXattrs(dst, xsrc, sdir, sname, ddir, dname, rel, prune); err != nil {
		return err
	}
	if !isLink {
		var err error
		if dst >= 0 {
			err = retry(func() error { return unix.Fchmod(dst, st.Mode&0o7777) })
		} else {
			err = retry(func() error { return unix.Fchmodat(ddir, dname, st.Mode&0o7777, 0) })
		}
		if err != nil {
			return e.dstErr("chmod", rel, err)
		}
	}
	ts := [2]unix.Timespec{st.Atim, st.Mtim}
	var err error
	if dst >= 0 {
		err = retry(func() error { return futimens(dst, &ts) })
	} else {
		err = retry(func() error { return unix.UtimesNanoAt(ddir, dname, ts[:], unix.AT_SYMLINK_NOFOLLOW) })
	}
	if err != nil {
		return e.dstErr("set times", rel, err)
	}
	return nil
}

// xattrIO reads or writes the xattrs of either an fd or an entry reached
// through its directory fd.
type xattrIO struct {
	fd   int
	path string
}

func (x xattrIO) list(buf []byte) (int, error) {
	if x.fd >= 0 {
		return unix.Flistxattr(x.fd, buf)
	}
	return unix.Llistxattr(x.path, buf)
}

func (x xattrIO) get(name string, buf []byte) (int, error) {
	if x.fd >= 0 {
		return unix.Fgetxattr(x.fd, name, buf)
	}
	return unix.Lgetxattr(x.path, name, buf)
}

func (x xattrIO) set(name string, val []byte) error {
	if x.fd >= 0 {
		return unix.Fsetxattr(x.fd, name, val, 0)
	}
	return unix.Lsetxattr(x.path, name, val, 0)
}

func (x xattrIO) remove(name string) error {
	if x.fd >= 0 {
		return unix.Fremovexattr(x.fd, name)
	}
	return unix.Lremovexattr(x.path, name)
}

// listXattrs returns the attribute names, growing the buffer as needed.
func listXattrs(x xattrIO) ([]string, error) {
	var n int
	err := retry(func() (err error) { n, err = x.list(nil); return err })
	if err != nil || n == 0 {
		return nil, err
	}
	for {
		buf := make([]byte, n)
		var m int
		err := retry(func() (err error) { m, err = x.list(buf); return err })
		if err == unix.ERANGE {
			n *= 2
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for b := buf[:m]; len(b) > 0; {
			i := 0
			for i < len(b) && b[i] != 0 {
				i++
			}
			if i > 0 {
				names = append(names, string(b[:i]))
			}
			if i < len(b) {
				i++
			}
			b = b[i:]
		}
		return names, nil
	}
}

func getXattr(x xattrIO, name string) ([]byte, error) {
	var n int
	err := retry(func() (err error) { n, err = x.get(name, nil); return err })
	if err != nil {
		return nil, err
	}
	for {
		buf := make([]byte, max(n, 1))
		var m int
		err := retry(func() (err error) { m, err = x.get(name, buf); return err })
		if err == unix.ERANGE {
			n = len(buf) * 2
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:m], nil
	}
}

func (e *engine) copyXattrs(dst, xsrc, sdir int, sname string, ddir int, dname string, rel string, prune bool) error {
	src := xattrIO{fd: xsrc}
	if xsrc < 0 {
		if sdir < 0 {
			return nil
		}
		src.path = fdPath(sdir, sname)
	}
	d := xattrIO{fd: dst}
	if dst < 0 {
		d.path = fdPath(ddir, dname)
	}
	names, err := listXattrs(src)
	if err != nil {
		if err == unix.EOPNOTSUPP || err == unix.ENOENT {
			return nil
		}
		return e.srcErr("list xattrs", rel, err)
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
		val, err := getXattr(src, n)
		if err != nil {
			if err == unix.ENODATA {
				continue
			}
			return e.srcErr("read xattr "+n, rel, err)
		}
		if err := retry(func() error { return d.set(n, val) }); err != nil {
			switch err {
			case unix.EOPNOTSUPP, unix.EPERM, unix.EACCES, unix.EINVAL:
				// The destination filesystem (vfat, exfat, a tmpfs without
				// ACLs) or our privileges do not allow this namespace.
				e.warnOnce("xattr-unsupported", "the destination does not keep some extended attributes or ACLs; they are not copied",
					"first", path.Join(e.srcPath, rel), "attr", n, "err", err)
				continue
			}
			return e.dstErr("set xattr "+n, rel, err)
		}
	}
	if prune {
		have, err := listXattrs(d)
		if err == nil {
			for _, n := range have {
				if !want[n] {
					d.remove(n)
				}
			}
		}
	}
	return nil
}

func (e *engine) progress(done bool) Progress {
	el := time.Since(e.start)
	p := Progress{
		Files:   e.files.Load() + e.symlinks.Load() + e.specials.Load(),
		Bytes:   e.done.Load(),
		Written: e.bytes.Load(),
		Linked:  e.linked.Load(),
		Elapsed: el,
		Done:    done,
	}
	if el > 0 {
		p.Rate = float64(p.Bytes) / el.Seconds()
	}
	if done {
		// Whether or not the scan finished, the totals are now known.
		p.TotalFiles, p.TotalBytes = p.Files, p.Bytes
	} else if e.scanDone.Load() {
		p.TotalFiles, p.TotalBytes = e.totalFiles.Load(), e.totalBytes.Load()
		if p.Rate > 0 && !done {
			left := p.TotalBytes - p.Bytes
			if left > 0 {
				p.ETA = time.Duration(float64(left) / p.Rate * float64(time.Second))
			}
		}
	}
	return p
}

func (e *engine) reportLoop(stop <-chan struct{}) {
	t := time.NewTicker(e.opts.ProgressInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			e.opts.Progress(e.progress(false))
		case <-stop:
			e.opts.Progress(e.progress(true))
			return
		}
	}
}

// scan counts the source for Progress totals; it runs beside the copy.
func (e *engine) scan(src int) {
	fd, err := reopen(src)
	if err != nil {
		return
	}
	var files, bytes int64
	buf := make([]byte, 32<<10)
	var walk func(fd int, rel string)
	walk = func(fd int, rel string) {
		defer unix.Close(fd)
		var subdirs []string
		readDir(fd, buf, func(name string, typ uint8) error {
			if e.failed() {
				return e.ctx.Err()
			}
			r := name
			if rel != "" {
				r = rel + "/" + name
			}
			if e.ex.Match(r, typ == unix.DT_DIR) {
				return nil
			}
			if typ == unix.DT_DIR {
				subdirs = append(subdirs, name)
				return nil
			}
			files++
			if typ == unix.DT_REG || typ == unix.DT_UNKNOWN {
				var st unix.Stat_t
				if fstatat(fd, name, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
					bytes += st.Size
				}
			}
			return nil
		})
		for _, name := range subdirs {
			if c, err := openat(fd, name, dirFlags, 0); err == nil {
				walk(c, path.Join(rel, name))
			}
		}
	}
	walk(fd, "")
	e.totalFiles.Store(files)
	e.totalBytes.Store(bytes)
	e.scanDone.Store(true)
}

func (e *engine) fill(r *Result) {
	r.Files = e.files.Load()
	r.Dirs = e.dirs.Load() + 1
	r.Symlinks = e.symlinks.Load()
	r.Specials = e.specials.Load()
	r.Copied = e.copied.Load()
	r.Linked = e.linked.Load()
	r.Bytes = e.bytes.Load()
	r.Deleted = e.deleted.Load()
	e.chMu.Lock()
	r.Changed = append(r.Changed, e.changed...)
	e.chMu.Unlock()
	r.Elapsed = time.Since(e.start)
}
