package provision

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrInUse: the disk, or a partition of it, is mounted, used as swap
	// or held by a device-mapper or md device.
	ErrInUse = errors.New("device in use")
	// ErrSystemDisk: the disk holds the running system (/, /boot, /usr, /var).
	ErrSystemDisk = errors.New("device holds the running system")
	// ErrTooSmall: the disk is smaller than the sanity floor.
	ErrTooSmall = errors.New("device too small")
	// ErrNotWholeDisk: the path is a partition or not a block device.
	ErrNotWholeDisk = errors.New("not a whole disk")
	// ErrNotConfirmed: the Confirm callback declined.
	ErrNotConfirmed = errors.New("not confirmed")
	// ErrStepFailed: an external command failed; see *StepError.
	ErrStepFailed = errors.New("step failed")
	// ErrKeyslot: a keyslot cannot be removed (not in use, or the last one).
	ErrKeyslot = errors.New("keyslot refused")
	// ErrHeaderVerify: a header backup does not match the drive or its checksum.
	ErrHeaderVerify = errors.New("header backup does not verify")
	// ErrExists: a key file or backup file is already there; nothing is
	// overwritten.
	ErrExists = errors.New("file already exists")
)

// StepError is an external command that failed. It unwraps to
// ErrStepFailed and to the command's own error.
type StepError struct {
	Step    string   // "partition", "format", "enroll key", ...
	Command []string // the argv that ran
	Stderr  string   // the command's last error output, trimmed
	Err     error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("step %q failed: %s: %v", e.Step, strings.Join(e.Command, " "), e.Err)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *StepError) Unwrap() []error { return []error{ErrStepFailed, e.Err} }
