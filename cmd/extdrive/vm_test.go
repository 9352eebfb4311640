package main

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the command's TestGuest* tests (files *_vm_test.go) as root
// in a VM, with the extdrive binary on the guest's PATH.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Timeout:  25 * time.Minute,
		Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
	})
}
