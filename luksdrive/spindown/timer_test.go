package spindown

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestTimerString checks the spelling against what hdparm 9.65 prints
// for "hdparm -S N" (" setting standby to N (...)"), captured on Debian 12.
func TestTimerString(t *testing.T) {
	want := map[Timer]string{
		0:   "off",
		1:   "5 seconds",
		12:  "1 minute",
		13:  "1 minute + 5 seconds",
		120: "10 minutes",
		240: "20 minutes",
		241: "30 minutes",
		242: "1 hour",
		243: "1 hour + 30 minutes",
		251: "5 hours + 30 minutes",
		252: "21 minutes",
		253: "vendor-specific",
		254: "?reserved",
		255: "21 minutes + 15 seconds",
	}
	got := map[Timer]string{}
	for v := range want {
		got[v] = v.String()
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Timer.String (-want +got):\n%s", diff)
	}
}

func TestTimerDuration(t *testing.T) {
	type res struct {
		D  time.Duration
		OK bool
	}
	want := map[Timer]res{
		0: {0, false}, 1: {5 * time.Second, true}, 120: {10 * time.Minute, true},
		240: {20 * time.Minute, true}, 241: {30 * time.Minute, true}, 251: {330 * time.Minute, true},
		252: {21 * time.Minute, true}, 253: {0, false}, 254: {0, false}, 255: {21*time.Minute + 15*time.Second, true},
	}
	got := map[Timer]res{}
	for v := range want {
		d, ok := v.Duration()
		got[v] = res{d, ok}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Timer.Duration (-want +got):\n%s", diff)
	}
}

func TestTimerFromDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want Timer
		err  error
	}{
		{0, 0, nil},
		{time.Nanosecond, 1, nil},
		{5 * time.Second, 1, nil},
		{6 * time.Second, 2, nil},
		{10 * time.Minute, 120, nil}, // the usual "hdparm -S 120"
		{20 * time.Minute, 240, nil},
		{20*time.Minute + time.Second, 241, nil}, // not 252/255: see TimerFromDuration
		{30 * time.Minute, 241, nil},
		{time.Hour, 242, nil},
		{61 * time.Minute, 243, nil},
		{330 * time.Minute, 251, nil},
		{330*time.Minute + time.Second, 0, ErrTimerRange},
		{-time.Second, 0, ErrTimerRange},
	}
	for _, tt := range tests {
		got, err := TimerFromDuration(tt.in)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("TimerFromDuration(%v) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

// TestTimerFromDurationNeverEarly checks every value the encoder can
// return: it waits at least as long as asked, and the next smaller
// encodable value would not.
func TestTimerFromDurationNeverEarly(t *testing.T) {
	for d := time.Second; d <= 330*time.Minute; d += 7 * time.Second {
		v, err := TimerFromDuration(d)
		if err != nil {
			t.Fatalf("TimerFromDuration(%v): %v", d, err)
		}
		got, ok := v.Duration()
		if !ok || got < d {
			t.Fatalf("TimerFromDuration(%v) = %d (%v), shorter than asked", d, v, got)
		}
		prev := v - 1
		if v == 241 {
			prev = 240
		}
		if pd, ok := prev.Duration(); ok && prev != 0 && pd >= d {
			t.Fatalf("TimerFromDuration(%v) = %d, but %d (%v) already suffices", d, v, prev, pd)
		}
	}
}
