package treecopy

import (
	"errors"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	dirFlags  = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	readFlags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
)

// retry repeats a syscall interrupted by a signal: the Go runtime's
// preemption signals make EINTR routine on slow filesystems.
func retry(f func() error) error {
	for {
		err := f()
		if err != unix.EINTR {
			return err
		}
	}
}

func openat(dir int, name string, flags int, mode uint32) (int, error) {
	for {
		fd, err := unix.Openat(dir, name, flags, mode)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openSource opens a source file without updating its atime where the
// kernel allows it (O_NOATIME needs ownership or CAP_FOWNER).
func openSource(dir int, name string, flags int) (int, error) {
	fd, err := openat(dir, name, flags|unix.O_NOATIME, 0)
	if err == unix.EPERM {
		fd, err = openat(dir, name, flags, 0)
	}
	return fd, err
}

func fstatat(dir int, name string, st *unix.Stat_t) error {
	return retry(func() error { return unix.Fstatat(dir, name, st, unix.AT_SYMLINK_NOFOLLOW) })
}

// futimens sets the times of an open file; x/sys only offers the
// microsecond futimes, and mtimes must keep their nanoseconds.
func futimens(fd int, ts *[2]unix.Timespec) error {
	_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// readDir calls fn for every entry of the open directory fd except "." and
// "..", reading with getdents64 so that the file type comes for free and
// nothing but the current buffer is held in memory.
func readDir(fd int, buf []byte, fn func(name string, typ uint8) error) error {
	return readDirIno(fd, buf, func(name string, typ uint8, _ uint64) error { return fn(name, typ) })
}

// readDirIno is readDir that also passes each entry's inode number.
func readDirIno(fd int, buf []byte, fn func(name string, typ uint8, ino uint64) error) error {
	for {
		var n int
		err := retry(func() (err error) { n, err = unix.Getdents(fd, buf); return err })
		if err != nil {
			return err
		}
		if n <= 0 {
			return nil
		}
		b := buf[:n]
		for len(b) > 0 {
			// struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name[]
			reclen := int(*(*uint16)(unsafe.Pointer(&b[16])))
			if reclen < 20 || reclen > len(b) {
				return errors.New("corrupt directory entry from getdents64")
			}
			typ := b[18]
			ino := *(*uint64)(unsafe.Pointer(&b[0]))
			nameb := b[19:reclen]
			for i, c := range nameb {
				if c == 0 {
					nameb = nameb[:i]
					break
				}
			}
			b = b[reclen:]
			if len(nameb) == 1 && nameb[0] == '.' || len(nameb) == 2 && nameb[0] == '.' && nameb[1] == '.' {
				continue
			}
			if err := fn(string(nameb), typ, ino); err != nil {
				return err
			}
		}
	}
}

// removeAllAt removes name (and, if it is a directory, everything below it)
// from the directory dir. It never follows symlinks: a planted link is
// unlinked, not descended into.
func removeAllAt(dir int, name string) error {
	err := retry(func() error { return unix.Unlinkat(dir, name, 0) })
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := openat(dir, name, dirFlags, 0)
	if err != nil {
		if err == unix.ENOENT {
			return nil
		}
		return err
	}
	var names []string
	buf := make([]byte, 16<<10)
	err = readDir(fd, buf, func(n string, _ uint8) error {
		names = append(names, n)
		return nil
	})
	if err == nil {
		for _, n := range names {
			if err = removeAllAt(fd, n); err != nil {
				break
			}
		}
	}
	unix.Close(fd)
	if err != nil {
		return err
	}
	err = retry(func() error { return unix.Unlinkat(dir, name, unix.AT_REMOVEDIR) })
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// openBeneath opens the directory rel (slash-separated) below root one
// component at a time with O_NOFOLLOW, so no symlink on the way can lead
// outside root.
func openBeneath(root int, rel string) (int, error) {
	fd, err := unix.Dup(root)
	if err != nil {
		return -1, err
	}
	unix.CloseOnExec(fd)
	for rel != "" {
		var comp string
		comp, rel = rel, ""
		for i := 0; i < len(comp); i++ {
			if comp[i] == '/' {
				comp, rel = comp[:i], comp[i+1:]
				break
			}
		}
		next, err := openat(fd, comp, dirFlags, 0)
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
	}
	return fd, nil
}

// fdPath names an entry of an open directory for the few calls that have no
// *at variant (the l*xattr family). The kernel resolves the /proc magic
// link to the directory itself, so nothing in the original path is
// re-resolved, and the final component is not followed by l* calls.
func fdPath(dir int, name string) string {
	return "/proc/self/fd/" + strconv.Itoa(dir) + "/" + name
}

// reopen opens a directory afresh. A dup would share the file offset, and
// two walkers reading one directory through shared offsets each see only
// part of it.
func reopen(dir int) (int, error) {
	return openat(dir, ".", dirFlags, 0)
}
