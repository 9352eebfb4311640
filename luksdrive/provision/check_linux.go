package provision

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
)

// system describes the trees the checks read; tests point it at a fake
// sysfs and mountinfo.
type system struct {
	sys       string // /sys
	dev       string // /dev
	mountinfo string // /proc/self/mountinfo
	swaps     string // /proc/swaps
	udevDB    string // /run/udev/data
}

var realSystem = system{sys: "/sys", dev: "/dev", mountinfo: "/proc/self/mountinfo", swaps: "/proc/swaps", udevDB: "/run/udev/data"}

// systemMounts are the mount points whose disks the host needs to run.
var systemMounts = []string{"/", "/boot", "/boot/efi", "/boot/firmware", "/efi", "/usr", "/var"}

// devNum is a block device's "major:minor", as sysfs and mountinfo write it.
func devNum(path string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("%w: %s does not exist", luksdrive.ErrNoDevice, path)
		}
		return "", err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return "", fmt.Errorf("%w: %s is not a block device; give the disk's /dev node, e.g. /dev/sdb", ErrNotWholeDisk, path)
	}
	return fmt.Sprintf("%d:%d", unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev))), nil
}

// inspect runs every refusal check on the disk with device number num and
// gathers what is known about it. path is only for messages and probing.
func (s system) inspect(path, num string, minSize int64) (*DeviceInfo, error) {
	link, err := os.Readlink(filepath.Join(s.sys, "dev/block", num))
	if err != nil {
		return nil, fmt.Errorf("%w: no sysfs entry for %s (%s)", luksdrive.ErrNoDevice, path, num)
	}
	name := filepath.Base(link)
	dir := filepath.Join(s.sys, "class/block", name)
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		parent := filepath.Base(filepath.Dir(link))
		return nil, fmt.Errorf("%w: %s is a partition of /dev/%s; give the whole disk, /dev/%s, which Prepare repartitions", ErrNotWholeDisk, path, parent, parent)
	}
	info := &DeviceInfo{Path: path, Name: name}
	sectors, _ := readInt(filepath.Join(dir, "size"))
	info.Size = sectors * 512
	info.Vendor = readTrim(filepath.Join(dir, "device/vendor"))
	info.Model = readTrim(filepath.Join(dir, "device/model"))
	info.Serial = s.serial(num, dir)
	rem, _ := readInt(filepath.Join(dir, "removable"))
	info.Removable = rem == 1

	// The disk and its partitions, by device number.
	nums := map[string]string{num: name}
	parts, _ := os.ReadDir(dir)
	for _, p := range parts {
		pd := filepath.Join(dir, p.Name())
		if _, err := os.Stat(filepath.Join(pd, "partition")); err != nil {
			continue
		}
		if n := readTrim(filepath.Join(pd, "dev")); n != "" {
			nums[n] = p.Name()
		}
		sz, _ := readInt(filepath.Join(pd, "size"))
		info.Partitions = append(info.Partitions, PartitionInfo{Name: p.Name(), Size: sz * 512})
	}

	if err := s.checkSystem(path, name, nums); err != nil {
		return nil, err
	}
	for _, pname := range nums {
		holders, _ := os.ReadDir(filepath.Join(s.sys, "class/block", pname, "holders"))
		for _, h := range holders {
			what := "/dev/" + h.Name()
			if dm := readTrim(filepath.Join(s.sys, "class/block", h.Name(), "dm/name")); dm != "" {
				what = "/dev/mapper/" + dm
			}
			return nil, fmt.Errorf("%w: /dev/%s is part of the active mapping %s; close it first (cryptsetup close, mdadm --stop)", ErrInUse, pname, what)
		}
	}
	mounts, err := readMountinfo(s.mountinfo)
	if err != nil {
		return nil, err
	}
	for _, m := range mounts {
		if pname, ok := nums[m.num]; ok {
			return nil, fmt.Errorf("%w: /dev/%s is mounted on %s; unmount it first", ErrInUse, pname, m.target)
		}
	}
	for _, sw := range readSwaps(s.swaps) {
		if n, err := devNum(sw); err == nil {
			if pname, ok := nums[n]; ok {
				return nil, fmt.Errorf("%w: /dev/%s is in use as swap; swapoff it first", ErrInUse, pname)
			}
		}
	}
	if minSize <= 0 {
		minSize = DefaultMinSize
	}
	if info.Size < minSize {
		return nil, fmt.Errorf("%w: %s has %s, less than the %s floor; is this really the backup drive?", ErrTooSmall, path, config.Size(info.Size).Human(), config.Size(minSize).Human())
	}
	return info, nil
}

