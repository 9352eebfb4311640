package blinkstick

import "fmt"

// Feature report IDs of the BlinkStick firmware (arvydas/blinkstick-firmware
// main.cpp). Every report travels as a HID feature report whose first byte
// is its ID; the sizes below include that byte, and are what the report
// descriptor declares, so the firmware's fixed-length reads line up.
const (
	reportColor    = 1 // [1, R, G, B]: first LED
	reportInfo1    = 2 // [2, 32 bytes]: name block in EEPROM
	reportInfo2    = 3 // [3, 32 bytes]: data block in EEPROM
	reportMode     = 4 // [4, mode]
	reportIndexed  = 5 // [5, channel, index, R, G, B]
	reportFrame8   = 6 // [6, channel, G,R,B × 8]
	reportFrame16  = 7 // [7, channel, G,R,B × 16]
	reportFrame32  = 8 // [8, channel, G,R,B × 32]
	reportFrame64  = 9 // [9, channel, G,R,B × 64]
	maxChannel     = 2
	maxFrameLEDs   = 64
	maxReportBytes = 2 + 3*maxFrameLEDs
)

// ReportSize returns the length in bytes, report ID included, of feature
// report id, or 0 for an ID the firmware does not define.
func ReportSize(id byte) int {
	switch id {
	case reportColor:
		return 4
	case reportInfo1, reportInfo2:
		return 33
	case reportMode:
		return 2
	case reportIndexed:
		return 6
	case reportFrame8, reportFrame16, reportFrame32, reportFrame64:
		return 2 + 3*frameLEDs(id)
	}
	return 0
}

// frameLEDs is how many LEDs a frame report carries.
func frameLEDs(id byte) int {
	return 8 << (id - reportFrame8)
}

// frameReport picks the smallest frame report that holds n LEDs, as the
// Python library does, so short strips cost short transfers.
func frameReport(n int) byte {
	switch {
	case n <= 8:
		return reportFrame8
	case n <= 16:
		return reportFrame16
	case n <= 32:
		return reportFrame32
	}
	return reportFrame64
}

// encodeColor is report 1: the first LED, in R,G,B order.
func encodeColor(c Color) []byte {
	return []byte{reportColor, c.R, c.G, c.B}
}

// encodeIndexed is report 5: one LED by channel and index, in R,G,B order
// (the firmware swaps to G,R,B itself).
func encodeIndexed(channel, index int, c Color) []byte {
	return []byte{reportIndexed, byte(channel), byte(index), c.R, c.G, c.B}
}

// encodeFrame is reports 6-9: the first len(cs) LEDs of a channel at once,
// in the G,R,B order WS2812 LEDs take on the wire; LEDs past len(cs) in the
// frame are turned off.
func encodeFrame(channel int, cs []Color) []byte {
	id := frameReport(len(cs))
	b := make([]byte, ReportSize(id))
	b[0], b[1] = id, byte(channel)
	for i, c := range cs {
		b[2+3*i], b[3+3*i], b[4+3*i] = c.G, c.R, c.B
	}
	return b
}

// decodeColor reads report 1 back. The firmware answers in R,G,B order
// although it stores G,R,B.
func decodeColor(b []byte) (Color, error) {
	if len(b) < 4 || b[0] != reportColor {
		return Off, fmt.Errorf("short or foreign report 1 reply (%d bytes)", len(b))
	}
	return Color{b[1], b[2], b[3]}, nil
}

// decodeFrame reads n LEDs from a frame report reply.
func decodeFrame(b []byte, n int) ([]Color, error) {
	if len(b) < 2+3*n || b[0] < reportFrame8 || b[0] > reportFrame64 {
		return nil, fmt.Errorf("short or foreign frame reply (%d bytes for %d LEDs)", len(b), n)
	}
	cs := make([]Color, n)
	for i := range cs {
		cs[i] = Color{R: b[3+3*i], G: b[2+3*i], B: b[4+3*i]}
	}
	return cs, nil
}
