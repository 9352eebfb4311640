package luksdrive

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs this package's TestGuest* tests (files *_vm_test.go) as root
// in a VM with device-mapper, USB hot-plug and udev.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{Timeout: 20 * time.Minute, Tools: []string{"sfdisk"}})
}
