package blinkstick

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// PatternKind says how a Pattern animates.
type PatternKind int

const (
	// Steady sets the colour once.
	Steady PatternKind = iota
	// Blink lights the colour for Period, dark for Period, Repeats times
	// (the Python tool's --blink with --delay). It ends dark.
	Blink
	// Pulse fades from off up to the colour over Period and back down
	// over Period, Repeats times (--pulse with --duration). It ends dark.
	Pulse
	// Progress pulses the colour on the first LED, faster as the job
	// nears its end, and on sticks with a second LED shows the fraction
	// done there as a blend from the colour towards DoneColor. It runs
	// until the context ends, and always uses LEDs 0 and 1 of channel 0,
	// whatever Channel, Index and All say.
	Progress
)

func (k PatternKind) String() string {
	switch k {
	case Steady:
		return "steady"
	case Blink:
		return "blink"
	case Pulse:
		return "pulse"
	case Progress:
		return "progress"
	}
	return fmt.Sprintf("PatternKind(%d)", int(k))
}

// Defaults the Python tool uses, so --blink and --pulse look the same.
const (
	DefaultBlinkPeriod = 500 * time.Millisecond
	DefaultPulsePeriod = time.Second
	DefaultPulseSteps  = 50
	// Progress pulses a full cycle in ProgressSlowest at 0 % done and in
	// ProgressFastest at 100 %.
	ProgressSlowest = 3 * time.Second
	ProgressFastest = 600 * time.Millisecond
)

// Pattern is an animation. Zero values of Period and Steps take the
// defaults above.
type Pattern struct {
	Kind  PatternKind
	Color Color
	// Channel and Index pick the LED; All lights every LED of the stick
	// (Index and Channel are then ignored).
	Channel, Index int
	All            bool
	// Period: Blink's on (and off) time; Pulse's fade time each way.
	Period time.Duration
	// Repeats for Blink and Pulse; 0 repeats until the context ends.
	Repeats int
	// Steps per fade for Pulse and Progress.
	Steps int
	// Done reports the fraction of the job done, 0..1, for Progress. It
	// is called once per pulse cycle, from the pattern's goroutine.
	Done func() float64
	// DoneColor is where the second LED's blend ends (default green).
	DoneColor *Color
}

func (p Pattern) validate() error {
	if p.Kind < Steady || p.Kind > Progress {
		return fmt.Errorf("%w: unknown pattern kind %d", ErrInvalidArgument, int(p.Kind))
	}
	if p.Period < 0 || p.Repeats < 0 || p.Steps < 0 {
		return fmt.Errorf("%w: negative period, repeats or steps in a %s pattern", ErrInvalidArgument, p.Kind)
	}
	if p.Kind == Progress && p.Done == nil {
		return fmt.Errorf("%w: a progress pattern needs a Done function", ErrInvalidArgument)
	}
	return nil
}

// step is one frame: light a target, then hold for a while.
type step struct {
	channel, index int
	all            bool
	c              Color
	hold           time.Duration
}

