//go:build !linux

package luksdrive

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
)

func readKeyFromDevice(ctx context.Context, k *Key, log *slog.Logger) ([]byte, error) {
	return nil, fmt.Errorf("%w: key files on other devices need Linux, not %s", ErrUnsupported, runtime.GOOS)
}
