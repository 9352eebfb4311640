package spindown

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
)

// WatchOptions configure Watch. After is required; the rest have defaults.
type WatchOptions struct {
	// After is how long a disk must see no reads, writes or discards
	// before it is stopped (hd-idle's -i).
	After time.Duration
	// Interval is how often /proc/diskstats is sampled; 0 means After/10,
	// kept within 1 s and 1 min. A disk stops between After and
	// After+Interval after its last I/O.
	Interval time.Duration
	// Power tunes the stop command (timeout); nil means defaults.
	Power *Options
	// Logger receives spin-down and spin-up records (info) and the
	// reasons a disk was not stopped (debug); nil discards them.
	Logger *slog.Logger
	// OnSpinDown is called after a disk was stopped, OnSpinUp when I/O
	// shows up on a stopped disk. Both run on Watch's goroutine.
	OnSpinDown func(Event)
	OnSpinUp   func(Event)
}

// Event describes one spin-down or spin-up seen by Watch.
type Event struct {
	Disk Disk
	Time time.Time
	// Idle is, for a spin-down, how long the disk had seen no I/O.
	Idle time.Duration
	// Slept is, for a spin-up, how long the disk had been stopped.
	Slept time.Duration
	// Method is, for a spin-down, the command that stopped the disk.
	Method Method
}

func (o *WatchOptions) interval() time.Duration {
	if o.Interval > 0 {
		return o.Interval
	}
	return min(max(o.After/10, time.Second), time.Minute)
}

func (o *WatchOptions) check() error {
	if o == nil || o.After <= 0 {
		return fmt.Errorf("%w: the idle time (After) must be positive", ErrTimerRange)
	}
	return nil
}

// tracker is the per-disk idle logic, apart from any clock or kernel so
// tests can drive it with recorded samples.
type tracker struct {
	after    time.Duration
	last     activity
	lastIO   time.Time
	down     bool
	downAt   time.Time
	disabled bool // the disk takes no stop command; keep reporting spin-ups only
}

type verdict int

const (
	verdictNone   verdict = iota
	verdictIdle           // idle for After: time to stop it
	verdictSpunUp         // I/O reached a stopped disk
)

func newTracker(after time.Duration, now time.Time, a activity) *tracker {
	return &tracker{after: after, last: a, lastIO: now}
}

func (t *tracker) observe(now time.Time, a activity) verdict {
	if now.Before(t.lastIO) { // the wall clock was set back
		t.lastIO = now
	}
	if a != t.last {
		t.last, t.lastIO = a, now
		if t.down {
			t.down = false
			return verdictSpunUp
		}
		return verdictNone
	}
	if !t.down && !t.disabled && now.Sub(t.lastIO) >= t.after {
		return verdictIdle
	}
	return verdictNone
}

// busy records I/O found while checking an idle disk (a flush wrote).
func (t *tracker) busy(now time.Time, a activity) { t.last, t.lastIO = a, now }

func (t *tracker) stopped(now time.Time, a activity) { t.down, t.downAt, t.last = true, now, a }

// watcher runs the monitor loop over injected sources: the clock, the
// tick, the diskstats reader, the filesystem flush and the stop command.
type watcher struct {
	opts  *WatchOptions
	log   *slog.Logger
	now   func() time.Time
	tick  <-chan time.Time
	stats func() ([]DiskStat, error)
	// flush syncs the filesystems mounted on the disk (through any
	// partition or dm/md device), so writes still in the page cache show
	// up as disk I/O before the disk is judged idle.
	flush func(Disk) error
	stop  func(context.Context, Disk) (Method, error)
	// sampled, if set, is called after each tick has been handled.
	sampled func()
}

