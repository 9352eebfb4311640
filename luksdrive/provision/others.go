//go:build !linux

package provision

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/extdrive/extdrive/luksdrive"
)

var errNotLinux = fmt.Errorf("%w: provisioning needs Linux (sysfs, dm-crypt), not %s", luksdrive.ErrUnsupported, runtime.GOOS)

// Inspect is only supported on Linux.
func Inspect(ctx context.Context, device string, opts *InspectOptions) (*DeviceInfo, error) {
	return nil, errNotLinux
}

// Prepare is only supported on Linux.
func Prepare(ctx context.Context, device string, opts *PrepareOptions) (*Prepared, error) {
	return nil, errNotLinux
}

func mountStick(ctx context.Context, dev string, readOnly bool, log *slog.Logger) (string, func() error, error) {
	return "", nil, errNotLinux
}
