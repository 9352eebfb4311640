package udevwatch

import (
	"context"

	"github.com/extdrive/extdrive/luksdrive/probe"
)

// defaultProbe reads the superblock with luksdrive/probe, the same reader
// the rest of extdrive trusts, so a kernel-mode watcher sees the UUIDs
// blkid would print.
func defaultProbe(_ context.Context, devnode string) (FS, error) {
	r, err := probe.Device(devnode)
	if err != nil {
		return FS{}, err
	}
	return FS{Type: r.Type, UUID: r.UUID, Label: r.Label, Version: r.Version}, nil
}