// steps yields the frames of p in order until yield returns false. It is
// pure (apart from calling Done), which is what the tests check; Play
// turns it into reports and sleeps.
func (p Pattern) steps(leds int, yield func(step) bool) {
	at := func(c Color, hold time.Duration) step {
		return step{channel: p.Channel, index: p.Index, all: p.All, c: c, hold: hold}
	}
	nsteps := p.Steps
	if nsteps == 0 {
		nsteps = DefaultPulseSteps
	}
	// fade yields n frames from a to b, ending exactly on b, spread over d.
	fade := func(s step, a, b Color, n int, d time.Duration) bool {
		for i := 1; i <= n; i++ {
			s.c = a.Blend(b, float64(i)/float64(n))
			s.hold = d / time.Duration(n)
			if !yield(s) {
				return false
			}
		}
		return true
	}
	forever := p.Repeats == 0
	switch p.Kind {
	case Steady:
		yield(at(p.Color, 0))
	case Blink:
		period := p.Period
		if period == 0 {
			period = DefaultBlinkPeriod
		}
		for i := 0; forever || i < p.Repeats; i++ {
			if !yield(at(p.Color, period)) {
				return
			}
			hold := period
			if !forever && i == p.Repeats-1 {
				hold = 0
			}
			if !yield(at(Off, hold)) {
				return
			}
		}
	case Pulse:
		period := p.Period
		if period == 0 {
			period = DefaultPulsePeriod
		}
		if !yield(at(Off, 0)) {
			return
		}
		for i := 0; forever || i < p.Repeats; i++ {
			if !fade(at(Off, 0), Off, p.Color, nsteps, period) || !fade(at(Off, 0), p.Color, Off, nsteps, period) {
				return
			}
		}
	case Progress:
		done := Color{0x00, 0x80, 0x00}
		if p.DoneColor != nil {
			done = *p.DoneColor
		}
		first := step{channel: 0, index: 0}
		for {
			f := clamp01(p.Done())
			if leds >= 2 {
				if !yield(step{channel: 0, index: 1, c: p.Color.Blend(done, f)}) {
					return
				}
			}
			cycle := ProgressSlowest - time.Duration(f*float64(ProgressSlowest-ProgressFastest))
			if !fade(first, Off, p.Color, nsteps, cycle/2) || !fade(first, p.Color, Off, nsteps, cycle/2) {
				return
			}
		}
	}
}

func clamp01(f float64) float64 {
	switch {
	case f != f || f < 0: // NaN counts as nothing done
		return 0
	case f > 1:
		return 1
	}
	return f
}

// Play runs p on the stick and returns when it has finished or ctx ends
// (then with ctx's error). Whatever colour was set last stays lit.
// A frame whose scaled colour equals the previous one is not re-sent.
func (s *Stick) Play(ctx context.Context, p Pattern) error {
	if err := p.validate(); err != nil {
		return s.opErr("pattern", err)
	}
	if !p.All {
		if err := s.checkLED(p.Channel, p.Index); err != nil {
			return err
		}
	}
	type key struct {
		ch, idx int
		all     bool
	}
	last := map[key]Color{}
	var err error
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	p.steps(s.info.LEDs, func(st step) bool {
		k := key{st.channel, st.index, st.all}
		if prev, ok := last[k]; !ok || prev != st.c {
			if st.all {
				err = s.SetAll(ctx, st.c)
			} else {
				err = s.SetLED(ctx, st.channel, st.index, st.c)
			}
			if err != nil {
				return false
			}
			last[k] = st.c
		}
		if st.hold <= 0 {
			return true
		}
		timer.Reset(st.hold)
		select {
		case <-ctx.Done():
			err = ctx.Err()
			return false
		case <-timer.C:
			return true
		}
	})
	return err
}

// Animation is a pattern running in its own goroutine.
type Animation struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

// Start runs p in a new goroutine until it finishes, ctx ends or Stop is
// called, and replaces any animation already running on the stick, so
// there is never more than one writer.
func (s *Stick) Start(ctx context.Context, p Pattern) *Animation {
	s.mu.Lock()
	prev := s.anim
	s.mu.Unlock()
	if prev != nil {
		prev.Stop()
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &Animation{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	s.anim = a
	s.mu.Unlock()
	go func() {
		defer close(a.done)
		err := s.Play(ctx, p)
		if err != nil && ctx.Err() != nil {
			err = nil // stopped, not failed
		}
		a.mu.Lock()
		a.err = err
		a.mu.Unlock()
		s.mu.Lock()
		if s.anim == a {
			s.anim = nil
		}
		s.mu.Unlock()
	}()
	return a
}

// Stop ends the animation and waits for its goroutine; the colour it set
// last stays lit. It returns the error that ended the animation early, if
// a write failed.
func (a *Animation) Stop() error {
	a.cancel()
	return a.Wait()
}

// Wait blocks until the animation ends by itself or is stopped.
func (a *Animation) Wait() error {
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}

// Done is closed when the animation has ended.
func (a *Animation) Done() <-chan struct{} { return a.done }
