//go:build !linux

package luksdrive

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
)

var errNotLinux = fmt.Errorf("%w: device-mapper needs Linux, not %s", ErrNoDeviceMapper, runtime.GOOS)

// deviceSize is the file size; block devices are Linux-only here.
func deviceSize(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func existingMapping(device, name string, h *header) (*Mapping, error) { return nil, errNotLinux }

func createMapping(ctx context.Context, f *os.File, device, name string, h *header, vk []byte, lv *luksGoVolume, readOnly bool, log *slog.Logger) error {
	return errNotLinux
}

// OpenMappingFor is not supported outside Linux.
func OpenMappingFor(device string) (*Mapping, error) {
	return nil, opErr("find mapping", device, errNotLinux)
}

// Lock is not supported outside Linux.
func Lock(ctx context.Context, name string) error { return opErr("lock", name, errNotLinux) }

func haveDM() error { return errNotLinux }
