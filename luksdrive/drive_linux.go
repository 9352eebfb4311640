package luksdrive

import (
	"fmt"
	"os"
	"strings"

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
