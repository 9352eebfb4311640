package udevwatch

import (
	"fmt"
	"path"
	"strconv"
	"strings"
)

// Action is what happened to a block device, after de-duplication.
type Action int

const (
	// Added: the device is new to the watcher (plugged in, or present when
	// it started or re-crawled).
	Added Action = iota + 1
	// Changed: a known device now carries different filesystem metadata
	// (reformatted, relabelled, or its media changed).
	Changed
	// Removed: the device is gone. The event still carries the metadata it
	// had, so a handler can tell which drive left.
	Removed
)

func (a Action) String() string {
	switch a {
	case Added:
		return "added"
	case Changed:
		return "changed"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Source says where the watcher learnt about a device.
type Source int

const (
	SourceKernel Source = iota + 1 // kernel uevent, metadata probed by the watcher
	SourceUdev                     // udev uevent, metadata from udev's rules
	SourceCrawl                    // found in /sys at start or after lost events
)

func (s Source) String() string {
	switch s {
	case SourceKernel:
		return "kernel"
	case SourceUdev:
		return "udev"
	case SourceCrawl:
		return "crawl"
	}
	return fmt.Sprintf("Source(%d)", int(s))
}

// FS is what a superblock probe found on a device.
type FS struct {
	Type    string // "crypto_LUKS", "ext4", "vfat", ...; "" if nothing recognised
	UUID    string
	Label   string
	Version string
}

// Event is one block device coming, changing or going.
type Event struct {
	Action  Action
	Source  Source
	Seq     uint64 // kernel SEQNUM; 0 for crawled devices
	DevNode string // "/dev/sdb1"
	SysPath string // "/sys/devices/.../block/sdb/sdb1"
	DevType string // "disk" or "partition"
	// Disk is the whole disk the device belongs to ("/dev/sdb" for
	// "/dev/sdb1"; the device itself for a disk).
	Disk string
	FS   FS
	// LUKSUUID is FS.UUID when FS.Type is crypto_LUKS: the identity a
	// configured drive is matched on.
	LUKSUUID string
	Serial   string            // udev's ID_SERIAL; empty in kernel mode
	Props    map[string]string // the raw properties of the last message
}

func (e Event) String() string {
	s := fmt.Sprintf("%s %s", e.Action, e.DevNode)
	if e.FS.Type != "" {
		s += fmt.Sprintf(" %s", e.FS.Type)
	}
	if e.FS.UUID != "" {
		s += fmt.Sprintf(" UUID=%s", e.FS.UUID)
	}
	return s
}

// sameDevice reports whether two events describe the same device in the
// same state, so the second carries no news.
func sameDevice(a, b *Event) bool {
	return a.DevNode == b.DevNode && a.FS == b.FS && a.Serial == b.Serial
}

// eventFromEnv builds an event from a message's (or a sysfs uevent file's)
// properties. ok is false for anything that is not a block device node.
func eventFromEnv(devpath string, env map[string]string) (Event, bool) {
	if env["SUBSYSTEM"] != "block" {
		return Event{}, false
	}
	name := env["DEVNAME"]
	if name == "" || checkDevName(name) != nil || checkDevPath(devpath) != nil {
		return Event{}, false
	}
	e := Event{
		DevNode: "/dev/" + strings.TrimPrefix(name, "/dev/"),
		SysPath: "/sys" + devpath,
		DevType: env["DEVTYPE"],
		Serial:  env["ID_SERIAL"],
		Props:   env,
		FS: FS{
			Type:    env["ID_FS_TYPE"],
			UUID:    env["ID_FS_UUID"],
			Label:   env["ID_FS_LABEL"],
			Version: env["ID_FS_VERSION"],
		},
	}
	e.Seq, _ = strconv.ParseUint(env["SEQNUM"], 10, 64)
	e.Disk = e.DevNode
	if e.DevType == "partition" {
		// A partition's sysfs directory sits inside its disk's.
		e.Disk = "/dev/" + path.Base(path.Dir(devpath))
	}
	e.setLUKS()
	return e, true
}

func (e *Event) setLUKS() {
	e.LUKSUUID = ""
	if e.FS.Type == "crypto_LUKS" {
		e.LUKSUUID = e.FS.UUID
	}
}

// EventFromEnv interprets the environment udev gives a RUN+= program
// (ACTION, DEVPATH, SUBSYSTEM, DEVNAME, ID_FS_*, ...) as an event. It
// fails with ErrMalformed when the variables are missing or unsafe, and
// when they describe something other than a block device node.
func EventFromEnv(env map[string]string) (Event, error) {
	m := &Message{Format: FormatUdev, Action: env["ACTION"], DevPath: env["DEVPATH"], Env: env}
	if err := m.validate(); err != nil {
		return Event{}, err
	}
	ev, ok := eventFromEnv(m.DevPath, env)
	if !ok {
		return Event{}, malformed("%s %s is not a block device node (SUBSYSTEM=%q)", m.Action, clip(m.DevPath), clip(env["SUBSYSTEM"]))
	}
	ev.Source = SourceUdev
	switch m.Action {
	case "remove":
		ev.Action = Removed
	case "change", "move", "online":
		ev.Action = Changed
	default:
		ev.Action = Added
	}
	return ev, nil
}
