// Package blinkstick drives BlinkStick USB LEDs through HID feature reports.
package blinkstick
