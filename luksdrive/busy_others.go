//go:build !linux

package luksdrive

import (
	"fmt"
	"runtime"
)

// Holders is supported on Linux only.
func Holders(target string) ([]Holder, error) {
	return nil, opErr("holders", target, fmt.Errorf("%w: listing holders is not supported on %s", ErrUnsupported, runtime.GOOS))
}