func (w *watcher) run(ctx context.Context, disks []Disk) error {
	if len(disks) == 0 {
		return fmt.Errorf("%w: no disk to watch", luksdrive.ErrNoDevice)
	}
	byNum := func(all []DiskStat) map[[2]uint32]DiskStat {
		m := make(map[[2]uint32]DiskStat, len(all))
		for _, s := range all {
			m[[2]uint32{s.Major, s.Minor}] = s
		}
		return m
	}
	sample := func() (map[[2]uint32]DiskStat, error) {
		all, err := w.stats()
		if err != nil {
			return nil, err
		}
		return byNum(all), nil
	}
	cur, err := sample()
	if err != nil {
		return err
	}
	trackers := make(map[string]*tracker, len(disks))
	live := make([]Disk, 0, len(disks))
	for _, d := range disks {
		s, ok := cur[[2]uint32{d.Major, d.Minor}]
		if !ok {
			return fmt.Errorf("%w: %s is not in /proc/diskstats", luksdrive.ErrNoDevice, d.Name)
		}
		trackers[d.Name] = newTracker(w.opts.After, w.now(), s.activity())
		live = append(live, d)
		w.log.Info("watching disk", "disk", d.Path, "after", w.opts.After, "interval", w.opts.interval())
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.tick:
		}
		if cur, err = sample(); err != nil {
			return err
		}
		kept := live[:0]
		for _, d := range live {
			s, ok := cur[[2]uint32{d.Major, d.Minor}]
			if !ok {
				w.log.Info("disk gone, no longer watching it", "disk", d.Path)
				continue
			}
			kept = append(kept, d)
			if err := w.step(ctx, d, trackers[d.Name], s); err != nil {
				return err
			}
		}
		if live = kept; len(live) == 0 {
			return fmt.Errorf("%w: every watched disk is gone", luksdrive.ErrNoDevice)
		}
		if w.sampled != nil {
			w.sampled()
		}
	}
}

func (w *watcher) step(ctx context.Context, d Disk, t *tracker, s DiskStat) error {
	now := w.now()
	switch t.observe(now, s.activity()) {
	case verdictSpunUp:
		ev := Event{Disk: d, Time: now, Slept: now.Sub(t.downAt)}
		w.log.Info("disk spun up", "disk", d.Path, "slept", ev.Slept.Round(time.Second))
		if w.opts.OnSpinUp != nil {
			w.opts.OnSpinUp(ev)
		}
	case verdictIdle:
		if err := w.flush(d); err != nil {
			w.log.Warn("could not sync filesystems on the disk; not stopping it", "disk", d.Path, "err", err)
			t.busy(now, t.last)
			return nil
		}
		all, err := w.stats()
		if err != nil {
			return err
		}
		var after activity
		for _, x := range all {
			if x.Major == d.Major && x.Minor == d.Minor {
				after = x.activity()
			}
		}
		if after != t.last {
			w.log.Debug("pending writes reached the disk; not idle", "disk", d.Path)
			t.busy(now, after)
			return nil
		}
		idle := now.Sub(t.lastIO)
		m, err := w.stop(ctx, d)
		switch {
		case errors.Is(err, ErrPassThroughRejected), errors.Is(err, ErrNoPowerCommands):
			// Said once: retrying every idle period would only fill the log.
			w.log.Warn("disk takes no stop command; watching it for spin-ups only", "disk", d.Path, "err", err)
			t.disabled = true
			return nil
		case errors.Is(err, luksdrive.ErrPermission), ctx.Err() != nil:
			return err
		case err != nil:
			w.log.Warn("stopping the disk failed; will retry after the next idle period", "disk", d.Path, "err", err)
			t.busy(now, after)
			return nil
		}
		// The baseline is read after the command: on kernels that count
		// pass-through commands in diskstats the command itself must not
		// look like a spin-up.
		if all, err = w.stats(); err != nil {
			return err
		}
		for _, x := range all {
			if x.Major == d.Major && x.Minor == d.Minor {
				after = x.activity()
			}
		}
		t.stopped(now, after)
		ev := Event{Disk: d, Time: now, Idle: idle, Method: m}
		w.log.Info("disk spun down", "disk", d.Path, "idle", idle.Round(time.Second), "method", m)
		if w.opts.OnSpinDown != nil {
			w.opts.OnSpinDown(ev)
		}
	}
	return nil
}
