package spindown

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"

	"github.com/extdrive/extdrive/luksdrive"
)

// Resolve finds the physical whole disk(s) under target: a block device
// node (a disk, a partition, /dev/mapper/NAME, a /dev/disk/by-* link) or
// the mount point of a filesystem. It follows partitions to their parent
// and device-mapper and md devices through /sys/class/block/X/slaves, so a
// dm-crypt mapping on a partition yields the disk holding the partition.
// It never guesses: anything not ending on a disk (loop, RAM disk, a dm
// target with nothing below) is an error wrapping ErrNotDisk.
func Resolve(target string) ([]Disk, error) {
	ds, err := sysfs{root: "/sys", dev: "/dev"}.resolve(target)
	return ds, opErr("resolve", target, err)
}

// sysfs reads the kernel's view of block devices below root (normally
// /sys); tests point it at a copy of a real tree.
type sysfs struct {
	root string // "/sys"
	dev  string // "/dev"
}

func (s sysfs) resolve(target string) ([]Disk, error) {
	major, minor, err := s.devNumber(target)
	if err != nil {
		return nil, err
	}
	return s.resolveNumber(major, minor)
}

func (s sysfs) resolveNumber(major, minor uint32) ([]Disk, error) {
	link := filepath.Join(s.root, "dev/block", fmt.Sprintf("%d:%d", major, minor))
	dir, err := filepath.EvalSymlinks(link)
	if err != nil {
		return nil, fmt.Errorf("%w: no block device %d:%d in sysfs", luksdrive.ErrNoDevice, major, minor)
	}
	var disks []Disk
	if err := s.walk(dir, nil, &disks, 0); err != nil {
		return nil, err
	}
	slices.SortFunc(disks, func(a, b Disk) int { return strings.Compare(a.Name, b.Name) })
	return slices.CompactFunc(disks, func(a, b Disk) bool { return a.Name == b.Name }), nil
}

// devNumber returns the device number of a block node, or of the
// filesystem mounted at a directory.
func (s sysfs) devNumber(target string) (uint32, uint32, error) {
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return 0, 0, fmt.Errorf("%w: %v", luksdrive.ErrNoDevice, err)
		}
		return 0, 0, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		return unix.Major(st.Rdev), unix.Minor(st.Rdev), nil
	case unix.S_IFDIR:
		return mountDevNumber(target)
	}
	return 0, 0, fmt.Errorf("%w: %s is neither a block device nor a mount point", ErrNotDisk, target)
}

func mountDevNumber(dir string) (uint32, uint32, error) {
	abs, err := filepath.Abs(dir)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return 0, 0, err
	}
	ms, err := mountinfo.GetMounts(mountinfo.SingleEntryFilter(abs))
	if err != nil {
		return 0, 0, err
	}
	if len(ms) == 0 {
		return 0, 0, fmt.Errorf("%w: %s is a directory but not a mount point; name the mount point or the device", ErrNotDisk, dir)
	}
	m := ms[len(ms)-1] // the top of a stack of mounts is the one in use
	if m.Major != 0 {
		return uint32(m.Major), uint32(m.Minor), nil
	}
	// btrfs and friends report an anonymous device; the source names the
	// real one.
	if strings.HasPrefix(m.Source, "/dev/") {
		var st unix.Stat_t
		if err := unix.Stat(m.Source, &st); err == nil && st.Mode&unix.S_IFMT == unix.S_IFBLK {
			return unix.Major(st.Rdev), unix.Minor(st.Rdev), nil
		}
	}
	return 0, 0, fmt.Errorf("%w: %s is a %s mount, not on a disk", ErrNotDisk, dir, m.FSType)
}

