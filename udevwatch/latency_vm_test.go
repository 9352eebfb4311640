//go:build vmguest

package udevwatch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// TestGuestLatency measures, over a fixed number of samples, the time from the
// kernel emitting an add uevent for a configured drive to its job
// starting (the job itself, key derivation included, is not timed).
// Each iteration writes "remove" then "add" to the disk's sysfs uevent
// file, which makes the kernel send those events at once; in udev mode
// the time includes udev running its rules (blkid, links) first.
// The harness runs only tests in the guest, hence a test reporting a
// benchmark line; the target is under 200 ms.
func TestGuestLatency(t *testing.T) {
	m := vmtest.Guest(t)
	ctx := guestCtx(t, 4*time.Minute)
	img, _ := luksImage(t, m.SharedDir(), "a", guestLUKS)
	dev, err := m.PlugUSB(ctx, "a", img)
	if err != nil {
		t.Fatal(err)
	}
	uevent := filepath.Join("/sys/block", filepath.Base(dev), "uevent")
	for _, mode := range []Mode{ModeUdev, ModeKernel} {
		t.Run(mode.String(), func(t *testing.T) {
			started, removed := make(chan time.Time, 1), make(chan struct{}, 1)
			startWatch(t, mode, 0,
				func(context.Context, string, Event) error { started <- time.Now(); return nil },
				func(context.Context, string, Event) error { removed <- struct{}{}; return nil })
			<-started // the scan at start finds the drive already present
			// A fixed number of samples, not testing.Benchmark: its
			// iteration count grows until the timed part fills a second,
			// and the untimed remove waits between samples then take
			// minutes on a loaded machine.
			const samples = 10
			var total, worst time.Duration
			for range samples {
				if err := os.WriteFile(uevent, []byte("remove"), 0); err != nil {
					t.Fatal(err)
				}
				select {
				case <-removed:
				case <-ctx.Done():
					t.Fatal("no remove job")
				}
				t0 := time.Now()
				if err := os.WriteFile(uevent, []byte("add"), 0); err != nil {
					t.Fatal(err)
				}
				select {
				case t1 := <-started:
					total += t1.Sub(t0)
					worst = max(worst, t1.Sub(t0))
				case <-ctx.Done():
					t.Fatal("no insert job")
				}
			}
			per := total / samples
			t.Logf("BenchmarkEventToJob/%s\t%d\t%d ns/op\t(%.1f ms/op, worst %.1f ms)", mode, samples, per.Nanoseconds(),
				float64(per)/1e6, float64(worst)/1e6)
			if per > 200*time.Millisecond {
				t.Logf("latency above the 200 ms target")
			}
		})
	}
}
