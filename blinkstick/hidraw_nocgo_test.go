//go:build linux && !cgo

package blinkstick

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A CGO_ENABLED=0 Linux build (the Raspberry Pi cross-build) has the pure
// Go backend and nothing else.
func TestBackendsWithoutCgo(t *testing.T) {
	if diff := cmp.Diff([]string{"hidraw"}, Backends()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
