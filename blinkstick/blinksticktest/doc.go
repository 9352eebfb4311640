// Package blinksticktest emulates a BlinkStick through the kernel's uhid
// driver, so code that drives a stick can be tested through the real
// hidraw path (HIDIOCSFEATURE/HIDIOCGFEATURE, udev, permissions) on a
// machine without one.
//
// Start opens /dev/uhid (root, and the uhid module, needed) and creates a
// HID device with the BlinkStick's VID/PID, its firmware's report
// descriptor (feature reports 1-9 at their real sizes), a serial number
// such as BS000001-3.1 and a product string such as "BlinkStick Nano". The
// kernel binds hid-generic and makes a /dev/hidrawN node for it. The
// emulator answers GET_REPORT from its LED state and records every
// SET_REPORT (report ID and bytes) for assertions.
//
// It runs in the test process: the project's guest tests (build tag
// vmguest) use it inside the QEMU VM of package
// github.com/extdrive/extdrive/luksdrive/vmtest.
package blinksticktest
