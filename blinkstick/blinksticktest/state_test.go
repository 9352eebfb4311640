package blinksticktest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/blinkstick"
)

// The emulated firmware's behaviour, apart from uhid: what it stores for
// each report and what GET_REPORT answers.
func TestStateFirmware(t *testing.T) {
	s := newState()
	sets := [][]byte{
		{1, 10, 20, 30},
		{5, 0, 1, 40, 50, 60},
		{5, 2, 63, 1, 2, 3},
		append([]byte{6, 1}, make([]byte, 24)...),
		{4, 2},
	}
	sets[3][2], sets[3][3], sets[3][4] = 7, 8, 9 // channel 1 LED 0, G,R,B
	for _, b := range sets {
		if !s.set(b) {
			t.Fatalf("set %v rejected", b)
		}
	}
	if diff := cmp.Diff([]byte{1, 10, 20, 30}, s.get(1)); diff != "" {
		t.Errorf("get 1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]byte{5, 2, 63, 1, 2, 3}, s.get(5)); diff != "" {
		t.Errorf("get 5 returns the last indexed LED (-want +got):\n%s", diff)
	}
	want6 := make([]byte, 26)
	copy(want6, []byte{6, 0, 20, 10, 30, 50, 40, 60})
	if diff := cmp.Diff(want6, s.get(6)); diff != "" {
		t.Errorf("get 6 is channel 0 in G,R,B (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(blinkstick.Color{R: 8, G: 7, B: 9}, s.leds[1][0]); diff != "" {
		t.Errorf("frame on channel 1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]byte{4, 2}, s.get(4)); diff != "" {
		t.Errorf("mode (-want +got):\n%s", diff)
	}
	if got := len(s.get(9)); got != 194 {
		t.Errorf("get 9 is %d bytes, want 194", got)
	}
	if s.get(0x81) != nil || s.get(0) != nil {
		t.Error("unknown report answered")
	}
	// Short or unknown reports are refused (the kernel then returns EIO)
	// but still recorded, so a test sees what was sent.
	for _, b := range [][]byte{{1, 1, 2}, {0x81, 3}, {5, 3, 0, 1, 1, 1}, {5, 0, 64, 1, 1, 1}, {}} {
		if s.set(b) {
			t.Errorf("set %v accepted", b)
		}
	}
	if n := len(s.reports); n != 9 {
		t.Errorf("%d reports recorded, want 9", n)
	}
	if diff := cmp.Diff([]blinkstick.Color{{R: 40, G: 50, B: 60}}, s.history[[2]int{0, 1}]); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

func TestReportDescriptorSizes(t *testing.T) {
	// Walk the descriptor's short items and collect each feature report's
	// byte count; it must match the sizes the driver package sends.
	got := map[byte]int{}
	var id byte
	var count, size int
	d := ReportDescriptor
	for i := 0; i < len(d); {
		prefix := d[i]
		n := int(prefix & 3)
		if n == 3 {
			n = 4
		}
		var v int
		for k := 0; k < n; k++ {
			v |= int(d[i+1+k]) << (8 * k)
		}
		switch prefix &^ 3 {
		case 0x84:
			id = byte(v)
		case 0x94:
			count = v
		case 0x74:
			size = v
		case 0xb0:
			got[id] = 1 + count*size/8
		}
		i += 1 + n
	}
	want := map[byte]int{}
	for id := byte(1); id <= 9; id++ {
		want[id] = blinkstick.ReportSize(id)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("descriptor report sizes (-want +got):\n%s", diff)
	}
}
