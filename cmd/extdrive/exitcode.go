package main

import (
	"errors"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/spindown"
)

// Exit codes. They are part of the command's interface (documented in
// README.md): scripts and systemd units branch on them. Never renumber.
// Ranges: 3-19 luksdrive core, 20-29 config and rotation, 30-39 copy
// engine, 40-49 spindown, 50-59 LED, 60-69 watch and install.
const (
	exitOK      = 0
	exitFailure = 1 // anything without a more specific code
	exitUsage   = 2 // bad flags or arguments

	exitWrongKey      = 3
	exitNoDevice      = 4
	exitNoKeyDevice   = 5
	exitBusy          = 6
	exitUnsafeKeyFile = 7
	exitPolicy        = 8
	exitNotLUKS       = 9
	exitCorruptHeader = 10
	exitUnsupported   = 11
	exitMountPoint    = 12
	exitNoDM          = 13
	exitPermission    = 14

	exitNotDisk         = 40 // spindown: target is not on a physical disk (loop, RAM, dm with no disk)
	exitNoPowerCommands = 41 // spindown: disk takes no ATA/SCSI power commands (NVMe, virtio, MMC)
	exitPassThroughRej  = 42 // spindown: ATA pass-through rejected (USB bridge); use --watch
	exitCommandAborted  = 43 // spindown: the drive aborted the command

	exitLEDNotFound    = 50 // no BlinkStick, or none with that serial
	exitLEDPermission  = 51 // the stick's device node cannot be opened
	exitLEDUnsupported = 52 // no HID backend in this build
	exitLEDBadTarget   = 53 // LED index or channel not on that stick
)

// exitCodes maps sentinel errors to exit codes; the first match wins, so
// more specific sentinels go first.
var exitCodes = []struct {
	err  error
	code int
}{
	{luksdrive.ErrWrongKey, exitWrongKey},
	{luksdrive.ErrNoKeyDevice, exitNoKeyDevice},
	{luksdrive.ErrNoDevice, exitNoDevice},
	{luksdrive.ErrBusy, exitBusy},
	{luksdrive.ErrUnsafeKeyFile, exitUnsafeKeyFile},
	{luksdrive.ErrPolicy, exitPolicy},
	{luksdrive.ErrNotLUKS, exitNotLUKS},
	{luksdrive.ErrCorruptHeader, exitCorruptHeader},
	{luksdrive.ErrUnsupported, exitUnsupported},
	{luksdrive.ErrMountPoint, exitMountPoint},
	{luksdrive.ErrNoDeviceMapper, exitNoDM},
	{luksdrive.ErrPermission, exitPermission},
	{spindown.ErrNotDisk, exitNotDisk},
	{spindown.ErrNoPowerCommands, exitNoPowerCommands},
	{spindown.ErrPassThroughRejected, exitPassThroughRej},
	{spindown.ErrCommandAborted, exitCommandAborted},
	{blinkstick.ErrNotFound, exitLEDNotFound},
	{blinkstick.ErrPermission, exitLEDPermission},
	{blinkstick.ErrUnsupported, exitLEDUnsupported},
	{blinkstick.ErrInvalidArgument, exitLEDBadTarget},
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if isUsage(err) {
		return exitUsage
	}
	for _, e := range exitCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return exitFailure
}
