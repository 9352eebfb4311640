package luksdrive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/anatol/devmapper.go"
	"golang.org/x/sys/unix"
)

// udevControl exists while udevd runs; libudev tests for it the same way.
const udevControl = "/run/udev/control"

// deviceSize is the size of a block device (BLKGETSIZE64) or regular file.
func deviceSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if fi.Mode()&os.ModeDevice == 0 {
		return fi.Size(), nil
	}
	var size uint64
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKGETSIZE64, uintptr(unsafe.Pointer(&size))); errno != 0 {
		return 0, fmt.Errorf("size of %s: %w", f.Name(), errno)
	}
	return int64(size), nil
}

// dmDevice is one device-mapper device as sysfs shows it.
type dmDevice struct {
	name, uuid string
	dev        string   // "major:minor"
	slaves     []string // "major:minor" of each underlying device
}

// listDM reads /sys/block/dm-*: it needs no ioctl and no root.
func listDM() ([]dmDevice, error) {
	dirs, err := filepath.Glob("/sys/block/dm-*")
	if err != nil {
		return nil, err
	}
	var out []dmDevice
	for _, d := range dirs {
		name, err1 := readTrim(filepath.Join(d, "dm/name"))
		uuid, _ := readTrim(filepath.Join(d, "dm/uuid"))
		dev, err2 := readTrim(filepath.Join(d, "dev"))
		if err1 != nil || err2 != nil {
			continue // removed while we looked
		}
		dm := dmDevice{name: name, uuid: uuid, dev: dev}
		slaves, _ := os.ReadDir(filepath.Join(d, "slaves"))
		for _, s := range slaves {
			if sd, err := readTrim(filepath.Join(d, "slaves", s.Name(), "dev")); err == nil {
				dm.slaves = append(dm.slaves, sd)
			}
		}
		out = append(out, dm)
	}
	return out, nil
}

