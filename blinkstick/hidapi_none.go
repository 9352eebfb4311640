//go:build linux && !cgo

package blinkstick

// Without cgo there is no hidapi; hidraw serves Linux alone.
func newHidapi() backend { return nil }
