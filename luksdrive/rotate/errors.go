package rotate

import (
	"errors"
	"fmt"
)

var (
	// ErrAlreadyRunning: another job holds this drive's lock. Not a
	// failure: udev and a user may both start a job for the same plug-in.
	ErrAlreadyRunning = errors.New("a job for this drive is already running")
	// ErrNotDue: the drive plugged in is not the one whose turn it is and
	// its copy is recent. Run with --force to copy anyway.
	ErrNotDue = errors.New("drive is not due")
	// ErrEmptySource: a source is missing or empty while the previous
	// copy of it is not; a missing mount must not look like "everything
	// was deleted". Run with --allow-empty if the source really is empty.
	ErrEmptySource = errors.New("source missing or empty")
	// ErrHook: a hook, the wrapper or the failure command failed or timed out.
	ErrHook = errors.New("hook failed")
	// ErrUnknownDrive: the drive is not in the configuration.
	ErrUnknownDrive = errors.New("drive not in the configuration")
	// ErrNoDrive: no drive was named and none of the configured drives is present.
	ErrNoDrive = errors.New("no configured drive present")
	// ErrNoRun: the history or the log directory has no such run.
	ErrNoRun = errors.New("no such run")
	// ErrState: the history file on the host or the drive is unreadable.
	ErrState = errors.New("unreadable history")
)

// OpError records the step of the job that failed and the drive it ran for.
type OpError struct {
	Op    string // "lock", "decide", "ensure", "pre-hook", "copy", "post-hook", "release", ...
	Drive string
	Err   error
}

func (e *OpError) Error() string {
	if e.Drive == "" {
		return e.Op + ": " + e.Err.Error()
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Drive, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }
