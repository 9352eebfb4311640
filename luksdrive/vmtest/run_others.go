//go:build !linux

package vmtest

import (
	"runtime"
	"testing"
)

// Run skips: the harness needs Linux on the host (QEMU, flock, ldd).
func Run(t *testing.T, opts *Options) {
	t.Helper()
	t.Skipf("vmtest: not supported on %s", runtime.GOOS)
}
