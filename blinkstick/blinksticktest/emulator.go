package blinksticktest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/extdrive/extdrive/blinkstick"
)

// Options describe the emulated stick; nil means a BlinkStick Nano with
// serial BS000001-3.1.
type Options struct {
	Serial  string // default "BS000001-3.1"
	Product string // HID name, default "BlinkStick Nano"
	// Version is the device release the kernel sees (the USB
	// bcdDevice of a real stick); default 0x0202, a Nano's.
	Version uint32
	// UHID is the uhid character device, default /dev/uhid.
	UHID string
	// Descriptor replaces the report descriptor (for tests of devices
	// that misbehave); nil uses ReportDescriptor.
	Descriptor []byte
	// FailSet, when non-zero, makes every SET_REPORT fail with this errno
	// (e.g. 5 = EIO), as an unplugged or wedged stick does.
	FailSet uint16
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.Serial == "" {
		v.Serial = "BS000001-3.1"
	}
	if v.Product == "" {
		v.Product = "BlinkStick Nano"
	}
	if v.Version == 0 {
		v.Version = 0x0202
	}
	if v.UHID == "" {
		v.UHID = "/dev/uhid"
	}
	if v.Descriptor == nil {
		v.Descriptor = ReportDescriptor
	}
	return v
}

// ReportDescriptor is the BlinkStick firmware's HID report descriptor: a
// vendor page collection of 8-bit feature reports 1 (3 bytes), 2 and 3
// (32), 4 (1), 5 (5), and 6-9 (25, 49, 97 and 193 bytes: a channel byte
// and 8/16/32/64 G,R,B triples). Sizes exclude the report ID byte.
var ReportDescriptor = []byte{
	0x06, 0x00, 0xff, // Usage Page (Vendor Defined 0xFF00)
	0x09, 0x01, //       Usage (1)
	0xa1, 0x01, //       Collection (Application)
	0x15, 0x00, //         Logical Minimum (0)
	0x26, 0xff, 0x00, //   Logical Maximum (255)
	0x75, 0x08, //         Report Size (8)
	0x85, 0x01, 0x95, 0x03, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 1, Count 3, Feature (Data,Var,Abs,Buf)
	0x85, 0x02, 0x95, 0x20, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 2, Count 32
	0x85, 0x03, 0x95, 0x20, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 3, Count 32
	0x85, 0x04, 0x95, 0x01, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 4, Count 1
	0x85, 0x05, 0x95, 0x05, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 5, Count 5
	0x85, 0x06, 0x95, 0x19, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 6, Count 25
	0x85, 0x07, 0x95, 0x31, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 7, Count 49
	0x85, 0x08, 0x95, 0x61, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 8, Count 97
	0x85, 0x09, 0x95, 0xc1, 0x09, 0x00, 0xb2, 0x02, 0x01, // Report ID 9, Count 193
	0xc0, // End Collection
}

// Report is one SET_REPORT the emulator received.
type Report struct {
	ID   byte
	Data []byte // the whole report as sent, report ID first
}

// LEDs per channel the emulated firmware stores, as the real one does.
const maxLEDs = 64

// state is the emulated firmware: what it stores and what it received.
// It is plain data, separate from the uhid plumbing, so the behaviour of
// the emulated device does not depend on how bytes reach it.
type state struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every SET_REPORT
	leds    [3][maxLEDs]blinkstick.Color
	info    [2][32]byte
	mode    byte
	lastIdx [2]byte // channel, index of the last report 5
	reports []Report
	history map[[2]int][]blinkstick.Color
}

func newState() *state {
	return &state{changed: make(chan struct{}), history: map[[2]int][]blinkstick.Color{}}
}

