package blinkstick

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sysfsNode lays out one hidraw node the way the kernel does:
// class/hidraw/hidrawN/device links to the HID device directory, whose
// uevent describes it and whose grandparent is the USB device (for usbhid)
// or the uhid misc device (for uhid).
func sysfsNode(t *testing.T, root, node, hidDir, uevent string, usb map[string]string) {
	t.Helper()
	dev := filepath.Join(root, "devices", hidDir)
	if err := os.MkdirAll(dev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dev, "uevent"), []byte(uevent), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, v := range usb {
		if err := os.WriteFile(filepath.Join(filepath.Dir(filepath.Dir(dev)), name), []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	class := filepath.Join(root, "class", "hidraw", node)
	if err := os.MkdirAll(class, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(dev, filepath.Join(class, "device")); err != nil {
		t.Fatal(err)
	}
}

// The sysfs walk on a tree shaped like a machine's with a USB Square, a
// uhid Nano and a keyboard. The VM tests cover the uhid case on a real
// kernel; this one covers reading the USB parent, which needs a real
// stick there.
func TestHidrawEnumerateSysfs(t *testing.T) {
	root := t.TempDir()
	sysfsNode(t, root, "hidraw10", "pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/0003:20A0:41E5.000B",
		"DRIVER=hid-generic\nHID_ID=0003:000020A0:000041E5\nHID_NAME=Agile Innovative Ltd BlinkStick\nHID_PHYS=usb-0000:00:14.0-2/input0\nHID_UNIQ=BS056011-3.0\n",
		map[string]string{"idVendor": "20a0", "idProduct": "41e5", "product": "BlinkStick", "manufacturer": "Agile Innovative Ltd", "serial": "BS056011-3.0", "bcdDevice": "0200"})
	sysfsNode(t, root, "hidraw2", "virtual/misc/uhid/0003:20A0:41E5.0003",
		"DRIVER=hid-generic\nHID_ID=0003:000020A0:000041E5\nHID_NAME=BlinkStick Nano\nHID_UNIQ=BS000001-3.1\n", nil)
	sysfsNode(t, root, "hidraw0", "pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/0003:046D:C31C.0001",
		"DRIVER=hid-generic\nHID_ID=0003:0000046D:0000C31C\nHID_NAME=Logitech USB Keyboard\n",
		map[string]string{"idVendor": "046d", "idProduct": "c31c", "product": "USB Keyboard"})

	h := &hidrawBackend{sysClass: filepath.Join(root, "class", "hidraw"), dev: "/dev"}
	got, err := h.enumerate()
	if err != nil {
		t.Fatal(err)
	}
	want := []Info{
		{Path: "/dev/hidraw2", Serial: "BS000001-3.1", Product: "BlinkStick Nano", Variant: VariantNano, LEDs: 2, Backend: "hidraw"},
		{Path: "/dev/hidraw10", Serial: "BS056011-3.0", Product: "BlinkStick", Manufacturer: "Agile Innovative Ltd", Release: 0x200, Variant: VariantSquare, LEDs: 8, Backend: "hidraw"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// No hidraw class at all (module not loaded): no sticks, no error.
	h = &hidrawBackend{sysClass: filepath.Join(root, "nonexistent"), dev: "/dev"}
	if got, err := h.enumerate(); err != nil || len(got) != 0 {
		t.Errorf("missing class: %v, %v", got, err)
	}
}
