//go:build !linux

package blinkstick

// hidraw is Linux's; elsewhere the hidapi backend is the only one.
func newHidraw() backend { return nil }
