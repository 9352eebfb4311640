//go:build !linux

package treecopy

import (
	"context"
	"fmt"
	"runtime"
)

// Snapshot needs Linux (openat and friends, copy_file_range, SEEK_DATA).
func Snapshot(ctx context.Context, src, root string, opts *Options) (*Result, error) {
	return nil, &OpError{Op: "snapshot", Path: root, Err: fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)}
}

// Mirror needs Linux (openat and friends, copy_file_range, SEEK_DATA).
func Mirror(ctx context.Context, src, dst string, opts *Options) (*Result, error) {
	return nil, &OpError{Op: "mirror", Path: dst, Err: fmt.Errorf("%w (%s)", ErrUnsupported, runtime.GOOS)}
}
