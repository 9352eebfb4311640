package blinkstick

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetectVariant(t *testing.T) {
	tests := []struct {
		serial, product string
		release         uint16
		want            Variant
		leds            int
	}{
		{"BS000001-1.0", "BlinkStick", 0x0100, VariantBlinkStick, 1},
		{"BS000001-1.1", "", 0, VariantBlinkStick, 1},
		{"BS002345-2.1", "BlinkStick", 0x0200, VariantPro, 64},
		{"BS056011-3.0", "BlinkStick", 0x0200, VariantSquare, 8},
		{"BS012345-3.1", "BlinkStick", 0x0201, VariantStrip, 8},
		{"BS033333-3.0", "BlinkStick", 0x0202, VariantNano, 2},
		{"BS006639-3.1", "BlinkStick", 0x0203, VariantFlex, 32},
		// No USB release (uhid, some backends): the product string decides.
		{"BS000001-3.1", "BlinkStick Nano", 0, VariantNano, 2},
		{"BS000001-3.1", "Agile Innovative Ltd BlinkStick Square", 0, VariantSquare, 8},
		{"BS000001-3.0", "BlinkStick Strip", 0, VariantStrip, 8},
		{"BS000001-3.0", "BlinkStick Flex", 0, VariantFlex, 32},
		{"", "BlinkStick Pro", 0, VariantPro, 64},
		// The release wins over a product string that disagrees.
		{"BS000001-3.0", "BlinkStick Nano", 0x0200, VariantSquare, 8},
		{"BS000001-3.0", "BlinkStick", 0, VariantUnknown, 1},
		{"BS000001-4.0", "BlinkStick", 0x0300, VariantUnknown, 1},
		{"garbage", "", 0, VariantUnknown, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%04x", tt.serial, tt.product, tt.release), func(t *testing.T) {
			got := DetectVariant(tt.serial, tt.product, tt.release)
			if diff := cmp.Diff(tt.want.String(), got.String()); diff != "" {
				t.Errorf("variant (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.leds, got.LEDs()); diff != "" {
				t.Errorf("LEDs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSerial(t *testing.T) {
	type v struct {
		Major, Minor int
		OK           bool
	}
	tests := map[string]v{
		"BS000001-3.1":  {3, 1, true},
		"BS012345-1.0":  {1, 0, true},
		"BS012345-12.7": {12, 7, true},
		"BS012345":      {0, 0, false},
		"BS012345-3":    {0, 0, false},
		"XX012345-3.1":  {0, 0, false},
		"BS012345-a.b":  {0, 0, false},
		"BS012345--1.0": {0, 0, false},
		"":              {0, 0, false},
	}
	for in, want := range tests {
		ma, mi, ok := ParseSerial(in)
		if diff := cmp.Diff(want, v{ma, mi, ok}); diff != "" {
			t.Errorf("ParseSerial(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func FuzzDetectVariant(f *testing.F) {
	f.Add("BS000001-3.1", "BlinkStick Nano", uint16(0))
	f.Add("BS000001-2.0", "", uint16(0x200))
	f.Add("BS-", "pro", uint16(0xffff))
	f.Fuzz(func(t *testing.T, serial, product string, release uint16) {
		v := DetectVariant(serial, product, release)
		if v < VariantUnknown || v > VariantFlex {
			t.Fatalf("variant %d out of range", v)
		}
		if n := v.LEDs(); n < 1 || n > 64 {
			t.Fatalf("%s has %d LEDs", v, n)
		}
		if ma, mi, ok := ParseSerial(serial); ok && (ma < 0 || mi < 0) {
			t.Fatalf("ParseSerial(%q) = %d.%d", serial, ma, mi)
		}
	})
}
