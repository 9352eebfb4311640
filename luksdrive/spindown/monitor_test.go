package spindown

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// diskstatsWith returns testdata/diskstats-pi.txt (a Raspberry Pi with a
// USB disk sda, its partition sda1 and a dm-crypt mapping dm-0) with sda's
// read and write counters replaced.
func diskstatsWith(t *testing.T, reads, writes uint64) string {
	t.Helper()
	b, err := os.ReadFile("testdata/diskstats-pi.txt")
	if err != nil {
		t.Fatal(err)
	}
	old := "   8       0 sda 2391 0 158318 20896 1102 1421 1024616 40118"
	new := fmt.Sprintf("   8       0 sda %d 0 %d 20896 %d 1421 %d 40118", reads, reads*8, writes, writes*8)
	if !strings.Contains(string(b), old) {
		t.Fatal("fixture changed")
	}
	return strings.Replace(string(b), old, new, 1)
}

// scriptedWatcher drives watcher.run one tick at a time. Each step sets
// the clock and the diskstats text the next samples return.
type scriptedWatcher struct {
	t      *testing.T
	w      *watcher
	mu     sync.Mutex
	now    time.Time
	text   string
	flushW uint64 // a flush "writes" this many more requests, then 0
	writes uint64 // sda's write counter in the current text
	reads  uint64
	tick   chan time.Time
	done   chan struct{}
	log    []string
	stopOK error
}

func newScripted(t *testing.T, after time.Duration) *scriptedWatcher {
	s := &scriptedWatcher{t: t, now: time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC), tick: make(chan time.Time), done: make(chan struct{}), reads: 2391, writes: 1102}
	s.text = diskstatsWith(t, s.reads, s.writes)
	opts := &WatchOptions{
		After: after,
		OnSpinDown: func(e Event) {
			s.log = append(s.log, fmt.Sprintf("down %s idle=%v via %v", e.Disk.Name, e.Idle, e.Method))
		},
		OnSpinUp: func(e Event) { s.log = append(s.log, fmt.Sprintf("up %s slept=%v", e.Disk.Name, e.Slept)) },
	}
	s.w = &watcher{
		opts: opts,
		log:  discardLogger,
		now: func() time.Time {
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.now
		},
		tick:    s.tick,
		sampled: func() { s.done <- struct{}{} },
		stats: func() ([]DiskStat, error) {
			return ParseDiskstats(strings.NewReader(s.text))
		},
		flush: func(d Disk) error {
			s.log = append(s.log, "flush "+d.Name)
			if s.flushW > 0 {
				s.writes += s.flushW
				s.flushW = 0
				s.text = diskstatsWith(t, s.reads, s.writes)
			}
			return nil
		},
		stop: func(ctx context.Context, d Disk) (Method, error) {
			s.log = append(s.log, "stop "+d.Name)
			return MethodStartStopUnit, s.stopOK
		},
	}
	return s
}

// at advances the clock to offset and lets the watcher sample once.
func (s *scriptedWatcher) at(offset time.Duration) {
	s.mu.Lock()
	s.now = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC).Add(offset)
	s.mu.Unlock()
	s.tick <- time.Time{}
	<-s.done
}

func (s *scriptedWatcher) io(reads, writes uint64) {
	s.reads += reads
	s.writes += writes
	s.text = diskstatsWith(s.t, s.reads, s.writes)
}

func runScript(t *testing.T, after time.Duration, script func(s *scriptedWatcher)) []string {
	s := newScripted(t, after)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sda := Disk{Name: "sda", Path: "/dev/sda", Major: 8, Minor: 0, Transport: "usb"}
	go func() { done <- s.w.run(ctx, []Disk{sda}) }()
	s.at(0) // returns once run has taken its first sample
	script(s)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	return s.log
}

