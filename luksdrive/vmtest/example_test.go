package vmtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// A package's host-side entry point: one TestVM that boots the VM and runs
// the package's TestGuest* tests inside it, with the extdrive command on
// the guest's PATH.
func ExampleRun() {
	_ = func(t *testing.T) {
		vmtest.Run(t, &vmtest.Options{
			Commands: map[string]string{"extdrive": "github.com/extdrive/extdrive/cmd/extdrive"},
		})
	}
}

// A guest test (in a *_vm_test.go file with //go:build vmguest) plugs a USB
// stick and finds its device node.
func ExampleMachine_PlugUSB() {
	_ = func(t *testing.T) {
		m := vmtest.Guest(t)
		img := filepath.Join(m.SharedDir(), "stick.img")
		if err := os.WriteFile(img, make([]byte, 8<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		dev, err := m.PlugUSB(context.Background(), "stick", img)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("stick is %s", dev)
	}
}

// Code shared by host and guest tests can ask where it runs.
func ExampleInGuest() {
	fmt.Println(vmtest.InGuest())
	// Output: false
}
