//go:build !linux

package luksdrive

import (
	"context"
	"fmt"
	"runtime"
)

var errMountOS = fmt.Errorf("%w: mounting is not supported on %s", ErrUnsupported, runtime.GOOS)

// Mount is supported on Linux only.
func Mount(ctx context.Context, device, target string, opts *MountOptions) error {
	return opErr("mount", device, errMountOS)
}

// CheckMount is supported on Linux only.
func CheckMount(target string, p MountPolicy) error {
	return opErr("check mount", target, errMountOS)
}

// Unmount is supported on Linux only.
func Unmount(ctx context.Context, target string, opts *UnmountOptions) error {
	return opErr("unmount", target, errMountOS)
}
