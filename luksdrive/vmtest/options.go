package vmtest

import (
	"time"
)

// KernelPackage is the Debian kernel the guest boots. It is the one pin for
// the guest kernel: changing it changes every cache key that depends on it.
const KernelPackage = "linux-image-" + KernelVersion

// KernelVersion is the kernel release inside KernelPackage (uname -r).
const KernelVersion = "6.1.0-56-amd64"

// harnessVersion is part of every cache key; bump it whenever the initramfs
// layout or the init script changes in a way the other inputs don't show.
const harnessVersion = "vmtest-3"

// Options configure Run. A nil *Options means all defaults.
type Options struct {
	// Timeout bounds the whole VM run, boot included. Zero means 5 minutes,
	// capped to leave room before the host test binary's own deadline.
	Timeout time.Duration
	// Commands maps a name to a Go main package that is built
	// (CGO_ENABLED=0) and put on the guest's PATH under that name, e.g.
	// {"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"}.
	Commands map[string]string
	// Tools are extra host binaries (names looked up in PATH, or absolute
	// paths) copied onto the guest's PATH with their shared libraries.
	Tools []string
	// MemoryMB is the guest's RAM. Zero means 1024.
	MemoryMB int
	// CPUs is the guest's CPU count. Zero means 2.
	CPUs int
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Timeout <= 0 {
		r.Timeout = 5 * time.Minute
	}
	if r.MemoryMB <= 0 {
		r.MemoryMB = 1024
	}
	if r.CPUs <= 0 {
		r.CPUs = 2
	}
	return r
}

// Bus selects the controller AttachDisk puts a disk on. The values are
// distinct bits so that a combination such as IDE|SCSI is rejected rather
// than silently meaning a third bus.
type Bus int

const (
	// IDE attaches an ide-hd disk to the AHCI controller, so ATA commands
	// (hdparm -y, -C; ATA PASS-THROUGH over SG_IO) reach a real libata path.
	IDE Bus = 1 << iota
	// SCSI attaches a scsi-hd disk to the virtio-scsi controller, which
	// answers SCSI commands such as START STOP UNIT.
	SCSI
	// USB is the bus PlugUSB uses; AttachDisk accepts it too.
	USB
)

func (b Bus) String() string {
	switch b {
	case IDE:
		return "ide"
	case SCSI:
		return "scsi"
	case USB:
		return "usb"
	}
	return "unknown"
}

// Paths and names shared by the host and guest halves.
const (
	guestEnv       = "EXTDRIVE_VMTEST_GUEST" // "1" inside the VM
	guestShare     = "/vmshare"              // where the 9p share is mounted
	shareTag       = "vmshare"
	outPortName    = "vmtest.out"
	ctlPortName    = "vmtest.ctl"
	imagesSubdir   = "images"
	exitCodeFile   = "exitcode"
	markerBegin    = "VMTEST-BEGIN"
	markerExit     = "VMTEST-EXIT="
	markerProbe    = "VMTEST-PROBE-OK"
	markerError    = "VMTEST-ERROR: "
	consoleTailLen = 60
)

// ctlRequest is what the guest asks the host to do with its hardware.
type ctlRequest struct {
	Seq    uint64 `json:"seq"`
	Op     string `json:"op"` // "attach" or "detach"
	ID     string `json:"id"`
	Bus    string `json:"bus,omitempty"`
	Image  string `json:"image,omitempty"` // relative to the share root
	Serial string `json:"serial,omitempty"`
}

type ctlResponse struct {
	Seq    uint64 `json:"seq"`
	Error  string `json:"error,omitempty"`
	Serial string `json:"serial,omitempty"` // the disk's serial, for the guest to find it by
}
