package rotate_test

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the guest tests (rotate_vm_test.go) in the VM: the whole
// rotation job against real dm-crypt, ext4 and hot-plugged USB drives.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Timeout:  20 * time.Minute,
		MemoryMB: 1024,
		Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
	})
}
