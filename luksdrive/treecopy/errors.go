package treecopy

import (
	"errors"
	"fmt"
	"strconv"
	"syscall"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (usually inside an *OpError), so callers branch with errors.Is; the
// extdrive command maps each one to its own exit code.
var (
	// ErrLocked: another run holds the lock on this snapshot root or mirror.
	ErrLocked = errors.New("another sync is running on this destination")
	// ErrNoSpace: the destination filled up (ENOSPC or EDQUOT). The error is
	// a *SpaceError that says how much the run needed.
	ErrNoSpace = errors.New("no space left on the destination")
	// ErrIO: the kernel reported an I/O error reading the source or writing
	// the destination.
	ErrIO = errors.New("I/O error")
	// ErrVerify: --verify re-read the copy and found files whose content
	// differs from the source (Result.Mismatches lists them).
	ErrVerify = errors.New("copy differs from the source")
	// ErrChanged is not returned by Snapshot or Mirror (a run whose source
	// changed under it still completes); it is for callers that want to
	// fail when Result.Changed is not empty.
	ErrChanged = errors.New("files changed while being copied")
	// ErrSource: the source is missing, not a directory or unreadable.
	ErrSource = errors.New("unusable source")
	// ErrDest: the destination is missing, not a directory, read-only, or
	// holds something in the way (for example ROOT/latest is not a symlink).
	ErrDest = errors.New("unusable destination")
	// ErrBadPattern: an exclude pattern cannot be parsed.
	ErrBadPattern = errors.New("bad exclude pattern")
	// ErrUnsupported: the engine needs Linux.
	ErrUnsupported = errors.New("tree copy is not supported on this platform")
)

// OpError records the operation and the path it failed on.
type OpError struct {
	Op   string // "snapshot", "mirror", "copy", "lock", "verify", ...
	Path string
	Err  error
}

func (e *OpError) Error() string {
	if e.Path == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return e.Op + " " + quotePath(e.Path) + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }

// quotePath keeps error messages on one line: file names are bytes and may
// hold newlines or invalid UTF-8.
func quotePath(p string) string {
	for _, r := range p {
		if r < 0x20 || r == 0x7f || r == 0xfffd || r == ' ' {
			return strconv.Quote(p)
		}
	}
	return p
}

// SpaceError is returned when the destination ran out of space. The partial
// snapshot has been removed by the time the caller sees it.
type SpaceError struct {
	Path      string // the destination root
	Needed    int64  // bytes of file data this run had to write (an estimate, at least this much)
	Available int64  // bytes free on the destination after the cleanup
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("no space left on %s: this run needs to write about %s, %s are free; free space or prune old snapshots, then run again",
		quotePath(e.Path), FormatBytes(e.Needed), FormatBytes(e.Available))
}

func (e *SpaceError) Unwrap() error { return ErrNoSpace }

// FormatBytes renders n in binary units ("1.5 GiB") for messages.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// classify wraps a syscall error with the sentinel a caller branches on.
func classify(err error) error {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return fmt.Errorf("%w (%w)", ErrNoSpace, err)
	case errors.Is(err, syscall.EIO):
		return fmt.Errorf("%w (%w)", ErrIO, err)
	case errors.Is(err, syscall.EROFS):
		return fmt.Errorf("%w: read-only file system (%w)", ErrDest, err)
	}
	return err
}
