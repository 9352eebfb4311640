package rotate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// driveLock is an flock on StateDir/locks/NAME.lock. flock, not a PID
// file: the kernel drops it when the process dies, so a job killed by a
// power cut or the OOM killer never leaves a stale lock behind.
type driveLock struct{ f *os.File }

func lockDrive(stateDir, drive string) (*driveLock, error) {
	dir := filepath.Join(stateDir, "locks")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, drive+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, ErrAlreadyRunning
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &driveLock{f: f}, nil
}

func (l *driveLock) unlock() { l.f.Close() }