// checkSystem refuses the disk under any system mount, following
// device-mapper and md slaves down to the disks (root on LUKS on sda2
// makes sda the system disk).
func (s system) checkSystem(path, name string, nums map[string]string) error {
	mounts, err := readMountinfo(s.mountinfo)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if !slices.Contains(systemMounts, m.target) {
			continue
		}
		num := m.num
		if strings.HasPrefix(num, "0:") { // btrfs, overlay: the source names the device
			if n, err := devNum(m.source); err == nil {
				num = n
			}
		}
		link, err := os.Readlink(filepath.Join(s.sys, "dev/block", num))
		if err != nil {
			continue
		}
		for _, disk := range s.disksUnder(filepath.Base(link), 0) {
			if disk == name {
				return fmt.Errorf("%w: %s is the disk under %s; refusing to erase it", ErrSystemDisk, path, m.target)
			}
		}
	}
	return nil
}

// disksUnder returns the whole disks a block device sits on.
func (s system) disksUnder(name string, depth int) []string {
	if depth > 16 {
		return nil
	}
	dir := filepath.Join(s.sys, "class/block", name)
	slaves, _ := os.ReadDir(filepath.Join(dir, "slaves"))
	if len(slaves) > 0 {
		var out []string
		for _, sl := range slaves {
			out = append(out, s.disksUnder(sl.Name(), depth+1)...)
		}
		return out
	}
	if _, err := os.Stat(filepath.Join(dir, "partition")); err == nil {
		link, err := os.Readlink(dir)
		if err == nil {
			return []string{filepath.Base(filepath.Dir(link))}
		}
	}
	return []string{name}
}

// serial is udev's ID_SERIAL_SHORT (USB bridges report the drive's serial
// there), else the SCSI/NVMe serial in sysfs.
func (s system) serial(num, dir string) string {
	if b, err := os.ReadFile(filepath.Join(s.udevDB, "b"+num)); err == nil {
		var short, long string
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "E:ID_SERIAL_SHORT="); ok {
				short = v
			} else if v, ok := strings.CutPrefix(l, "E:ID_SERIAL="); ok {
				long = v
			}
		}
		if short != "" {
			return short
		}
		if long != "" {
			return long
		}
	}
	if v := readTrim(filepath.Join(dir, "device/serial")); v != "" {
		return v
	}
	return readTrim(filepath.Join(dir, "serial"))
}

type mountEntry struct{ num, target, source string }

// readMountinfo reads the fields the checks need from proc_pid_mountinfo(5).
func readMountinfo(path string) ([]mountEntry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+2 >= len(fields) {
			continue
		}
		out = append(out, mountEntry{num: fields[2], target: unescapeMount(fields[4]), source: unescapeMount(fields[sep+2])})
	}
	return out, sc.Err()
}

// unescapeMount decodes mountinfo's \040-style octal escapes.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readSwaps(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for i, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); i > 0 && len(f) > 0 {
			out = append(out, unescapeMount(f[0]))
		}
	}
	return out
}

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func readInt(path string) (int64, error) {
	return strconv.ParseInt(readTrim(path), 10, 64)
}

// partitionNode finds partition number n of disk name in sysfs and
// returns its /dev node, or "" while the kernel has not created it yet.
func (s system) partitionNode(name string, n int) string {
	dir := filepath.Join(s.sys, "class/block", name)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if v, err := readInt(filepath.Join(dir, e.Name(), "partition")); err == nil && v == int64(n) {
			p := filepath.Join(s.dev, e.Name())
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	return ""
}
