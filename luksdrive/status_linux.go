package luksdrive

import (
	"errors"
	"strings"

	"github.com/extdrive/extdrive/luksdrive/probe"
	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountStatus fills the mount part of s. The mount point is d.MountPoint
// when it holds the drive's mapping; without a configured mount point the
// first mount of the mapping is reported.
func mountStatus(d *Drive, s *Status) error {
	if s.Present && s.LUKSUUID == "" {
		if r, err := probe.Device(s.Device); err == nil && r.Type == "crypto_LUKS" {
			s.LUKSUUID = r.UUID
		}
	}
	// src is the block device whose filesystem is reported: the open
	// mapping, or the device itself for a drive that is not LUKS.
	src := ""
	switch {
	case s.Mapping != "":
		src = "/dev/mapper/" + s.Mapping
	case s.Present && s.LUKSUUID == "":
		src = s.Device
	}
	target := d.MountPoint
	if target == "" && src != "" {
		target = firstMountOf(src)
	}
	if target == "" {
		return nil
	}
	m, err := mountAt(target)
	if errors.Is(err, ErrNotMounted) {
		return nil
	}
	if err != nil {
		return err
	}
	if src != "" && !sameMount(src, target) {
		// Something else is mounted where the drive should be.
		return nil
	}
	if src == "" {
		// The drive was pulled but its filesystem is still mounted (the
		// kernel keeps a dead mapping until it is unmounted).
		name, _ := mountedMapping(target)
		if name == "" {
			return nil
		}
		s.Mapping = name
	}
	s.Mounted, s.MountPoint, s.FSType = true, m.Mountpoint, m.FSType
	s.Options = strings.Split(m.Options, ",")
	if err := CheckMount(target, d.Policy); err != nil {
		s.PolicyProblem = err.Error()
	} else {
		s.PolicyOK = true
	}
	var fs unix.Statfs_t
	if unix.Statfs(target, &fs) == nil {
		s.TotalBytes = fs.Blocks * uint64(fs.Bsize)
		s.FreeBytes = fs.Bavail * uint64(fs.Bsize)
	}
	return nil
}

func firstMountOf(device string) string {
	var st unix.Stat_t
	if unix.Stat(device, &st) != nil {
		return ""
	}
	maj, min := int(unix.Major(st.Rdev)), int(unix.Minor(st.Rdev))
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return ""
	}
	for _, m := range ms {
		if m.Major == maj && m.Minor == min {
			return m.Mountpoint
		}
	}
	return ""
}
