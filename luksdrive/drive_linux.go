package luksdrive

import (
	"fmt"
	"os"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountedMapping returns the device-mapper name of the filesystem mounted
// at target ("" if it is not on a mapping), or ErrNotMounted. It reads
// sysfs, not the device, so it works after the drive was pulled.
func mountedMapping(target string) (string, error) {
	m, err := mountAt(target)
	if err != nil {
		return "", err
	}
	name, err := os.ReadFile(fmt.Sprintf("/sys/dev/block/%d:%d/dm/name", m.Major, m.Minor))
	if err != nil {
		return "", nil
	}
	return strings.TrimSpace(string(name)), nil
}

// sameMount reports whether the filesystem on device is what is mounted
// at target.
func sameMount(device, target string) bool {
	m, err := mountAt(target)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	if unix.Stat(device, &st) != nil {
		return false
	}
	return int(unix.Major(st.Rdev)) == m.Major && int(unix.Minor(st.Rdev)) == m.Minor
}

// MountPoints lists where the filesystem on the block device is mounted,
// most recent mount first, so stacked mounts can come off in that order.
// A device that does not exist has no mount points.
func MountPoints(device string) []string {
	var st unix.Stat_t
	if unix.Stat(device, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return nil
	}
	maj, min := int(unix.Major(st.Rdev)), int(unix.Minor(st.Rdev))
	ms, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil
	}
	var out []string
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Major == maj && ms[i].Minor == min {
			out = append(out, ms[i].Mountpoint)
		}
	}
	return out
}

func mappingExists(name string) bool {
	_, err := os.Stat("/dev/mapper/" + name)
	return err == nil
}
