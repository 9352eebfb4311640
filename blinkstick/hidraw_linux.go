package blinkstick

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hidrawBackend talks to /dev/hidraw* with the kernel's feature-report
// ioctls: pure Go, so CGO_ENABLED=0 builds (a Raspberry Pi cross-build)
// keep the LED.
type hidrawBackend struct {
	sysClass string // /sys/class/hidraw
	dev      string // /dev
}

func newHidraw() backend {
	return &hidrawBackend{sysClass: "/sys/class/hidraw", dev: "/dev"}
}

func (*hidrawBackend) name() string { return "hidraw" }

// enumerate reads sysfs only, so listing works for users who cannot open
// the node, and the later open can say "permission denied" precisely.
func (h *hidrawBackend) enumerate() ([]Info, error) {
	ents, err := os.ReadDir(h.sysClass)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // no hidraw driver loaded, so no stick
	}
	if err != nil {
		return nil, &OpError{Op: "enumerate", Device: h.sysClass, Err: err}
	}
	type found struct {
		n    int
		info Info
	}
	var fs []found
	for _, e := range ents {
		n, err := strconv.Atoi(strings.TrimPrefix(e.Name(), "hidraw"))
		if err != nil {
			continue
		}
		info, ok := h.probe(e.Name())
		if ok {
			fs = append(fs, found{n, info})
		}
	}
	// hidraw minors are handed out in plug order; sorting on them keeps
	// Index stable across calls.
	sort.Slice(fs, func(i, j int) bool { return fs[i].n < fs[j].n })
	infos := make([]Info, len(fs))
	for i, f := range fs {
		infos[i] = f.info
	}
	return infos, nil
}

// probe reads one hidraw node's HID device: HID_ID for VID/PID, HID_UNIQ
// for the serial (usbhid copies the USB serial string there, uhid its
// uniq), and, where a USB device sits two levels up, its product string
// and bcdDevice.
func (h *hidrawBackend) probe(node string) (Info, bool) {
	hidDir, err := filepath.EvalSymlinks(filepath.Join(h.sysClass, node, "device"))
	if err != nil {
		return Info{}, false
	}
	ue, err := os.ReadFile(filepath.Join(hidDir, "uevent"))
	if err != nil {
		return Info{}, false
	}
	u := parseHIDUevent(string(ue))
	if u.vendor != VendorID || u.product != ProductID {
		return Info{}, false
	}
	info := Info{
		Path:    filepath.Join(h.dev, node),
		Serial:  u.uniq,
		Product: u.name,
		Backend: "hidraw",
	}
	usbDev := filepath.Dir(filepath.Dir(hidDir)) // hid device → interface → USB device
	if v, ok := readSysfs(usbDev, "idVendor"); ok && strings.EqualFold(v, fmt.Sprintf("%04x", VendorID)) {
		if p, ok := readSysfs(usbDev, "product"); ok {
			info.Product = p
		}
		if m, ok := readSysfs(usbDev, "manufacturer"); ok {
			info.Manufacturer = m
		}
		if s, ok := readSysfs(usbDev, "serial"); ok && info.Serial == "" {
			info.Serial = s
		}
		if r, ok := readSysfs(usbDev, "bcdDevice"); ok {
			if v, err := strconv.ParseUint(r, 16, 16); err == nil {
				info.Release = uint16(v)
			}
		}
	}
	info.Variant = DetectVariant(info.Serial, info.Product, info.Release)
	info.LEDs = info.Variant.LEDs()
	return info, true
}

func readSysfs(dir, name string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

func (h *hidrawBackend) open(info Info) (transport, error) {
	f, err := os.OpenFile(info.Path, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("%w: %v; give your group access with the udev rule from `extdrive install`, or run as root", ErrPermission, err)}
		}
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENXIO) {
			return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("%w: %s went away (unplugged?)", ErrNotFound, info.Path)}
		}
		return nil, &OpError{Op: "open", Device: info.Path, Err: err}
	}
	t := &hidrawTransport{f: f}
	// The node was picked from sysfs a moment ago; a replug can hand the
	// same minor to another device, so check what we actually opened.
	var di *unix.HIDRawDevInfo
	err = t.control(func(fd uintptr) (e error) {
		di, e = unix.IoctlHIDGetRawInfo(int(fd))
		return e
	})
	if err != nil {
		f.Close()
		return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("HIDIOCGRAWINFO: %w", err)}
	}
	if uint16(di.Vendor) != VendorID || uint16(di.Product) != ProductID {
		f.Close()
		return nil, &OpError{Op: "open", Device: info.Path, Err: fmt.Errorf("%w: %s is now %04x:%04x, not a BlinkStick", ErrNotFound, info.Path, uint16(di.Vendor), uint16(di.Product))}
	}
	return t, nil
}

type hidrawTransport struct {
	f *os.File
}

// hidIOC builds HIDIOCSFEATURE/HIDIOCGFEATURE(len). Both are _IOWR, and
// _IOC_READ|_IOC_WRITE lands on the same top bits (0xC0000000) in the
// generic layout and in the mips/powerpc/sparc one, with the size at bit
// 16 in both; our reports (≤194 bytes) fit every size field.
func hidIOC(nr, size int) uintptr {
	return 0xC0000000 | uintptr(size)<<16 | uintptr('H')<<8 | uintptr(nr)
}

const (
	hidiocSFeature = 0x06
	hidiocGFeature = 0x07
)

func (t *hidrawTransport) control(fn func(fd uintptr) error) error {
	rc, err := t.f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(fd) }); err != nil {
		return err
	}
	return ferr
}

func (t *hidrawTransport) ioctl(nr int, b []byte) (int, error) {
	var n uintptr
	err := t.control(func(fd uintptr) error {
		for {
			r, _, errno := unix.Syscall(unix.SYS_IOCTL, fd, hidIOC(nr, len(b)), uintptr(unsafe.Pointer(&b[0])))
			if errno == unix.EINTR {
				continue
			}
			if errno != 0 {
				return errno
			}
			n = r
			return nil
		}
	})
	if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ESHUTDOWN) {
		return 0, fmt.Errorf("%w: device unplugged (%v)", ErrNotFound, err)
	}
	return int(n), err
}

func (t *hidrawTransport) setFeature(b []byte) error {
	n, err := t.ioctl(hidiocSFeature, b)
	if err != nil {
		return fmt.Errorf("HIDIOCSFEATURE report %d: %w", b[0], err)
	}
	if n != len(b) {
		return fmt.Errorf("HIDIOCSFEATURE report %d: short write %d of %d bytes", b[0], n, len(b))
	}
	return nil
}

func (t *hidrawTransport) getFeature(b []byte) (int, error) {
	n, err := t.ioctl(hidiocGFeature, b)
	if err != nil {
		return 0, fmt.Errorf("HIDIOCGFEATURE report %d: %w", b[0], err)
	}
	return n, nil
}

func (t *hidrawTransport) close() error { return t.f.Close() }
