package luksdrive

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package wraps one of these
// (usually inside an *OpError), so callers branch with errors.Is and never
// on message text. The extdrive command maps each one to its own exit code.
var (
	// ErrWrongKey: no keyslot accepts the passphrase or key file.
	ErrWrongKey = errors.New("no keyslot accepts this key")
	// ErrNoDevice: the drive (or image) named by a spec is not present.
	ErrNoDevice = errors.New("device not found")
	// ErrNoKeyDevice: the device holding the key file did not appear in time.
	ErrNoKeyDevice = errors.New("key device not found")
	// ErrBusy: a mapping name, device or mount point is in use by something else.
	ErrBusy = errors.New("device or mount point busy")
	// ErrUnsafeKeyFile: the key file can be read by group or others, or is not a regular file.
	ErrUnsafeKeyFile = errors.New("unsafe key file")
	// ErrPolicy: a live mount lacks an option the policy enforces.
	ErrPolicy = errors.New("mount policy violated")
	// ErrNotLUKS: the device carries no LUKS header.
	ErrNotLUKS = errors.New("not a LUKS device")
	// ErrCorruptHeader: a LUKS header is present but cannot be parsed or is truncated.
	ErrCorruptHeader = errors.New("corrupt LUKS header")
	// ErrUnsupported: the header uses a cipher, hash or KDF this package cannot handle.
	ErrUnsupported = errors.New("unsupported LUKS parameters")
	// ErrMountPoint: the mount point is missing, not a directory, or not empty.
	ErrMountPoint = errors.New("unusable mount point")
	// ErrNoDeviceMapper: the kernel offers no device-mapper (dm-mod/dm-crypt not loaded).
	ErrNoDeviceMapper = errors.New("device-mapper not available")
	// ErrPermission: the operation needs root (or a capability the caller lacks).
	ErrPermission = errors.New("permission denied")
)

// OpError records the operation and the device or path it failed on.
type OpError struct {
	Op     string // "find", "unlock", "mount", "lock", ...
	Device string // device node, image path, spec or mount point
	Err    error
}

func (e *OpError) Error() string {
	if e.Device == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Device, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

func opErr(op, dev string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Device: dev, Err: err}
}
