//go:build !linux

package rotate

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"

	"github.com/extdrive/extdrive/luksdrive/config"
)

type defaultOps struct{}

var errNotLinux = fmt.Errorf("rotation jobs are not supported on %s", runtime.GOOS)

func (defaultOps) present(context.Context, *config.Drive) bool { return false }

func (defaultOps) ensure(context.Context, *config.Drive, []byte, *slog.Logger) (string, error) {
	return "", errNotLinux
}

func (defaultOps) release(context.Context, *config.Drive, *slog.Logger) error { return errNotLinux }

func (defaultOps) spindown(context.Context, *config.Drive, *slog.Logger) error { return errNotLinux }
