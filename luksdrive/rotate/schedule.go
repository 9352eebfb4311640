package rotate

import (
	"fmt"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// Decision is the schedule's answer for one drive at one moment.
type Decision struct {
	Drive  string
	Due    bool
	Reason string // one line, for people
	// Turn is the drive whose turn it is in the configured order.
	Turn string
	// NextAt is when the next copy is expected: one period after the last
	// good copy of any drive (zero when nothing was ever copied).
	NextAt time.Time
	// ClockSuspect: now is before recorded runs (or implausibly early), so
	// ages were not trusted and the decision went by turn only.
	ClockSuspect bool
}

// clockFloor is earlier than any run this software can have recorded; a
// clock before it is a Pi that booted without RTC and NTP.
var clockFloor = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// clockSkew is how far before the last recorded run the clock may be
// before it is considered wrong (NTP steps of a few seconds are normal).
const clockSkew = 10 * time.Minute

// Decide says whether drive is due at now. A drive is due when it never
// received a good copy, when its last good copy is at least one period old
// (less a tenth of a period of slack, so copying a day later each month
// does not skip a month), or when it is the drive whose turn it is.
// Failed runs do not count as copies and do not advance the turn.
func Decide(c *config.Config, h *History, drive string, now time.Time) Decision {
	d := Decision{Drive: drive, Turn: NextDrive(c, h)}
	d.ClockSuspect = clockSuspect(h, now)
	if last := lastGoodAny(h); last != nil {
		d.NextAt = c.Schedule.Period.AddTo(last.End)
	}
	last := h.LastGood(drive)
	switch {
	case last == nil:
		d.Due, d.Reason = true, fmt.Sprintf("%s has no good copy yet", drive)
	case !d.ClockSuspect && !now.Before(dueAt(c.Schedule.Period, last.End)):
		d.Due, d.Reason = true, fmt.Sprintf("last good copy on %s is older than the %s period", last.End.Format(time.DateOnly), c.Schedule.Period)
	case d.Turn == drive && lastGoodAny(h).Drive != drive:
		// The drive that took the newest copy is never due by turn alone:
		// with a single configured drive it would otherwise copy on every
		// plug-in instead of once a period.
		d.Due, d.Reason = true, fmt.Sprintf("it is %s's turn (%s order)", drive, c.Schedule.Order)
	default:
		d.Reason = fmt.Sprintf("last good copy on %s; it is %s's turn", last.End.Format(time.DateOnly), d.Turn)
		if d.ClockSuspect {
			d.Reason += fmt.Sprintf("; clock reads %s, before the last recorded run, so ages are not trusted", now.Format(time.DateTime))
		}
	}
	return d
}

// dueAt is one period after t, less a tenth of a period of slack.
func dueAt(p config.Period, t time.Time) time.Time {
	return p.AddTo(t).Add(-p.Approx() / 10)
}

// NextDrive returns the drive whose turn it is. Alternate: the drive
// whose last good copy is oldest (never-copied drives first, in file
// order). Round-robin: the drive listed after the one that received the
// last good copy.
func NextDrive(c *config.Config, h *History) string {
	if len(c.Drives) == 0 {
		return ""
	}
	if c.Schedule.Order == config.OrderRoundRobin {
		last := lastGoodAny(h)
		if last == nil {
			return c.Drives[0].Name
		}
		for i, d := range c.Drives {
			if d.Name == last.Drive {
				return c.Drives[(i+1)%len(c.Drives)].Name
			}
		}
		return c.Drives[0].Name
	}
	best, bestSeq := "", -1
	for _, d := range c.Drives {
		r := h.LastGood(d.Name)
		if r == nil {
			return d.Name
		}
		if bestSeq < 0 || r.Seq < bestSeq {
			best, bestSeq = d.Name, r.Seq
		}
	}
	return best
}

func lastGoodAny(h *History) *Record {
	return h.last(func(r *Record) bool { return r.OK })
}

func clockSuspect(h *History, now time.Time) bool {
	if now.Before(clockFloor) {
		return true
	}
	if h == nil {
		return false
	}
	for _, r := range h.Runs {
		t := r.End
		if t.IsZero() {
			t = r.Start
		}
		if now.Before(t.Add(-clockSkew)) {
			return true
		}
	}
	return false
}
