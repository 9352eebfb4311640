package spindown

import "fmt"

// Disk is a physical whole disk found by Resolve.
type Disk struct {
	Name         string // kernel name, "sda"
	Path         string // device node, "/dev/sda"
	Major, Minor uint32
	// Transport says how commands reach the drive: "ata" (libata, a
	// SATA port), "usb" (USB mass storage or UAS: a bridge translates),
	// "scsi", "nvme", "virtio", "mmc" or "other".
	Transport string
	Model     string // vendor and model from sysfs, for messages
	// Via lists the kernel names walked from the target down to this
	// disk, e.g. ["dm-0", "sda1"]; empty when the target was the disk.
	Via []string
}

func (d Disk) String() string {
	if d.Model == "" {
		return fmt.Sprintf("%s (%s)", d.Path, d.Transport)
	}
	return fmt.Sprintf("%s (%s, %s)", d.Path, d.Transport, d.Model)
}

// Method says which command stopped a disk.
type Method int

const (
	MethodNone          Method = iota
	MethodATA16                // STANDBY IMMEDIATE in ATA PASS-THROUGH(16)
	MethodATA12                // STANDBY IMMEDIATE in ATA PASS-THROUGH(12)
	MethodStartStopUnit        // SCSI START STOP UNIT, START=0
)

func (m Method) String() string {
	switch m {
	case MethodATA16:
		return "ATA STANDBY IMMEDIATE (pass-through 16)"
	case MethodATA12:
		return "ATA STANDBY IMMEDIATE (pass-through 12)"
	case MethodStartStopUnit:
		return "SCSI START STOP UNIT"
	}
	return "none"
}

// PowerMode is a drive's answer to CHECK POWER MODE, named as hdparm -C
// names it. A drive put to SLEEP cannot be asked without waking it (the
// kernel resets it on the next command), so there is no "sleeping" here.
type PowerMode int

const (
	PowerUnknown         PowerMode = iota // no answer, or a value hdparm does not name either
	PowerActiveIdle                       // 0xff: spinning
	PowerIdle                             // 0x80
	PowerStandby                          // 0x00: spun down
	PowerNVCacheSpindown                  // 0x40
	PowerNVCacheSpinup                    // 0x41
)

// powerModeFromCount maps the COUNT register exactly as hdparm -C does.
func powerModeFromCount(c byte) PowerMode {
	switch c {
	case 0x00:
		return PowerStandby
	case 0x40:
		return PowerNVCacheSpindown
	case 0x41:
		return PowerNVCacheSpinup
	case 0x80:
		return PowerIdle
	case 0xff:
		return PowerActiveIdle
	}
	return PowerUnknown
}

func (p PowerMode) String() string {
	switch p {
	case PowerActiveIdle:
		return "active/idle"
	case PowerIdle:
		return "idle"
	case PowerStandby:
		return "standby"
	case PowerNVCacheSpindown:
		return "NVcache_spindown"
	case PowerNVCacheSpinup:
		return "NVcache_spinup"
	}
	return "unknown"
}
