package blinkstick_test

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the TestGuest* tests of stick_vm_test.go inside the VM, where
// blinksticktest emulates sticks through uhid and the kernel's hidraw path
// carries the reports. One test alone: go test ./blinkstick -run 'TestVM/TestGuestCLISetColor'.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Timeout:  10 * time.Minute,
		Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
	})
}
