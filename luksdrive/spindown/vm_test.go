package spindown_test

import (
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestVM runs the guest tests in spindown_vm_test.go against Debian's
// kernel in QEMU: an AHCI (ide-hd) disk behind libata for the ATA
// commands, a scsi-hd disk for the START STOP UNIT fallback, dm-crypt and
// loop devices for resolution.
func TestVM(t *testing.T) {
	vmtest.Run(t, &vmtest.Options{
		Timeout:  12 * time.Minute,
		Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
	})
}