// set applies one SET_REPORT the way the firmware does and reports whether
// the device accepts it (a known ID at least as long as its report).
func (s *state) set(data []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(data) == 0 {
		return false
	}
	id := data[0]
	want := blinkstick.ReportSize(id)
	s.reports = append(s.reports, Report{ID: id, Data: slices.Clone(data)})
	defer func() {
		close(s.changed)
		s.changed = make(chan struct{})
	}()
	if want == 0 || len(data) < want {
		return false
	}
	switch {
	case id == 1:
		s.light(0, 0, blinkstick.Color{R: data[1], G: data[2], B: data[3]})
	case id == 2 || id == 3:
		copy(s.info[id-2][:], data[1:33])
	case id == 4:
		s.mode = data[1]
	case id == 5:
		ch, idx := int(data[1]), int(data[2])
		if ch > 2 || idx >= maxLEDs {
			return false
		}
		s.lastIdx = [2]byte{data[1], data[2]}
		s.light(ch, idx, blinkstick.Color{R: data[3], G: data[4], B: data[5]})
	default: // frames 6-9, G,R,B
		ch := int(data[1])
		if ch > 2 {
			return false
		}
		n := (want - 2) / 3
		for i := range n {
			s.light(ch, i, blinkstick.Color{G: data[2+3*i], R: data[3+3*i], B: data[4+3*i]})
		}
	}
	return true
}

func (s *state) light(ch, idx int, c blinkstick.Color) {
	s.leds[ch][idx] = c
	k := [2]int{ch, idx}
	if h := s.history[k]; len(h) == 0 || h[len(h)-1] != c {
		s.history[k] = append(h, c)
	}
}

// get answers a GET_REPORT as the firmware would, report ID first; nil for
// an unknown report.
func (s *state) get(id byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := blinkstick.ReportSize(id)
	if n == 0 {
		return nil
	}
	b := make([]byte, n)
	b[0] = id
	switch {
	case id == 1:
		c := s.leds[0][0]
		b[1], b[2], b[3] = c.R, c.G, c.B
	case id == 2 || id == 3:
		copy(b[1:], s.info[id-2][:])
	case id == 4:
		b[1] = s.mode
	case id == 5:
		ch, idx := s.lastIdx[0], s.lastIdx[1]
		c := s.leds[ch][idx]
		b[1], b[2], b[3], b[4], b[5] = ch, idx, c.R, c.G, c.B
	default:
		for i := range (n - 2) / 3 {
			c := s.leds[0][i]
			b[2+3*i], b[3+3*i], b[4+3*i] = c.G, c.R, c.B
		}
	}
	return b
}

// Reports returns every SET_REPORT received so far, in order.
func (e *Emulator) Reports() []Report {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	return slices.Clone(e.st.reports)
}

// Reset forgets the recorded reports and colour histories (the LED state
// stays, as on a real stick).
func (e *Emulator) Reset() {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	e.st.reports = nil
	e.st.history = map[[2]int][]blinkstick.Color{}
}

// LED returns the colour the emulated stick currently holds for a LED.
func (e *Emulator) LED(channel, index int) blinkstick.Color {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	return e.st.leds[channel][index]
}

// History returns the successive colours a LED took since Start or Reset,
// consecutive repeats collapsed: a job that went yellow then green shows
// [yellow, green] (scaled by any brightness limit).
func (e *Emulator) History(channel, index int) []blinkstick.Color {
	e.st.mu.Lock()
	defer e.st.mu.Unlock()
	return slices.Clone(e.st.history[[2]int{channel, index}])
}

// WaitReports blocks until at least n SET_REPORTs have been received and
// returns them all, or fails when ctx ends.
func (e *Emulator) WaitReports(ctx context.Context, n int) ([]Report, error) {
	for {
		e.st.mu.Lock()
		got, ch := len(e.st.reports), e.st.changed
		e.st.mu.Unlock()
		if got >= n {
			return e.Reports(), nil
		}
		select {
		case <-ctx.Done():
			return e.Reports(), fmt.Errorf("blinksticktest: %d of %d reports received: %w", got, n, ctx.Err())
		case <-ch:
		case <-e.done:
			return e.Reports(), fmt.Errorf("blinksticktest: emulator stopped with %d of %d reports received: %v", got, n, e.Err())
		}
	}
}