func TestWatchSpinsDownAfterIdle(t *testing.T) {
	got := runScript(t, 10*time.Minute, func(s *scriptedWatcher) {
		s.at(1 * time.Minute)
		s.io(5, 0) // reads at 1m
		s.at(2 * time.Minute)
		s.at(11 * time.Minute) // 9m idle: not yet
		s.at(12 * time.Minute) // 10m idle: stop
		s.at(13 * time.Minute) // stays down, no second command
		s.at(50 * time.Minute)
	})
	want := []string{"flush sda", "stop sda", "down sda idle=10m0s via SCSI START STOP UNIT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatchLogsSpinUp(t *testing.T) {
	got := runScript(t, 5*time.Minute, func(s *scriptedWatcher) {
		s.at(5 * time.Minute) // idle since start: stop
		s.at(20 * time.Minute)
		s.io(1, 0) // a read wakes it
		s.at(21 * time.Minute)
		s.at(25 * time.Minute) // 4m since that read
		s.at(26 * time.Minute) // 5m: stop again
	})
	want := []string{
		"flush sda", "stop sda", "down sda idle=5m0s via SCSI START STOP UNIT",
		"up sda slept=16m0s",
		"flush sda", "stop sda", "down sda idle=5m0s via SCSI START STOP UNIT",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// A writer on a mounted filesystem keeps dirty pages in the cache while
// the disk counters stand still; the flush before stopping makes them
// reach the disk, and the disk is not stopped.
func TestWatchDoesNotStopWhileWritesPending(t *testing.T) {
	got := runScript(t, 5*time.Minute, func(s *scriptedWatcher) {
		s.flushW = 3
		s.at(5 * time.Minute) // counters idle, but the flush writes
		s.at(9 * time.Minute) // 4m after the flush: not yet
		s.at(10 * time.Minute)
	})
	want := []string{"flush sda", "flush sda", "stop sda", "down sda idle=5m0s via SCSI START STOP UNIT"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestWatchGivesUpOnRejectingBridge(t *testing.T) {
	s := newScripted(t, time.Minute)
	s.stopOK = fmt.Errorf("wrapped: %w", ErrPassThroughRejected)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.w.run(ctx, []Disk{{Name: "sda", Path: "/dev/sda", Major: 8}}) }()
	s.at(0)
	s.at(time.Minute)
	s.at(5 * time.Minute)
	s.at(9 * time.Minute)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"flush sda", "stop sda"}, s.log); diff != "" {
		t.Errorf("a rejecting bridge got more than one stop (-want +got):\n%s", diff)
	}
}

func TestWatchDiskGone(t *testing.T) {
	s := newScripted(t, time.Minute)
	done := make(chan error, 1)
	go func() {
		done <- s.w.run(context.Background(), []Disk{{Name: "sdb", Path: "/dev/sdb", Major: 8, Minor: 16}})
	}()
	if err := <-done; err == nil {
		t.Fatal("watching a disk missing from diskstats succeeded")
	}
}

// Zero-sector requests (an empty flush from syncfs, a counted
// pass-through command) change the request counters but are not I/O.
func TestActivityIgnoresZeroSectorRequests(t *testing.T) {
	line := "   8       0 sda 2391 0 158318 20896 1102 1421 1024616 40118 0 13020 62440 0 0 0 0 93 1426\n"
	flushed := "   8       0 sda 2392 0 158318 20896 1103 1421 1024616 40118 0 13020 62440 0 0 0 0 94 1426\n"
	a, err := ParseDiskstats(strings.NewReader(line))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseDiskstats(strings.NewReader(flushed))
	if err != nil {
		t.Fatal(err)
	}
	if a[0].activity() != b[0].activity() {
		t.Errorf("zero-sector requests counted as activity: %+v vs %+v", a[0].activity(), b[0].activity())
	}
}

func TestTrackerClockSetBack(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tr := newTracker(time.Minute, t0, activity{})
	if v := tr.observe(t0.Add(-time.Hour), activity{}); v != verdictNone {
		t.Fatalf("clock set back: verdict %v", v)
	}
	if v := tr.observe(t0.Add(-time.Hour+time.Minute), activity{}); v != verdictIdle {
		t.Fatalf("a minute after the clock was set back: verdict %v, want idle", v)
	}
}
