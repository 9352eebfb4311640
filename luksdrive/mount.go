package luksdrive

import (
	"errors"
	"io/fs"
	"log/slog"
)

var (
	// ErrNoFilesystem: the device holds no filesystem that can be mounted
	// (still locked, unformatted, or an image file rather than a device).
	ErrNoFilesystem = errors.New("no mountable filesystem")
	// ErrNotMounted: nothing is mounted at the given mount point.
	ErrNotMounted = errors.New("not mounted")
)

// Owner sets who owns the root of a mounted filesystem. For filesystems
// without Unix owners (vfat, exfat) it becomes the uid=, gid= and umask=
// mount options; for the others the root directory is chowned.
type Owner struct {
	UID, GID int
	// Mode is the permission of the mount root (for example 0o750); 0
	// leaves it as the filesystem has it.
	Mode fs.FileMode
}

// MountPolicy is what a backup drive's mount must look like. nodev,
// nosuid and noexec are not part of it: they are always enforced, because
// a drive that travels off-site can come back with anything on it.
type MountPolicy struct {
	Sync       bool // write through at once, so a yanked drive loses less
	NoAtime    bool // no access-time updates
	NoDirAtime bool // no directory access-time updates (implied by NoAtime)
	// Owner of the mount root; nil leaves ownership alone.
	Owner *Owner
}

// MountOptions tunes Mount. A nil *MountOptions means: enforce only
// nodev,nosuid,noexec, detect the filesystem type, read-write, and require
// an existing empty mount point.
type MountOptions struct {
	Policy MountPolicy
	// FSType is the filesystem type; "" probes the device's superblock.
	FSType string
	// ReadOnly mounts read-only.
	ReadOnly bool
	// Create makes the mount point (mode 0755, with parents) if missing.
	Create bool
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
}

// UnmountOptions tunes Unmount. A nil *UnmountOptions means defaults.
type UnmountOptions struct {
	// Logger receives one line per step; nil discards.
	Logger *slog.Logger
}

// enforced are the options every mount made or accepted by this package has.
var enforced = []string{"nodev", "nosuid", "noexec"}
