// Package treecopy copies directory trees onto backup drives: crash-safe
// dated snapshots that hard-link unchanged files from the previous one
// (what rsync --link-dest scripts and Time Machine do), and exact mirrors
// (what rsync -aHAX --delete SRC/ DST/ does).
//
// Copies are exact: regular files (sparse files stay sparse), directories,
// symlinks (never followed), hard links within the source, FIFOs, sockets
// and device nodes; mode, owner, group, mtime with nanoseconds, extended
// attributes and POSIX ACLs (system.posix_acl_* attributes) where the
// destination supports them. File names are bytes.
//
// Every destination write is made relative to a directory file descriptor
// opened with O_NOFOLLOW, so a symlink planted on the drive cannot redirect
// a write outside the destination.
//
// The walk is streamed (memory does not grow with the number of files) and
// files are stat'ed and copied by a bounded pool of workers, with
// copy_file_range where the kernel supports it. The package never prints;
// it logs through Options.Logger and reports progress through
// Options.Progress.
//
// The layout of a snapshot root:
//
//	ROOT/2026-01-31T020000Z/    complete snapshots, named by start time (UTC)
//	ROOT/2026-02-28T020000Z/
//	ROOT/latest -> 2026-02-28T020000Z
//	ROOT/.extdrive-sync.lock    flock'ed by the running sync
//	ROOT/2026-03-31T020000Z.inprogress/   only while a run is going (or after a crash)
package treecopy