func readTrim(p string) (string, error) {
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// backingDevs lists the "major:minor" numbers that stand for path: the
// node itself for a block device, or each loop device backed by the image
// for a regular file.
func backingDevs(path string) ([]string, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, openError(&os.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT == unix.S_IFBLK {
		return []string{fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))}, nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	loops, _ := filepath.Glob("/sys/block/loop*")
	var out []string
	for _, l := range loops {
		bf, err := readTrim(filepath.Join(l, "loop/backing_file"))
		if err != nil || bf != abs {
			continue
		}
		if dev, err := readTrim(filepath.Join(l, "dev")); err == nil {
			out = append(out, dev)
		}
	}
	return out, nil
}

// cryptUUIDPrefix is how cryptsetup tags LUKS mappings (dm_prepare_uuid):
// "CRYPT-LUKS2-<uuid without dashes>-<name>".
func cryptUUID(version int, luksUUID, name string) string {
	return fmt.Sprintf("CRYPT-LUKS%d-%s-%s", version, strings.ReplaceAll(luksUUID, "-", ""), name)
}

// mappingFromDM rebuilds a Mapping from a dm device tagged by cryptsetup
// or by us; ok is false for non-LUKS mappings.
func mappingFromDM(d dmDevice, device string) (*Mapping, bool) {
	rest, ok := strings.CutPrefix(d.uuid, "CRYPT-LUKS")
	if !ok || len(rest) < 2 || rest[1] != '-' {
		return nil, false
	}
	hex, _, _ := strings.Cut(rest[2:], "-")
	uuid := hex
	if len(hex) == 32 {
		uuid = hex[0:8] + "-" + hex[8:12] + "-" + hex[12:16] + "-" + hex[16:20] + "-" + hex[20:32]
	}
	return &Mapping{Name: d.name, Path: "/dev/mapper/" + d.name, Device: device, UUID: uuid, Slot: -1}, true
}

// existingMapping implements Unlock's idempotence: the open LUKS mapping
// of device (under any name) if there is one; ErrBusy if name is taken by
// a mapping of something else.
func existingMapping(device, name string, h *header) (*Mapping, error) {
	dms, err := listDM()
	if err != nil {
		return nil, err
	}
	devs, err := backingDevs(device)
	if err != nil {
		return nil, err
	}
	want := strings.ReplaceAll(h.uuid, "-", "")
	for _, d := range dms {
		for _, s := range d.slaves {
			for _, dev := range devs {
				if s != dev {
					continue
				}
				m, ok := mappingFromDM(d, device)
				if ok && strings.ReplaceAll(m.UUID, "-", "") == want {
					return m, nil
				}
			}
		}
	}
	for _, d := range dms {
		if d.name == name {
			return nil, fmt.Errorf("%w: mapping name %q is already used by another device (%s); choose another name or lock it first", ErrBusy, name, d.uuid)
		}
	}
	return nil, nil
}

// OpenMappingFor returns the open LUKS mapping of device (a block device
// or an image attached through a loop device), or nil, nil if there is
// none. It reads sysfs only.
func OpenMappingFor(device string) (*Mapping, error) {
	dms, err := listDM()
	if err != nil {
		return nil, opErr("find mapping", device, err)
	}
	devs, err := backingDevs(device)
	if err != nil {
		return nil, opErr("find mapping", device, err)
	}
	for _, d := range dms {
		for _, s := range d.slaves {
			for _, dev := range devs {
				if s == dev {
					if m, ok := mappingFromDM(d, device); ok {
						return m, nil
					}
				}
			}
		}
	}
	return nil, nil
}

var luks2Flags = map[string]string{
	"allow-discards":         devmapper.CryptFlagAllowDiscards,
	"same-cpu-crypt":         devmapper.CryptFlagSameCPUCrypt,
	"submit-from-crypt-cpus": devmapper.CryptFlagSubmitFromCryptCPUs,
	"no-read-workqueue":      devmapper.CryptFlagNoReadWorkqueue,
	"no-write-workqueue":     devmapper.CryptFlagNoWriteWorkqueue,
}

func dmError(err error, what string) error {
	switch {
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%w: %s: %v", ErrBusy, what, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s: %v (run as root)", ErrPermission, what, err)
	case errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV):
		return fmt.Errorf("%w: %s: %v (load dm-crypt: modprobe dm-crypt)", ErrNoDeviceMapper, what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// haveDM checks for device-mapper before a key is derived, so a host
// without it fails at once. The control node alone proves nothing: static
// /dev trees and containers have it without the driver, and then opening
// it fails with ENODEV or ENXIO.
func haveDM() error {
	f, err := os.OpenFile(dmControl, os.O_RDWR|unix.O_CLOEXEC, 0)
	switch {
	case err == nil:
		f.Close()
		return nil
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("%w: %s: %v (run as root)", ErrPermission, dmControl, err)
	}
	return fmt.Errorf("%w: %s: %v (load the kernel module: modprobe dm-crypt)", ErrNoDeviceMapper, dmControl, err)
}

// createMapping loads the dm-crypt table for the volume. vk is only read.
// When lv is set (luks.go opened the keyslot), luks.go loads the table.
func createMapping(ctx context.Context, f *os.File, device, name string, h *header, vk []byte, lv *luksGoVolume, readOnly bool, log *slog.Logger) error {
	if err := haveDM(); err != nil {
		return err
	}
	seg := h.segment
	backing := device
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		loop, err := attachLoop(f, readOnly)
		if err != nil {
			return err
		}
		log.Debug("attached image to loop device", "image", device, "loop", loop.Name())
		backing = loop.Name()
		// The loop device has autoclear set: it detaches on its last
		// close, so hold it until dm-crypt has it, and it goes away with
		// the mapping (or at once if the mapping fails).
		defer loop.Close()
	}
	devSize, err := deviceSize(f)
	if err != nil {
		return err
	}
	size := seg.size
	if size == 0 {
		size = devSize - seg.offset
	}
	if size <= 0 || seg.offset+size > devSize {
		return corrupt("data segment %d+%d does not fit the %d-byte device", seg.offset, size, devSize)
	}
	size -= size % int64(seg.sectorSize)
	var flags []string
	for _, fl := range h.flags {
		if k, ok := luks2Flags[fl]; ok {
			flags = append(flags, k)
		} else {
			log.Warn("ignoring unknown LUKS2 flag", "flag", fl)
		}
	}
	table := devmapper.CryptTable{
		Length:        uint64(size),
		BackendDevice: backing,
		BackendOffset: uint64(seg.offset),
		Encryption:    seg.encryption,
		Key:           vk,
		IVTweak:       seg.ivTweak,
		Flags:         flags,
		SectorSize:    uint64(seg.sectorSize),
	}
	var dmFlags uint32
	if readOnly {
		dmFlags |= unix.DM_READONLY_FLAG
	}
	create := func() error {
		// Like cryptsetup, hand the key to dm-crypt through the kernel
		// keyring where there is one: the table then names the key
		// instead of spelling it in hex (a Go string no one can wipe,
		// and what `dmsetup table --showkeys` would print).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		desc := "extdrive:" + h.uuid + "-" + name
		if id, err := unix.AddKey("logon", desc, vk, unix.KEY_SPEC_THREAD_KEYRING); err == nil {
			defer unix.KeyctlInt(unix.KEYCTL_UNLINK, id, unix.KEY_SPEC_THREAD_KEYRING, 0, 0)
			t := table
			t.Key, t.KeyID = nil, fmt.Sprintf(":%d:logon:%s", len(vk), desc)
			err := devmapper.CreateAndLoad(name, cryptUUID(h.version, h.uuid, name), dmFlags, t)
			if err == nil || !errors.Is(err, unix.EINVAL) {
				return err
			}
			// EINVAL: a kernel whose dm-crypt takes no keyring keys.
			log.Debug("dm-crypt refused a keyring key; passing it in the table", "err", err)
		}
		return devmapper.CreateAndLoad(name, cryptUUID(h.version, h.uuid, name), dmFlags, table)
	}
	if lv != nil {
		create = func() error { return lv.setupMapper(backing, name) }
	}
	if err := create(); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: the kernel refused the dm-crypt table for cipher %s (is its crypto module loaded?): %v", ErrUnsupported, seg.encryption, err)
		}
		return dmError(err, "create mapping "+name)
	}
	if err := waitNode(ctx, name); err != nil {
		_ = devmapper.Remove(name)
		return err
	}
	return nil
}

