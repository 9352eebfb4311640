package spindown

import (
	"fmt"
	"strings"
	"time"
)

// Timer is the drive's standby timer value as ATA IDLE carries it in the
// COUNT register and as hdparm -S takes it: 0 off, 1-240 in units of 5 s,
// 241-251 in units of 30 min, 252 = 21 min, 253 vendor-specific (8-12 h
// on most drives), 254 reserved, 255 = 21 min 15 s.
type Timer uint8

// TimerOff disables the drive's standby timer.
const TimerOff Timer = 0

// TimerFromDuration returns the smallest timer value that waits at least
// d, so a drive never sleeps earlier than asked. 0 gives TimerOff. Only
// the linear ranges are used: 252 and 255 fall between them, but hdparm(8)
// warns that older drives read those two differently, so a duration in
// (20 min, 30 min] becomes 241 (30 min). Above 5 h 30 min (251) the ATA
// timer cannot go; the idle monitor (Watch) can.
func TimerFromDuration(d time.Duration) (Timer, error) {
	switch {
	case d < 0:
		return 0, fmt.Errorf("%w: negative duration %v", ErrTimerRange, d)
	case d == 0:
		return TimerOff, nil
	case d <= 240*5*time.Second:
		return Timer((d + 5*time.Second - 1) / (5 * time.Second)), nil
	case d <= 11*30*time.Minute:
		return Timer(240 + (d+30*time.Minute-1)/(30*time.Minute)), nil
	}
	return 0, fmt.Errorf("%w: %v is longer than the drive timer's 5h30m maximum; use the idle monitor (--watch) instead", ErrTimerRange, d)
}

// Duration returns the timeout the value stands for; ok is false for
// TimerOff, 253 (vendor-specific) and 254 (reserved).
func (t Timer) Duration() (d time.Duration, ok bool) {
	switch {
	case t == 0, t == 253, t == 254:
		return 0, false
	case t <= 240:
		return time.Duration(t) * 5 * time.Second, true
	case t <= 251:
		return time.Duration(t-240) * 30 * time.Minute, true
	case t == 252:
		return 21 * time.Minute, true
	}
	return 21*time.Minute + 15*time.Second, true // 255
}

// String spells the value the way hdparm -S prints it ("10 minutes",
// "1 hour + 30 minutes", "off", "vendor-specific").
func (t Timer) String() string {
	switch t {
	case 0:
		return "off"
	case 252:
		return "21 minutes"
	case 253:
		return "vendor-specific"
	case 254:
		return "?reserved"
	case 255:
		return "21 minutes + 15 seconds"
	}
	var parts []string
	if t <= 240 {
		secs := uint(t) * 5
		if m := secs / 60; m != 0 {
			parts = append(parts, plural(m, "minute"))
		}
		if s := secs % 60; s != 0 {
			parts = append(parts, plural(s, "second"))
		}
	} else {
		mins := uint(t-240) * 30
		if h := mins / 60; h != 0 {
			parts = append(parts, plural(h, "hour"))
		}
		if m := mins % 60; m != 0 {
			parts = append(parts, plural(m, "minute"))
		}
	}
	return strings.Join(parts, " + ")
}

func plural(n uint, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}
