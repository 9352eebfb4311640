//go:build cgo || !linux

package blinkstick

import (
	"context"
	"runtime"
	"slices"
	"testing"
)

// The karalabe/hid backend builds and enumerates. CI machines have no
// stick, so an empty list is the expected result there; whatever it
// finds must be a BlinkStick described as coming from hidapi.
func TestHidapiEnumerates(t *testing.T) {
	if !slices.Contains(Backends(), "hidapi") {
		t.Fatalf("hidapi backend missing from a cgo build: %v", Backends())
	}
	if runtime.GOOS == "linux" && Backends()[0] != "hidraw" {
		t.Errorf("default backend on Linux is %q, want hidraw", Backends()[0])
	}
	infos, err := List(context.Background(), &ListOptions{Backend: "hidapi"})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range infos {
		if in.Backend != "hidapi" || in.Path == "" || in.LEDs != in.Variant.LEDs() {
			t.Errorf("bad hidapi Info %+v", in)
		}
	}
	t.Logf("hidapi found %d stick(s)", len(infos))
}
