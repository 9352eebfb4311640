package treecopy_test

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the guest tests (*_vm_test.go) in a VM: snapshots onto a
// USB-attached ext4 drive, including a real ENOSPC.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{Timeout: 10 * time.Minute, Tools: []string{"setfacl"}})
}
