//go:build !linux

package spindown

import (
	"context"
	"errors"
	"runtime"
)

var errNotLinux = errors.New("spindown is not supported on " + runtime.GOOS)

// Resolve is only implemented on Linux.
func Resolve(target string) ([]Disk, error) { return nil, opErr("resolve", target, errNotLinux) }

// SetStandbyTimer is only implemented on Linux.
func (d Disk) SetStandbyTimer(ctx context.Context, t Timer, opts *Options) error {
	return opErr("set standby timer", d.Path, errNotLinux)
}

// StandbyNow is only implemented on Linux.
func (d Disk) StandbyNow(ctx context.Context, opts *Options) (Method, error) {
	return MethodNone, opErr("standby", d.Path, errNotLinux)
}

// CheckPower is only implemented on Linux.
func (d Disk) CheckPower(ctx context.Context, opts *Options) (PowerMode, error) {
	return PowerUnknown, opErr("check power mode", d.Path, errNotLinux)
}

// Watch is only implemented on Linux.
func Watch(ctx context.Context, disks []Disk, opts *WatchOptions) error {
	return opErr("watch", "", errNotLinux)
}
