package udevwatch

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the TestGuest* tests of this package (files *_vm_test.go)
// inside a VM with Debian's kernel, systemd-udevd and hot-pluggable USB.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Timeout:  20 * time.Minute,
		Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
	})
}
