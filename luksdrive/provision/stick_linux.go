package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/extdrive/extdrive/luksdrive"
)

// mountStick mounts the key stick's filesystem on a private temporary
// directory (nodev,nosuid,noexec, as every luksdrive mount) and returns
// it with the function that unmounts and removes it. Read-write only
// while Prepare or Enroll writes a new key file.
func mountStick(ctx context.Context, dev string, readOnly bool, log *slog.Logger) (string, func() error, error) {
	dir, err := os.MkdirTemp("", "extdrive-stick-")
	if err != nil {
		return "", nil, err
	}
	if err := luksdrive.Mount(ctx, dev, dir, &luksdrive.MountOptions{ReadOnly: readOnly, Logger: log}); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount key stick %s: %w", dev, err)
	}
	return dir, func() error {
		// Unmount must not be cut short by a cancelled ctx: a stick left
		// mounted read-write is the worse outcome.
		err := luksdrive.Unmount(context.WithoutCancel(ctx), dir, &luksdrive.UnmountOptions{Logger: log})
		return errors.Join(err, os.Remove(dir))
	}, nil
}
