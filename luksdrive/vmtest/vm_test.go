package vmtest_test

import (
	"testing"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs this package's guest smoke suite (smoke_vm_test.go) in the VM.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Commands: map[string]string{"vmtest-uname": "github.com/extdrive/extdrive/luksdrive/vmtest/internal/uname"},
		// A host tool the initramfs lacks (busybox's applet of the same
		// name would answer otherwise).
		Tools: []string{"sha256sum"},
	})
}
