//go:build !linux

package rotate

import (
	"fmt"
	"runtime"
)

type driveLock struct{}

func lockDrive(stateDir, drive string) (*driveLock, error) {
	return nil, fmt.Errorf("rotation jobs are not supported on %s", runtime.GOOS)
}

func (l *driveLock) unlock() {}
