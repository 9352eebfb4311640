package udevwatch

import (
	"context"
	"testing"
)

func BenchmarkParseMessage(b *testing.B) {
	for _, tc := range []struct{ format, name string }{
		{"kernel", "02-plug_luks-015-add-block-sdc"},
		{"udev", "02-plug_luks-015-add-block-sdc"},
	} {
		msg := readFixture(b, tc.format, tc.name)
		b.Run(tc.format, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ParseMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandleUdev is the watcher's own share of the event-to-job
// latency: credential check, parse, dedup and match of one udev message.
func BenchmarkHandleUdev(b *testing.B) {
	add := readFixture(b, "udev", "02-plug_luks-015-add-block-sdc")
	remove := readFixture(b, "udev", "06-unplug_luks-005-remove-block-sdc")
	w, _ := newWatcher((*Options)(nil).withDefaults(), groupUdev, func() (source, error) { return newFakeSource(), nil })
	w.opts.Match = []Matcher{{LUKSUUID: fixLUKS}}
	n := 0
	fn := func(Event) { n++ }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		w.handleRaw(ctx, add, fromUdevd, fn)
		w.handleRaw(ctx, remove, fromUdevd, fn)
	}
	if n != 2*b.N {
		b.Fatalf("%d events for %d add/remove pairs", n, b.N)
	}
}
