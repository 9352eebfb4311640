package rotate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func testConfig(order config.Order, names ...string) *config.Config {
	c := &config.Config{
		StateDir: "/var/lib/extdrive",
		Schedule: config.Schedule{Period: config.Monthly, Order: order},
	}
	for _, n := range names {
		c.Drives = append(c.Drives, config.Drive{Name: n})
	}
	return c
}

func day(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// record adds a finished run to h as the job would.
func record(h *History, drive string, start time.Time, ok bool) {
	h.Add(Record{ID: runID(start, drive), Seq: h.NextSeq(), Drive: drive, Start: start,
		End: start.Add(2 * time.Hour), Duration: 2 * time.Hour, OK: ok})
}

// TestScheduleYear walks through a year of monthly rotations between two
// drives, including a month nobody plugged anything in, a failed run, a
// forced run, and a wall clock reset to 2000 by a Pi without RTC.
func TestScheduleYear(t *testing.T) {
	c := testConfig(config.OrderAlternate, "A", "B")
	h := &History{}
	type step struct {
		at    string
		drive string
		due   bool
		turn  string
		why   string // substring of Reason
		run   string // "ok", "fail", "" (not run)
	}
	steps := []step{
		{at: "2026-01-02 19:00", drive: "A", due: true, turn: "A", why: "no good copy", run: "ok"},
		{at: "2026-01-02 22:00", drive: "A", due: false, turn: "B", why: "it is B's turn"},
		{at: "2026-02-02 19:00", drive: "B", due: true, turn: "B", why: "no good copy", run: "ok"},
		{at: "2026-02-20 19:00", drive: "B", due: false, turn: "A", why: "it is A's turn"},
		{at: "2026-03-02 19:00", drive: "A", due: true, turn: "A", why: "older than the monthly period", run: "ok"},
		// April: missed. May: B is overdue and still the one whose turn it is.
		{at: "2026-05-02 19:00", drive: "B", due: true, turn: "B", why: "older than", run: "ok"},
		{at: "2026-05-10 19:00", drive: "B", due: false, turn: "A", why: "last good copy on"},
		// A copy a day early still counts: a tenth of a period of slack.
		{at: "2026-06-01 19:00", drive: "A", due: true, turn: "A", why: "older than", run: "ok"},
		{at: "2026-07-01 19:00", drive: "B", due: true, turn: "B", why: "older than", run: "fail"},
		// The failed run neither counts as a copy nor advances the turn.
		{at: "2026-07-01 23:00", drive: "B", due: true, turn: "B", why: "older than", run: "ok"},
		{at: "2026-08-01 19:00", drive: "A", due: true, turn: "A", why: "older than", run: "ok"},
		{at: "2026-08-15 19:00", drive: "A", due: false, turn: "B", why: "last good copy on"},
		{at: "2026-08-20 19:00", drive: "B", due: true, turn: "B", why: "older than", run: "ok"},
		// Due by turn alone: A's copy is three weeks old.
		{at: "2026-08-22 19:00", drive: "A", due: true, turn: "A", why: "it is A's turn", run: "ok"},
		// Not due, forced anyway (--force): the turn passes to B.
		{at: "2026-08-23 19:00", drive: "A", due: false, turn: "B", why: "last good copy on", run: "ok"},
		{at: "2026-08-24 19:00", drive: "B", due: true, turn: "B", why: "it is B's turn", run: "ok"},
		// The Pi booted without RTC: ages are not trusted, turns still are.
		{at: "2000-01-01 00:01", drive: "B", due: false, turn: "A", why: "ages are not trusted"},
		{at: "2000-01-01 00:01", drive: "A", due: true, turn: "A", why: "it is A's turn"},
		{at: "2026-10-01 19:00", drive: "A", due: true, turn: "A", why: "older than", run: "ok"},
		{at: "2026-11-01 19:00", drive: "B", due: true, turn: "B", why: "older than", run: "ok"},
		{at: "2026-12-01 19:00", drive: "A", due: true, turn: "A", why: "older than", run: "ok"},
		{at: "2026-12-01 23:00", drive: "A", due: false, turn: "B", why: "last good copy on"},
	}
	for i, s := range steps {
		now := day(s.at)
		d := Decide(c, h, s.drive, now)
		if d.Due != s.due || d.Turn != s.turn || !strings.Contains(d.Reason, s.why) {
			t.Errorf("step %d %s %s: Decide = due %v turn %s %q; want due %v turn %s, reason containing %q",
				i, s.at, s.drive, d.Due, d.Turn, d.Reason, s.due, s.turn, s.why)
		}
		if s.run != "" {
			record(h, s.drive, now, s.run == "ok")
		}
	}
	var goods []string
	for _, r := range h.Runs {
		if r.OK {
			goods = append(goods, r.Start.Format("01-02")+r.Drive)
		}
	}
	want := []string{"01-02A", "02-02B", "03-02A", "05-02B", "06-01A", "07-01B", "08-01A", "08-20B", "08-22A", "08-23A", "08-24B", "10-01A", "11-01B", "12-01A"}
	if diff := cmp.Diff(want, goods); diff != "" {
		t.Errorf("good copies (-want +got):\n%s", diff)
	}
	d := Decide(c, h, "B", day("2026-12-02 10:00"))
	if want := day("2027-01-01 21:00"); !d.NextAt.Equal(want) {
		t.Errorf("NextAt = %v, want %v (a month after the last good copy ended)", d.NextAt, want)
	}
}

func TestNextDriveRoundRobin(t *testing.T) {
	c := testConfig(config.OrderRoundRobin, "A", "B", "C")
	h := &History{}
	var got []string
	now := day("2026-01-01 10:00")
	for i := 0; i < 7; i++ {
		n := NextDrive(c, h)
		got = append(got, n)
		// A failure of C in the middle must not move the turn on.
		if i == 2 {
			record(h, n, now, false)
			got = append(got, NextDrive(c, h))
		}
		record(h, n, now, true)
		now = now.AddDate(0, 1, 0)
	}
	want := []string{"A", "B", "C", "C", "A", "B", "C", "A"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("turns (-want +got):\n%s", diff)
	}

	// Alternate over three: the oldest copy goes next, whatever the file order.
	c.Schedule.Order = config.OrderAlternate
	h = &History{}
	record(h, "C", day("2026-01-01 10:00"), true)
	record(h, "A", day("2026-02-01 10:00"), true)
	if got := NextDrive(c, h); got != "B" {
		t.Errorf("alternate NextDrive = %s, want B (never copied)", got)
	}
	record(h, "B", day("2026-03-01 10:00"), true)
	if got := NextDrive(c, h); got != "C" {
		t.Errorf("alternate NextDrive = %s, want C (oldest copy)", got)
	}
}

func TestDecideWeeklyPeriod(t *testing.T) {
	c := testConfig(config.OrderAlternate, "A", "B")
	c.Schedule.Period = config.Period{Dur: 7 * 24 * time.Hour}
	h := &History{}
	record(h, "B", day("2026-03-01 10:00"), true)
	record(h, "A", day("2026-03-03 10:00"), true)
	for _, tc := range []struct {
		at  string
		due bool
	}{
		{"2026-03-04 10:00", false},
		{"2026-03-09 10:00", false}, // due from 03-09 19:12: a week after 12:00, less 16.8h of slack
		{"2026-03-09 20:00", true},
	} {
		if d := Decide(c, h, "A", day(tc.at)); d.Due != tc.due {
			t.Errorf("%s: Decide(A) due = %v (%s), want %v", tc.at, d.Due, d.Reason, tc.due)
		}
	}
}

// TestDecideSingleDrive: with one drive it is always that drive's turn,
// so only the period may make it due, or every plug-in would copy.
func TestDecideSingleDrive(t *testing.T) {
	for _, order := range []config.Order{config.OrderAlternate, config.OrderRoundRobin} {
		c := testConfig(order, "A")
		h := &History{}
		if d := Decide(c, h, "A", day("2026-03-01 10:00")); !d.Due {
			t.Errorf("%s: first plug-in not due: %s", order, d.Reason)
		}
		record(h, "A", day("2026-03-01 10:00"), true)
		for _, tc := range []struct {
			at  string
			due bool
		}{
			{"2026-03-01 14:00", false},
			{"2026-03-20 10:00", false},
			{"2026-04-01 12:00", true},
		} {
			if d := Decide(c, h, "A", day(tc.at)); d.Due != tc.due {
				t.Errorf("%s at %s: due = %v (%s), want %v", order, tc.at, d.Due, d.Reason, tc.due)
			}
		}
	}
}
