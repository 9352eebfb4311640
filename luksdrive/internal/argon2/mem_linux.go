package argon2

import (
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// arena is block memory outside the Go heap.
type arena struct {
	raw    []byte
	blocks []block
}

func newArena(n int) (*arena, error) {
	if n <= 0 || n > math.MaxInt/(blockLength*8) {
		// 32-bit systems cannot address a 4 GiB cost.
		return nil, unix.ENOMEM
	}
	size := n * blockLength * 8
	raw, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	// Transparent huge pages cut the page faults of the first pass by
	// 512x. Kernels without THP return EINVAL; 4 KiB pages still work.
	_ = unix.Madvise(raw, unix.MADV_HUGEPAGE)
	// Keep the derivation state out of core dumps.
	_ = unix.Madvise(raw, unix.MADV_DONTDUMP)
	return &arena{raw: raw, blocks: unsafe.Slice((*block)(unsafe.Pointer(&raw[0])), n)}, nil
}

// free returns the pages to the kernel, which zeroes them before anyone
// else sees them: that is the wipe of the derivation state.
func (a *arena) free() error {
	a.blocks = nil
	err := unix.Munmap(a.raw)
	a.raw = nil
	return err
}
