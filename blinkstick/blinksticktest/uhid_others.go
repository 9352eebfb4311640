//go:build !linux

package blinksticktest

import (
	"context"
	"fmt"
	"runtime"
)

// Emulator is a running emulated BlinkStick; uhid is Linux-only.
type Emulator struct {
	st   *state
	done chan struct{}
}

// Start fails: uhid is a Linux driver.
func Start(ctx context.Context, opts *Options) (*Emulator, error) {
	return nil, fmt.Errorf("blinksticktest: uhid is not supported on %s", runtime.GOOS)
}

// Err is always nil.
func (e *Emulator) Err() error { return nil }

// Hidraw fails: uhid is a Linux driver.
func (e *Emulator) Hidraw(ctx context.Context) (string, error) {
	return "", fmt.Errorf("blinksticktest: uhid is not supported on %s", runtime.GOOS)
}

// Close does nothing.
func (e *Emulator) Close() error { return nil }
