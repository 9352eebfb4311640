package blinkstick

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
)

// State is a job state shown on the LED. The colours are the convention
// users of headless backup boxes already follow.
type State int

const (
	Idle        State = iota // off
	Interactive              // blue: a job someone is watching is running
	Working                  // yellow: copying
	Done                     // green: finished, safe to remove the drive
	Failed                   // red: failed; stays red until the next job
)

func (s State) String() string {
	switch s {
	case Idle:
		return "idle"
	case Interactive:
		return "interactive"
	case Working:
		return "working"
	case Done:
		return "done"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Color is the state's colour at full brightness.
func (s State) Color() Color {
	switch s {
	case Interactive:
		return colorNames["blue"]
	case Working:
		return colorNames["yellow"]
	case Done:
		return colorNames["green"]
	case Failed:
		return colorNames["red"]
	}
	return Off
}

// StatusOptions configures a Status. nil means the first stick, all its
// LEDs, no brightness limit, no logging.
type StatusOptions struct {
	// Open selects the stick and its limit (see OpenOptions).
	Open *OpenOptions
	// Index, when non-nil, shows the state on that one LED only (the
	// Python tool's --index); nil lights every LED.
	Index  *int
	Logger *slog.Logger
}

// Status shows job states on a stick for a job that must never fail
// because of the LED: the first error (no stick, permission denied,
// unplugged mid-job) is logged once as a warning and every later call is a
// no-op. A nil *Status is a valid no-op too, for jobs with no LED
// configured.
type Status struct {
	log   *slog.Logger
	index *int

	mu       sync.Mutex
	stick    *Stick
	anim     *Animation
	disabled bool
}

// OpenStatus opens the stick. On failure it logs one warning and returns
// a disabled (no-op) Status together with the error, so a caller can both
// report the reason and carry on.
func OpenStatus(ctx context.Context, opts *StatusOptions) (*Status, error) {
	if opts == nil {
		opts = &StatusOptions{}
	}
	s := &Status{log: logger(opts.Logger), index: opts.Index}
	o := OpenOptions{}
	if opts.Open != nil {
		o = *opts.Open
	}
	if o.Logger == nil {
		o.Logger = opts.Logger
	}
	st, err := Open(ctx, &o)
	if err != nil {
		s.disable(err)
		return s, err
	}
	s.stick = st
	return s, nil
}

// Stick returns the open stick, or nil when the Status is disabled.
func (s *Status) Stick() *Stick {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.disabled {
		return nil
	}
	return s.stick
}

// Set shows a state as a steady colour, stopping any running pattern.
func (s *Status) Set(ctx context.Context, st State) {
	s.show(ctx, Pattern{Kind: Steady, Color: st.Color()})
}

// Progress shows a Working job with its fraction done (see the Progress
// pattern) until the next Set, Close, or the end of ctx.
func (s *Status) Progress(ctx context.Context, done func() float64) {
	s.show(ctx, Pattern{Kind: Progress, Color: Working.Color(), Done: done})
}

// Show runs any pattern in the background until the next call, Close, or
// the end of ctx.
func (s *Status) Show(ctx context.Context, p Pattern) {
	s.show(ctx, p)
}

func (s *Status) show(ctx context.Context, p Pattern) {
	if s == nil {
		return
	}
	s.mu.Lock()
	if s.disabled {
		s.mu.Unlock()
		return
	}
	if s.anim != nil {
		s.mu.Unlock()
		if err := s.anim.Stop(); err != nil {
			s.disable(err)
			return
		}
		s.mu.Lock()
		s.anim = nil
	}
	stick := s.stick
	s.mu.Unlock()

	if s.index != nil {
		p.Index = *s.index
	} else {
		p.All = true
	}
	// A state must reach the LED even when the job's context is being
	// cancelled: "failed" is set exactly then. The write takes
	// milliseconds; the kernel bounds it.
	if p.Kind == Steady {
		if err := stick.Play(context.WithoutCancel(ctx), p); err != nil {
			s.disable(err)
		}
		return
	}
	a := stick.Start(ctx, p)
	s.mu.Lock()
	s.anim = a
	s.mu.Unlock()
}

// Close stops a running pattern, leaving its last colour lit, and
// releases the stick.
func (s *Status) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	a, st := s.anim, s.stick
	s.anim, s.stick = nil, nil
	s.disabled = true
	s.mu.Unlock()
	if a != nil {
		a.Stop()
	}
	if st != nil {
		return st.Close()
	}
	return nil
}

func (s *Status) disable(err error) {
	s.mu.Lock()
	first := !s.disabled
	s.disabled = true
	st := s.stick
	s.mu.Unlock()
	if first {
		s.log.Warn("LED status disabled; the job goes on without it", "err", err)
		if st != nil {
			st.Close()
		}
	}
}
