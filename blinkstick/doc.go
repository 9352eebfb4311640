// Package blinkstick drives BlinkStick USB LEDs through HID feature
// reports, to show what a headless backup box is doing: off = idle, blue
// = interactive job, yellow = working, green = done and safe to remove the
// drive, red = failed.
//
// The protocol is the firmware's: report 1 sets the first LED (R,G,B),
// report 5 one LED by channel and index, reports 6-9 frames of 8/16/32/64
// LEDs in G,R,B order; reading report 1 or a frame returns the colours.
// The model (BlinkStick, Pro, Strip, Square, Nano, Flex) comes from the
// serial number's version suffix, the USB release and the product string.
// Brightness limits scale every channel the way the Python blinkstick
// tool's --limit does, so colours match byte for byte.
//
// Two backends reach the device. "hidraw" (Linux, pure Go, the default)
// finds sticks in /sys/class/hidraw and uses the HIDIOCSFEATURE and
// HIDIOCGFEATURE ioctls, so CGO_ENABLED=0 cross-builds for a Raspberry Pi
// keep the LED. "hidapi" (github.com/karalabe/hid) serves cgo builds on
// other systems, and Linux when asked for. Info.Backend says which one is
// in use.
//
// Patterns (steady, blink, pulse, progress) run with Play, or in a
// goroutine with Start; the last colour set stays lit after the process
// exits. Status wraps it all for a job that must never fail because of
// the LED: it logs one warning on the first error and turns later calls
// into no-ops. UdevRule gives a group access without root.
//
// The package never prints; it logs through the *slog.Logger in its
// options. Package blinksticktest emulates a stick through uhid for tests.
package blinkstick
