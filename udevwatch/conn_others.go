//go:build !linux

package udevwatch

import "fmt"

func openNetlink(group uint32, rcvbuf int) (source, error) {
	return nil, fmt.Errorf("netlink uevents: %w", ErrNotSupported)
}
