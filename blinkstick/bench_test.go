package blinkstick

import (
	"context"
	"testing"
)

// The encoding cost per report, without the kernel: a pulse writes 100
// reports per cycle, a Pro strip 194-byte frames.
func BenchmarkSetLEDsFrame64(b *testing.B) {
	s, r := testStick(VariantPro, 50)
	cs := make([]Color, 64)
	for i := range cs {
		cs[i] = Color{uint8(i), 255, 3}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SetLEDs(ctx, 0, cs); err != nil {
			b.Fatal(err)
		}
		r.sets = r.sets[:0]
	}
}

func BenchmarkSetLED(b *testing.B) {
	s, r := testStick(VariantNano, 50)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.SetLED(ctx, 0, 1, red); err != nil {
			b.Fatal(err)
		}
		r.sets = r.sets[:0]
	}
}

func BenchmarkParseColor(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseColor("lightgoldenrodyellow"); err != nil {
			b.Fatal(err)
		}
		if _, err := ParseColor("#ff8800"); err != nil {
			b.Fatal(err)
		}
	}
}
