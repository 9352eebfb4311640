package luksdrive

import (
	"fmt"
	"strings"
)

// Holder is a process that keeps a filesystem busy.
type Holder struct {
	PID     int
	Command string // /proc/PID/comm
	// How is what holds it: "cwd", "root", "exe", "mmap" or "fd <path>".
	How string
}

func (h Holder) String() string {
	return fmt.Sprintf("%d (%s) %s", h.PID, h.Command, h.How)
}

// BusyError is returned (inside an *OpError) when a mount cannot be
// unmounted because processes hold it. errors.Is(err, ErrBusy) is true.
type BusyError struct {
	Target  string
	Holders []Holder
}

func (e *BusyError) Error() string {
	if len(e.Holders) == 0 {
		return ErrBusy.Error() + " (no holding process found: another mount namespace, a loop device or swap file may hold it)"
	}
	// A whole desktop session can hold a mount; the line stays readable.
	const show = 8
	var hs []string
	for i, h := range e.Holders {
		if i == show {
			hs[show-1] += fmt.Sprintf(" and %d more", len(e.Holders)-show)
			break
		}
		hs = append(hs, h.String())
	}
	return fmt.Sprintf("%v: held by pid %s; stop those processes (or cd out of it) and retry", ErrBusy, strings.Join(hs, ", pid "))
}

func (e *BusyError) Unwrap() error { return ErrBusy }