// waitNode waits for udev to create /dev/mapper/NAME and makes the node
// itself where no udev runs (initramfs, containers), or where udev has not
// made it in 10 s (a starved machine, rules missing).
func waitNode(ctx context.Context, name string) error {
	p := "/dev/mapper/" + name
	wait := 10 * time.Second
	if _, err := os.Stat(udevControl); err != nil {
		wait = 0 // nobody else will make it
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	info, err := devmapper.InfoByName(name)
	if err != nil {
		return dmError(err, "look up mapping "+name)
	}
	if err := unix.Mknod(p, unix.S_IFBLK|0o600, int(info.DevNo)); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("create %s: %w", p, err)
	}
	return nil
}

// attachLoop attaches the image open in f to a free loop device with
// autoclear, like cryptsetup open does for image files, and returns the
// open loop device.
func attachLoop(f *os.File, readOnly bool) (*os.File, error) {
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: no loop devices for image %s: %v (modprobe loop)", ErrNoDeviceMapper, f.Name(), err)
	}
	defer ctl.Close()
	mode := os.O_RDWR
	if readOnly {
		mode = os.O_RDONLY
	}
	img, err := os.OpenFile(f.Name(), mode, 0)
	if err != nil {
		return nil, openError(err)
	}
	defer img.Close()
	for try := 0; try < 8; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, fmt.Errorf("find a free loop device: %w", err)
		}
		path := "/dev/loop" + strconv.Itoa(n)
		lf, err := os.OpenFile(path, mode, 0)
		if err != nil {
			return nil, err
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
		if readOnly {
			cfg.Info.Flags |= unix.LO_FLAGS_READ_ONLY
		}
		copy(cfg.Info.File_name[:], f.Name())
		err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
		if err != nil {
			lf.Close()
			if errors.Is(err, unix.EBUSY) {
				continue // raced with another attach
			}
			return nil, fmt.Errorf("attach %s to %s: %w", f.Name(), path, err)
		}
		return lf, nil
	}
	return nil, fmt.Errorf("%w: no free loop device", ErrBusy)
}

// Lock removes the dm-crypt mapping called name. A mapping still mounted
// or open is ErrBusy; a name with no mapping is ErrNoDevice. Lock does
// not unmount: use Release for the whole chain.
func Lock(ctx context.Context, name string) error {
	if err := checkMappingName(name); err != nil {
		return opErr("lock", name, err)
	}
	if err := haveDM(); err != nil {
		return opErr("lock", name, err)
	}
	for try := 0; ; try++ {
		err := devmapper.Remove(name)
		switch {
		case err == nil:
			// udev removes its symlink; a device node is one waitNode
			// made where no udev runs, and it would go stale.
			p := "/dev/mapper/" + name
			if fi, err := os.Lstat(p); err == nil && fi.Mode()&os.ModeDevice != 0 {
				os.Remove(p)
			}
			return nil
		case errors.Is(err, unix.ENXIO):
			return opErr("lock", name, fmt.Errorf("%w: no mapping named %q is open", ErrNoDevice, name))
		case errors.Is(err, unix.EBUSY):
			// udev's probing holds a fresh mapping open for a moment;
			// only a holder that stays 5 s is a real busy, as for
			// cryptsetup close (5 retries a second apart).
			select {
			case <-ctx.Done():
				return opErr("lock", name, ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			if try == 50 {
				return opErr("lock", name, fmt.Errorf("%w: mapping %q is in use (mounted or held open); unmount it first", ErrBusy, name))
			}
		default:
			return opErr("lock", name, dmError(err, "remove mapping"))
		}
	}
}
