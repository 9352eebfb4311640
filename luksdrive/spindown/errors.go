package spindown

import (
	"errors"
	"fmt"

	"github.com/extdrive/extdrive/luksdrive"
)

// Sentinel errors, checked with errors.Is. Errors about a device come
// wrapped in a *luksdrive.OpError naming it; a missing device wraps
// luksdrive.ErrNoDevice and a caller without root wraps
// luksdrive.ErrPermission.
var (
	// ErrNotDisk: the target is not backed by a physical disk (a loop
	// device, a RAM disk, a device-mapper target with no disk below, a
	// tmpfs mount), so there is nothing to spin down.
	ErrNotDisk = errors.New("not backed by a physical disk")
	// ErrNoPowerCommands: the disk is on a bus that takes neither ATA
	// pass-through nor SCSI START STOP UNIT (NVMe, virtio, MMC): its own
	// power management applies, not ours.
	ErrNoPowerCommands = errors.New("disk does not take ATA or SCSI power commands")
	// ErrPassThroughRejected: the disk, or the USB bridge in front of it,
	// refused ATA PASS-THROUGH. Stopping falls back to SCSI START STOP
	// UNIT; the standby timer and power-mode query have no fallback.
	ErrPassThroughRejected = errors.New("ATA pass-through rejected (USB bridge without SAT support?)")
	// ErrCommandAborted: the command reached the drive, which aborted it
	// (ATA ERR status, or a SCSI CHECK CONDITION other than rejection).
	ErrCommandAborted = errors.New("drive aborted the command")
	// ErrTimerRange: a standby timer duration or value cannot be encoded.
	ErrTimerRange = errors.New("standby timer out of range")
)

func opErr(op, dev string, err error) error {
	if err == nil {
		return nil
	}
	return &luksdrive.OpError{Op: op, Device: dev, Err: err}
}

// ataError carries the registers the drive returned with ATA ERR set.
type ataError struct {
	command, status, errReg byte
}

func (e *ataError) Error() string {
	return fmt.Sprintf("%v: ATA command 0x%02x returned status 0x%02x error 0x%02x",
		ErrCommandAborted, e.command, e.status, e.errReg)
}

func (e *ataError) Unwrap() error { return ErrCommandAborted }

// senseError carries a SCSI CHECK CONDITION the device answered with.
type senseError struct {
	sentinel error
	opcode   byte
	sense    Sense
}

func (e *senseError) Error() string {
	return fmt.Sprintf("%v: SCSI opcode 0x%02x: sense key 0x%x (%s), ASC/ASCQ 0x%02x/0x%02x",
		e.sentinel, e.opcode, e.sense.Key, senseKeyName(e.sense.Key), e.sense.ASC, e.sense.ASCQ)
}

func (e *senseError) Unwrap() error { return e.sentinel }
