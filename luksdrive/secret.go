package luksdrive

import "runtime"

// wipe overwrites a secret in place. Go's garbage collector may already
// have copied the bytes (slice growth, stack moves), so this narrows the
// window rather than closing it; every buffer that held key material goes
// through here as soon as its owner is done with it.
func wipe(b []byte) {
	clear(b)
	// KeepAlive stops the compiler from treating the clear as a dead store
	// when b is not read again.
	runtime.KeepAlive(b)
}
