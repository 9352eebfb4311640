package vmtest_test

import (
	"testing"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs this package's guest smoke suite (smoke_vm_test.go) in the VM.
func TestVM(t *testing.T) {
	vmtest.Run(t, nil)
}
