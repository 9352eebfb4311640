package treecopy

import (
	"io"
	"log/slog"
	"runtime"
	"time"
)

// Options tunes Snapshot and Mirror. A nil *Options, and every zero field,
// means the documented default.
type Options struct {
	// Exclude lists patterns (syntax in ParseExcludes) for entries to leave
	// out. In mirror mode excluded entries already in the destination are
	// kept, as with rsync --exclude without --delete-excluded.
	Exclude []string

	// Workers bounds how many files are stat'ed and copied at once.
	// 0 means 4 per CPU, at least 4: on a USB disk most of the time is
	// spent waiting, and on a warm page cache extra workers cost little.
	Workers int

	// Verify re-reads every regular file of the finished copy (after
	// dropping it from the page cache) and compares its SHA-256 with the
	// source. Mismatches are listed in Result.Mismatches and the run
	// returns ErrVerify; a snapshot that fails verification is still
	// published but retention does not prune anything.
	Verify bool

	// Retention prunes old snapshots after a new one is complete. nil keeps
	// every snapshot. Mirror ignores it.
	Retention *Retention

	// Scan counts the source in a second, concurrent walk so that Progress
	// carries totals and an ETA. Off by default: copying starts at once
	// either way, and on huge trees the count costs a full extra walk.
	Scan bool

	// Progress, when set, is called from a single goroutine every
	// ProgressInterval and once more at the end with Done set. It must not
	// block for long.
	Progress func(Progress)

	// ProgressInterval is the time between Progress calls; 0 means 1s.
	ProgressInterval time.Duration

	// Now names the new snapshot and drives retention; nil means time.Now.
	Now func() time.Time

	// Logger receives warnings (unsupported xattrs, files that changed
	// while read) and debug messages; nil discards them.
	Logger *slog.Logger
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.Workers <= 0 {
		c.Workers = max(4, 4*runtime.GOMAXPROCS(0))
	}
	if c.ProgressInterval <= 0 {
		c.ProgressInterval = time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// Progress is a point-in-time view of a running copy.
type Progress struct {
	Files      int64         // entries done (files, links, symlinks, specials)
	Bytes      int64         // bytes of regular files done, copied or linked: the share of TotalBytes
	Written    int64         // file data actually written so far
	Linked     int64         // files hard-linked or found unchanged instead of copied
	TotalFiles int64         // with Options.Scan: entries in the source (0 until counted; final counts when Done)
	TotalBytes int64         // with Options.Scan: bytes of regular files in the source (likewise)
	Rate       float64       // Bytes per second over the whole run
	Elapsed    time.Duration //
	ETA        time.Duration // 0 when unknown (no Scan, or the scan is still running)
	Done       bool          // the last call of the run
}

// Result describes a finished (or failed) run.
type Result struct {
	Path string // the snapshot directory (final name) or the mirror destination

	Files    int64 // regular files in the copy
	Dirs     int64
	Symlinks int64
	Specials int64 // FIFOs, sockets and device nodes
	Copied   int64 // regular files whose data was written
	Linked   int64 // regular files hard-linked from the previous snapshot or left unchanged in a mirror
	Bytes    int64 // file data written
	Deleted  int64 // entries removed from a mirror

	// Changed lists source paths (relative to the source) that changed or
	// vanished while the run read them. Their copy may be inconsistent;
	// the next run copies them again because their recorded mtime is the
	// one seen before reading.
	Changed []string

	// Mismatches lists files whose re-read content differs (Options.Verify).
	Mismatches []string

	// Pruned lists the snapshots removed by retention.
	Pruned []string

	Elapsed time.Duration
}

// maxListed caps Result.Changed and Result.Mismatches so that a source
// rewritten during the run cannot grow memory without bound.
const maxListed = 1000
