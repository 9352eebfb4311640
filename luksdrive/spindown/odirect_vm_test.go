//go:build vmguest

package spindown_test

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

const syscallODirect = unix.O_DIRECT

// alignedBlock returns a 4 KiB buffer aligned for O_DIRECT.
func alignedBlock() []byte {
	b := make([]byte, 8192)
	off := int(4096 - uintptr(unsafe.Pointer(&b[0]))%4096)
	return b[off%4096 : off%4096+4096]
}
