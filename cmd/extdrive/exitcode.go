package main

import (
	"errors"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/crypttab"
	"github.com/extdrive/extdrive/luksdrive/provision"
	"github.com/extdrive/extdrive/luksdrive/rotate"
	"github.com/extdrive/extdrive/luksdrive/spindown"
	"github.com/extdrive/extdrive/luksdrive/treecopy"
	"github.com/extdrive/extdrive/udevwatch"
	"github.com/extdrive/extdrive/udevwatch/install"
)

// Exit codes. They are part of the command's interface (documented in
// README.md): scripts and systemd units branch on them. Never renumber.
// Ranges: 3-19 luksdrive core, 20-29 config and rotation, 30-39 copy
// engine, 40-49 spindown, 50-59 LED, 60-69 watch and install, 70-79
// provisioning (prepare, enroll, header-backup, import).
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
	exitBadSpec       = 15 // a device spec is empty or has an unknown KEY=
	exitAmbiguous     = 16 // a spec matches more than one device
	exitNoFilesystem  = 17 // nothing mountable: still locked, unformatted, or an image file
	exitNotMounted    = 18 // nothing is mounted where a mount was expected

	exitConfig       = 20 // the configuration file is invalid
	exitNoConfig     = 21 // the configuration file does not exist
	exitNotDue       = 22 // rotate: the drive is not due (no --force)
	exitEmptySource  = 23 // rotate: a source is missing, or empty over a full copy
	exitHook         = 24 // rotate: a hook, the wrapper or the failure command failed or timed out
	exitUnknownDrive = 25 // the drive is not in the configuration
	exitNoDrive      = 26 // rotate: no configured drive is plugged in
	exitNoRun        = 27 // log: no such run
	exitState        = 28 // the run history is unreadable
	exitDuplicate    = 29 // the drive is already in the configuration

	exitSyncLocked = 30 // sync: another sync is running on this destination
	exitNoSpace    = 31 // sync: the destination is full (partial snapshot removed)
	exitVerify     = 32 // sync --verify: the copy differs from the source
	exitChanged    = 33 // sync: files changed while being copied (copy otherwise complete)
	exitSyncIO     = 34 // sync: I/O error on the source or the destination
	exitSyncSource = 35 // sync: the source is missing or not a directory
	exitSyncDest   = 36 // sync: the destination is missing, not a directory, or blocked

	exitNotOurs      = 60 // install/uninstall: a file extdrive did not write, or edited since
	exitNotInstalled = 61 // uninstall: nothing installed
	exitBadInstall   = 62 // install: a drive UUID or path cannot go into a rule or unit
	exitBadManifest  = 63 // install/uninstall: the manifest is unreadable
	exitNoWatch      = 64 // watch: netlink uevents not available
	exitBadUevent    = 65 // handle-event: udev environment missing or malformed
	exitBadTargets   = 66 // watch: unusable drive list

	exitNotDisk         = 40 // spindown: target is not on a physical disk (loop, RAM, dm with no disk)
	exitNoPowerCommands = 41 // spindown: disk takes no ATA/SCSI power commands (NVMe, virtio, MMC)
	exitPassThroughRej  = 42 // spindown: ATA pass-through rejected (USB bridge); use --watch
	exitCommandAborted  = 43 // spindown: the drive aborted the command

	exitLEDNotFound    = 50 // no BlinkStick, or none with that serial
	exitLEDPermission  = 51 // the stick's device node cannot be opened
	exitLEDUnsupported = 52 // no HID backend in this build
	exitLEDBadTarget   = 53 // LED index or channel not on that stick

	exitInUse        = 70 // prepare: the disk or a partition is mounted, swap, or in an active mapping
	exitSystemDisk   = 71 // prepare: the disk holds the running system
	exitTooSmall     = 72 // prepare: the disk is smaller than --min-size
	exitNotWholeDisk = 73 // prepare: a partition or a file, not a whole disk
	exitNotConfirmed = 74 // prepare: the typed name did not match
	exitStepFailed   = 75 // prepare/enroll/header-backup: an external command failed
	exitKeyslot      = 76 // enroll --remove: the last keyslot, or one not in use
	exitHeaderVerify = 77 // header-backup: the copy does not match the drive or its checksum
	exitUnmappable   = 78 // import: invalid or unmappable crypttab/fstab lines
	exitExists       = 79 // prepare/enroll: the key file (or backup file) already exists
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
	{luksdrive.ErrBadSpec, exitBadSpec},
	{luksdrive.ErrAmbiguous, exitAmbiguous},
	{luksdrive.ErrNoFilesystem, exitNoFilesystem},
	{luksdrive.ErrNotMounted, exitNotMounted},
	{config.ErrInvalid, exitConfig},
	{config.ErrNoConfig, exitNoConfig},
	{config.ErrDuplicate, exitDuplicate},
	{rotate.ErrNotDue, exitNotDue},
	{rotate.ErrEmptySource, exitEmptySource},
	{rotate.ErrHook, exitHook},
	{rotate.ErrUnknownDrive, exitUnknownDrive},
	{rotate.ErrNoDrive, exitNoDrive},
	{rotate.ErrNoRun, exitNoRun},
	{rotate.ErrState, exitState},
	{treecopy.ErrLocked, exitSyncLocked},
	{treecopy.ErrNoSpace, exitNoSpace},
	{treecopy.ErrVerify, exitVerify},
	{treecopy.ErrChanged, exitChanged},
	{treecopy.ErrIO, exitSyncIO},
	{treecopy.ErrSource, exitSyncSource},
	{treecopy.ErrDest, exitSyncDest},
	{treecopy.ErrBadPattern, exitUsage},
	{install.ErrNotOurs, exitNotOurs},
	{install.ErrNotInstalled, exitNotInstalled},
	{install.ErrBadDrive, exitBadInstall},
	{install.ErrBadPath, exitBadInstall},
	{install.ErrBadManifest, exitBadManifest},
	{udevwatch.ErrNotSupported, exitNoWatch},
	{udevwatch.ErrMalformed, exitBadUevent},
	{udevwatch.ErrBadTargets, exitBadTargets},
	{spindown.ErrNotDisk, exitNotDisk},
	{spindown.ErrNoPowerCommands, exitNoPowerCommands},
	{spindown.ErrPassThroughRejected, exitPassThroughRej},
	{spindown.ErrCommandAborted, exitCommandAborted},
	{blinkstick.ErrNotFound, exitLEDNotFound},
	{blinkstick.ErrPermission, exitLEDPermission},
	{blinkstick.ErrUnsupported, exitLEDUnsupported},
	{blinkstick.ErrInvalidArgument, exitLEDBadTarget},
	{provision.ErrInUse, exitInUse},
	{provision.ErrSystemDisk, exitSystemDisk},
	{provision.ErrTooSmall, exitTooSmall},
	{provision.ErrNotWholeDisk, exitNotWholeDisk},
	{provision.ErrNotConfirmed, exitNotConfirmed},
	{provision.ErrKeyslot, exitKeyslot},
	{provision.ErrHeaderVerify, exitHeaderVerify},
	{provision.ErrExists, exitExists},
	{provision.ErrStepFailed, exitStepFailed},
	{crypttab.ErrUnmappable, exitUnmappable},
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	if isUsage(err) {
		return exitUsage
	}
	// A re-executed child (private mount namespace) already chose its code.
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	for _, e := range exitCodes {
		if errors.Is(err, e.err) {
			return e.code
		}
	}
	return exitFailure
}
