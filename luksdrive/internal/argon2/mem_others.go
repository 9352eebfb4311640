//go:build !linux

package argon2

// arena is plain heap memory where mmap hints are not available.
type arena struct{ blocks []block }

func newArena(n int) (*arena, error) { return &arena{blocks: make([]block, n)}, nil }

func (a *arena) free() error {
	clear(a.blocks)
	a.blocks = nil
	return nil
}
