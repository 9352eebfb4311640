package blinkstick

import (
	"fmt"
	"strings"
)

// UdevRule returns a udev rules file (for /etc/udev/rules.d/) that gives
// group read/write access to BlinkStick hidraw nodes, for the hidraw
// backend, and to the raw USB device, for the hidapi backend. The hidraw
// line matches the HID device's kernel name (bus:VID:PID.N), which USB
// sticks and uhid-emulated ones share. group must be an existing group
// name; the caller checks it (udev ignores rules naming unknown groups).
func UdevRule(group string) string {
	vid, pid := fmt.Sprintf("%04x", VendorID), fmt.Sprintf("%04x", ProductID)
	return "# BlinkStick LEDs: let group " + group + " drive them without root (extdrive led).\n" +
		`SUBSYSTEM=="hidraw", KERNELS=="0003:` + strings.ToUpper(vid) + ":" + strings.ToUpper(pid) + `.*", GROUP="` + group + `", MODE="0660"` + "\n" +
		`SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="` + vid + `", ATTR{idProduct}=="` + pid + `", GROUP="` + group + `", MODE="0660"` + "\n"
}