// walk descends from the sysfs directory of one block device to the whole
// disks below it. depth stops a cycle in a corrupt tree.
func (s sysfs) walk(dir string, via []string, out *[]Disk, depth int) error {
	name := filepath.Base(dir)
	if depth > 16 {
		return fmt.Errorf("%w: device stack below %s is too deep", ErrNotDisk, name)
	}
	if exists(filepath.Join(dir, "partition")) {
		return s.walk(filepath.Dir(dir), append(via, name), out, depth+1)
	}
	slaves, err := os.ReadDir(filepath.Join(dir, "slaves"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch {
	case exists(filepath.Join(dir, "dm")) && len(slaves) == 0:
		dmName := strings.TrimSpace(readFile(filepath.Join(dir, "dm/name")))
		return fmt.Errorf("%w: device-mapper device %s (%s) has no disk below it", ErrNotDisk, name, dmName)
	case exists(filepath.Join(dir, "loop")):
		backing := strings.TrimSpace(readFile(filepath.Join(dir, "loop/backing_file")))
		return fmt.Errorf("%w: %s is a loop device over %q; spin down the disk holding that file instead", ErrNotDisk, name, backing)
	case len(slaves) > 0:
		for _, sl := range slaves {
			sub, err := filepath.EvalSymlinks(filepath.Join(dir, "slaves", sl.Name()))
			if err != nil {
				return err
			}
			if err := s.walk(sub, append(slices.Clip(via), name), out, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	for _, p := range []string{"ram", "zram", "nbd", "md", "dm-"} {
		if strings.HasPrefix(name, p) {
			return fmt.Errorf("%w: %s is a virtual block device with no disk below it", ErrNotDisk, name)
		}
	}
	if !exists(filepath.Join(dir, "device")) {
		return fmt.Errorf("%w: %s is a virtual block device (no hardware behind it)", ErrNotDisk, name)
	}
	d, err := s.disk(dir, name)
	if err != nil {
		return err
	}
	d.Via = slices.Clone(via)
	*out = append(*out, d)
	return nil
}

// disk describes a whole disk from its sysfs directory.
func (s sysfs) disk(dir, name string) (Disk, error) {
	d := Disk{Name: name, Path: filepath.Join(s.dev, name)}
	var err error
	if d.Major, d.Minor, err = parseDevFile(readFile(filepath.Join(dir, "dev"))); err != nil {
		return Disk{}, fmt.Errorf("%s: %w", name, err)
	}
	devDir, _ := filepath.EvalSymlinks(filepath.Join(dir, "device"))
	switch {
	case strings.HasPrefix(name, "nvme"):
		d.Transport = "nvme"
	case strings.HasPrefix(name, "vd"), strings.Contains(devDir, "/virtio"):
		if exists(filepath.Join(dir, "device/scsi_device")) {
			break // virtio-scsi is SCSI; handled below
		}
		d.Transport = "virtio"
	case strings.HasPrefix(name, "mmcblk"):
		d.Transport = "mmc"
	}
	if d.Transport == "" {
		if !exists(filepath.Join(dir, "device/scsi_device")) {
			d.Transport = "other"
		} else {
			typ := strings.TrimSpace(readFile(filepath.Join(dir, "device/type")))
			// 0 is a direct-access disk, 14 (RBC) what some USB bridges
			// report; anything else (5 = CD/DVD) must never get a stop or
			// an ATA CDB (0xa1 is BLANK on an optical drive).
			if typ != "0" && typ != "14" {
				return Disk{}, fmt.Errorf("%w: %s is SCSI peripheral type %s, not a disk", ErrNotDisk, name, typ)
			}
			switch {
			case strings.Contains(devDir, "/usb"):
				d.Transport = "usb"
			case strings.Contains(devDir, "/ata"):
				d.Transport = "ata"
			default:
				d.Transport = "scsi"
			}
		}
		vendor := strings.TrimSpace(readFile(filepath.Join(dir, "device/vendor")))
		model := strings.TrimSpace(readFile(filepath.Join(dir, "device/model")))
		d.Model = strings.TrimSpace(vendor + " " + model)
	}
	return d, nil
}

// stack returns the device numbers of the disk, its partitions and every
// device stacked on any of them (dm-crypt, LVM, md): a filesystem on any
// of these lives on the disk.
func (s sysfs) stack(d Disk) (map[[2]uint32]string, error) {
	out := map[[2]uint32]string{}
	dir, err := filepath.EvalSymlinks(filepath.Join(s.root, "class/block", d.Name))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is gone from sysfs", luksdrive.ErrNoDevice, d.Name)
	}
	var add func(dir string, depth int)
	add = func(dir string, depth int) {
		if depth > 16 {
			return
		}
		maj, min, err := parseDevFile(readFile(filepath.Join(dir, "dev")))
		if err != nil {
			return
		}
		if _, seen := out[[2]uint32{maj, min}]; seen {
			return
		}
		out[[2]uint32{maj, min}] = filepath.Base(dir)
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if sub := filepath.Join(dir, e.Name()); strings.HasPrefix(e.Name(), filepath.Base(dir)) && exists(filepath.Join(sub, "partition")) {
				add(sub, depth+1)
			}
		}
		holders, _ := os.ReadDir(filepath.Join(dir, "holders"))
		for _, h := range holders {
			if sub, err := filepath.EvalSymlinks(filepath.Join(dir, "holders", h.Name())); err == nil {
				add(sub, depth+1)
			}
		}
	}
	add(dir, 0)
	return out, nil
}

// checkNode makes sure the node still is the disk Resolve found: a USB
// disk replugged in between may have come back under the same name with
// another number, or another disk may now have the name.
func (d Disk) checkNode(f *os.File) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fmt.Errorf("%w: %s is not a block device", ErrNotDisk, d.Path)
	}
	if unix.Major(st.Rdev) != d.Major || unix.Minor(st.Rdev) != d.Minor {
		return fmt.Errorf("%w: %s is now %d:%d, not the %d:%d resolved; resolve again",
			luksdrive.ErrNoDevice, d.Path, unix.Major(st.Rdev), unix.Minor(st.Rdev), d.Major, d.Minor)
	}
	link := filepath.Join("/sys/dev/block", fmt.Sprintf("%d:%d", d.Major, d.Minor))
	dir, err := filepath.EvalSymlinks(link)
	if err != nil || filepath.Base(dir) != d.Name {
		return fmt.Errorf("%w: %d:%d is no longer %s; resolve again", luksdrive.ErrNoDevice, d.Major, d.Minor, d.Name)
	}
	if exists(filepath.Join(dir, "partition")) {
		return fmt.Errorf("%w: %s is a partition; power commands go to the whole disk", ErrNotDisk, d.Path)
	}
	return nil
}

func parseDevFile(s string) (uint32, uint32, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok {
		return 0, 0, fmt.Errorf("bad sysfs dev value %q", s)
	}
	maj, err1 := strconv.ParseUint(a, 10, 32)
	min, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad sysfs dev value %q", s)
	}
	return uint32(maj), uint32(min), nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}
