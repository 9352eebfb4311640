package udevwatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed: a netlink message that is not a well-formed kernel or udev
// uevent. The watcher logs and drops such messages; ParseMessage returns
// it (wrapped) so callers can do the same.
var ErrMalformed = errors.New("malformed uevent message")

// ErrNotSupported: the watcher needs Linux netlink.
var ErrNotSupported = errors.New("uevent watching is not supported on this system")

// Format says which of the two wire formats a message arrived in.
type Format int

const (
	// FormatKernel is "ACTION@DEVPATH\0KEY=VALUE\0...", multicast by the
	// kernel on netlink group 1.
	FormatKernel Format = iota + 1
	// FormatUdev is libudev's binary header followed by KEY=VALUE\0
	// properties, multicast by systemd-udevd on group 2 once its rules ran.
	FormatUdev
)

func (f Format) String() string {
	switch f {
	case FormatKernel:
		return "kernel"
	case FormatUdev:
		return "udev"
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Message is one parsed uevent, before it is interpreted as a block device
// event.
type Message struct {
	Format  Format
	Action  string            // "add", "change", "remove", ...
	DevPath string            // sysfs path below /sys, e.g. "/devices/.../block/sda"
	Env     map[string]string // every KEY=VALUE property, ACTION and DEVPATH included
}

// libudev's monitor_netlink_header (src/libsystemd/sd-device/device-monitor.c).
// magic is big-endian; the offsets are in the sender's byte order, which on
// one machine is ours.
const (
	udevPrefix            = "libudev\x00"
	udevMagic      uint32 = 0xfeedcafe
	udevHeaderSize        = 40
	// Both the kernel (UEVENT_BUFFER_SIZE 2048) and udev (8192 bytes in
	// libudev's receive buffer) stay far below this.
	maxMessageSize = 16 << 10
)

var knownActions = map[string]bool{
	"add": true, "remove": true, "change": true, "move": true,
	"online": true, "offline": true, "bind": true, "unbind": true,
}

// ParseMessage parses the payload of one NETLINK_KOBJECT_UEVENT datagram in
// either format. It never panics: anything it cannot vouch for comes back
// as an error wrapping ErrMalformed.
func ParseMessage(b []byte) (*Message, error) {
	if len(b) > maxMessageSize {
		return nil, malformed("message of %d bytes is larger than any uevent", len(b))
	}
	if bytes.HasPrefix(b, []byte(udevPrefix)) {
		return parseUdev(b)
	}
	return parseKernel(b)
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

func parseKernel(b []byte) (*Message, error) {
	end := bytes.IndexByte(b, 0)
	if end < 0 {
		return nil, malformed("kernel message has no NUL-terminated header")
	}
	head := string(b[:end])
	action, devpath, ok := strings.Cut(head, "@")
	if !ok {
		return nil, malformed("kernel message header %q lacks ACTION@DEVPATH", clip(head))
	}
	m := &Message{Format: FormatKernel, Action: action, DevPath: devpath}
	env, err := parseProps(b[end+1:])
	if err != nil {
		return nil, err
	}
	m.Env = env
	// The header repeats ACTION and DEVPATH; a disagreement means the
	// message was not written by the kernel.
	if env["ACTION"] != action || env["DEVPATH"] != devpath {
		return nil, malformed("kernel message header %q disagrees with its ACTION/DEVPATH properties", clip(head))
	}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func parseUdev(b []byte) (*Message, error) {
	if len(b) < udevHeaderSize {
		return nil, malformed("udev message of %d bytes is shorter than its %d-byte header", len(b), udevHeaderSize)
	}
	if magic := binary.BigEndian.Uint32(b[8:12]); magic != udevMagic {
		return nil, malformed("udev message magic %#x, want %#x", magic, udevMagic)
	}
	hdrSize := binary.NativeEndian.Uint32(b[12:16])
	off := binary.NativeEndian.Uint32(b[16:20])
	n := binary.NativeEndian.Uint32(b[20:24])
	// Compare in uint64 so a hostile offset cannot wrap around.
	if hdrSize < udevHeaderSize || uint64(off) < uint64(hdrSize) || uint64(off)+uint64(n) > uint64(len(b)) {
		return nil, malformed("udev message properties [%d,+%d) fall outside its %d bytes", off, n, len(b))
	}
	env, err := parseProps(b[off : off+n])
	if err != nil {
		return nil, err
	}
	m := &Message{Format: FormatUdev, Action: env["ACTION"], DevPath: env["DEVPATH"], Env: env}
	if err := m.validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// parseProps reads NUL-terminated KEY=VALUE strings. Empty strings (the
// padding some senders leave) are skipped; anything else without a key is
// an error.
func parseProps(b []byte) (map[string]string, error) {
	env := make(map[string]string)
	for len(b) > 0 {
		var field []byte
		if i := bytes.IndexByte(b, 0); i >= 0 {
			field, b = b[:i], b[i+1:]
		} else {
			field, b = b, nil
		}
		if len(field) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(field, []byte("="))
		if !ok || len(k) == 0 {
			return nil, malformed("property %q is not KEY=VALUE", clip(string(field)))
		}
		key := string(k)
		if _, dup := env[key]; dup {
			return nil, malformed("property %s appears twice", clip(key))
		}
		env[key] = string(v)
	}
	return env, nil
}

func (m *Message) validate() error {
	if !knownActions[m.Action] {
		return malformed("unknown action %q", clip(m.Action))
	}
	if err := checkDevPath(m.DevPath); err != nil {
		return err
	}
	if old, ok := m.Env["DEVPATH_OLD"]; ok {
		if err := checkDevPath(old); err != nil {
			return err
		}
	}
	if name, ok := m.Env["DEVNAME"]; ok {
		if err := checkDevName(name); err != nil {
			return err
		}
	}
	return nil
}

// checkDevPath keeps DEVPATH usable as a path below /sys: the watcher
// joins it to /sys to find the device's parent disk and udev database
// entry, so ".." must not walk out.
func checkDevPath(p string) error {
	if !strings.HasPrefix(p, "/") || len(p) < 2 {
		return malformed("DEVPATH %q is not an absolute sysfs path", clip(p))
	}
	for _, c := range strings.Split(p[1:], "/") {
		if c == "" || c == "." || c == ".." {
			return malformed("DEVPATH %q has an empty, . or .. component", clip(p))
		}
	}
	return nil
}

// checkDevName accepts the kernel's relative names ("sda1", "mapper/x")
// and udev's absolute ones ("/dev/sda1"); both end up below /dev.
func checkDevName(n string) error {
	rel := strings.TrimPrefix(n, "/dev/")
	if rel == "" || strings.HasPrefix(rel, "/") {
		return malformed("DEVNAME %q is not a device below /dev", clip(n))
	}
	for _, c := range strings.Split(rel, "/") {
		if c == "" || c == "." || c == ".." {
			return malformed("DEVNAME %q has an empty, . or .. component", clip(n))
		}
	}
	return nil
}

// clip keeps hostile input from flooding a log line.
func clip(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return fmt.Sprintf("%s", strings.ToValidUTF8(s, "?"))
}
