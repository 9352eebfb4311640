package blinkstick

import "errors"

// Sentinel errors; check them with errors.Is. Errors from this package that
// concern one stick are *OpError values wrapping one of these.
var (
	// ErrNotFound: no BlinkStick is plugged in, or none matches the
	// requested serial number or index.
	ErrNotFound = errors.New("no BlinkStick found")
	// ErrPermission: the stick's device node cannot be opened by this
	// user. UdevRule gives a group access.
	ErrPermission = errors.New("permission denied opening the BlinkStick")
	// ErrUnsupported: no HID backend is available on this platform or
	// build, or the requested backend is not compiled in.
	ErrUnsupported = errors.New("not supported")
	// ErrInvalidColor: a colour string that ParseColor does not accept.
	ErrInvalidColor = errors.New("invalid colour")
	// ErrInvalidArgument: a limit, LED index, channel or pattern value
	// out of range. Nothing is sent to the stick.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrClosed: the Stick was closed.
	ErrClosed = errors.New("BlinkStick closed")
)

// OpError carries the operation and the stick (device path, or serial when
// there is no path yet) that failed.
type OpError struct {
	Op     string // "open", "set-report", "get-report", "enumerate", ...
	Device string
	Err    error
}

func (e *OpError) Error() string {
	s := "blinkstick: " + e.Op
	if e.Device != "" {
		s += " " + e.Device
	}
	return s + ": " + e.Err.Error()
}

func (e *OpError) Unwrap() error { return e.Err }
