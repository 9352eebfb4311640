package blinkstick

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Info describes one plugged-in stick as enumeration found it, without
// opening it (listing needs no access to the device node).
type Info struct {
	Path         string  // device node (/dev/hidraw0) or the backend's path
	Serial       string  // e.g. "BS012345-3.1"
	Product      string  // USB product string, e.g. "BlinkStick Nano"
	Manufacturer string  // USB manufacturer string, where the backend knows it
	Release      uint16  // USB bcdDevice, 0 when unknown
	Variant      Variant // model, from Serial, Release and Product
	LEDs         int     // Variant.LEDs()
	Backend      string  // "hidraw" or "hidapi"
}

// transport is the byte seam: one open stick. Feature reports go out and
// come back with the report ID in b[0].
type transport interface {
	setFeature(b []byte) error
	// getFeature fills b (b[0] holds the report ID on entry) and returns
	// the number of bytes the device answered with.
	getFeature(b []byte) (int, error)
	close() error
}

// backend is one way to reach HID devices (hidraw ioctls, or hidapi).
type backend interface {
	name() string
	enumerate() ([]Info, error)
	open(info Info) (transport, error)
}

// backends returns the backends compiled into this build in order of
// preference: hidraw where the kernel has it (pure Go, no cgo), hidapi
// (github.com/karalabe/hid) for cgo builds and other systems.
func backends() []backend {
	var bs []backend
	for _, b := range []backend{newHidraw(), newHidapi()} {
		if b != nil {
			bs = append(bs, b)
		}
	}
	return bs
}

// Backends lists the names of the backends compiled into this build, the
// default first.
func Backends() []string {
	var names []string
	for _, b := range backends() {
		names = append(names, b.name())
	}
	return names
}

func pickBackend(name string) (backend, error) {
	bs := backends()
	if len(bs) == 0 {
		return nil, &OpError{Op: "backend", Err: fmt.Errorf("%w: no HID backend in this build (hidraw needs Linux, hidapi needs cgo)", ErrUnsupported)}
	}
	if name == "" {
		return bs[0], nil
	}
	for _, b := range bs {
		if b.name() == name {
			return b, nil
		}
	}
	return nil, &OpError{Op: "backend", Err: fmt.Errorf("%w: backend %q is not in this build (have: %s)", ErrUnsupported, name, strings.Join(Backends(), ", "))}
}

// ListOptions selects the backend; nil means the default backend.
type ListOptions struct {
	Backend string // "" = default ("hidraw" on Linux), or "hidraw", "hidapi"
	Logger  *slog.Logger
}

// List returns the plugged-in sticks in a stable order (the order Index
// counts in). No stick is not an error: the slice is empty.
func List(ctx context.Context, opts *ListOptions) ([]Info, error) {
	if opts == nil {
		opts = &ListOptions{}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b, err := pickBackend(opts.Backend)
	if err != nil {
		return nil, err
	}
	infos, err := b.enumerate()
	if err != nil {
		return nil, err
	}
	logger(opts.Logger).Debug("blinkstick enumerate", "backend", b.name(), "found", len(infos))
	return infos, nil
}

// OpenOptions selects a stick and sets how it is driven. nil means: the
// first stick, default backend, no brightness limit.
type OpenOptions struct {
	// Serial selects the stick with this serial number. Empty: select
	// by Path, else by Index.
	Serial string
	// Path selects the stick at this device path (Info.Path).
	Path string
	// Index selects the Index-th stick in List order (0 = first).
	Index int
	// Backend: "" = default, or "hidraw", "hidapi".
	Backend string
	// Limit is the brightness limit in percent, 1-100; 0 means 100 (no
	// limit). Use SetLimit for an explicit 0.
	Limit  int
	Logger *slog.Logger
}

// Open finds and opens one stick. Not found, and permission denied, come
// back as *OpError wrapping ErrNotFound and ErrPermission.
func Open(ctx context.Context, opts *OpenOptions) (*Stick, error) {
	if opts == nil {
		opts = &OpenOptions{}
	}
	if opts.Limit < 0 || opts.Limit > 100 {
		return nil, &OpError{Op: "open", Err: fmt.Errorf("%w: brightness limit %d%% is outside 0-100", ErrInvalidArgument, opts.Limit)}
	}
	if opts.Index < 0 {
		return nil, &OpError{Op: "open", Err: fmt.Errorf("%w: stick index %d is negative", ErrInvalidArgument, opts.Index)}
	}
	b, err := pickBackend(opts.Backend)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	infos, err := b.enumerate()
	if err != nil {
		return nil, err
	}
	info, err := selectStick(infos, opts)
	if err != nil {
		return nil, err
	}
	t, err := b.open(info)
	if err != nil {
		return nil, err
	}
	limit := opts.Limit
	if limit == 0 {
		limit = 100
	}
	s := newStick(info, t, limit, opts.Logger)
	s.log.Debug("blinkstick opened", "path", info.Path, "serial", info.Serial, "variant", info.Variant.String(), "backend", info.Backend)
	return s, nil
}

func selectStick(infos []Info, opts *OpenOptions) (Info, error) {
	switch {
	case opts.Serial != "":
		for _, in := range infos {
			if in.Serial == opts.Serial {
				return in, nil
			}
		}
		return Info{}, &OpError{Op: "open", Device: opts.Serial, Err: fmt.Errorf("%w with serial %s (%d other stick(s) present; see extdrive led --list)", ErrNotFound, opts.Serial, len(infos))}
	case opts.Path != "":
		for _, in := range infos {
			if in.Path == opts.Path {
				return in, nil
			}
		}
		return Info{}, &OpError{Op: "open", Device: opts.Path, Err: fmt.Errorf("%w at %s", ErrNotFound, opts.Path)}
	case opts.Index >= len(infos):
		if len(infos) == 0 {
			return Info{}, &OpError{Op: "open", Err: fmt.Errorf("%w: is it plugged in?", ErrNotFound)}
		}
		return Info{}, &OpError{Op: "open", Err: fmt.Errorf("%w at index %d: only %d stick(s) present", ErrNotFound, opts.Index, len(infos))}
	}
	return infos[opts.Index], nil
}

// Stick is one open BlinkStick. Its methods are safe for concurrent use;
// writes are serialised so a running pattern and a direct SetColor never
// interleave half-written reports.
type Stick struct {
	info Info
	log  *slog.Logger

	mu     sync.Mutex
	t      transport // nil once closed
	limit  int
	anim   *Animation
	closed bool
}

func newStick(info Info, t transport, limit int, l *slog.Logger) *Stick {
	return &Stick{info: info, t: t, limit: limit, log: logger(l)}
}

// Info returns what enumeration found about the stick.
func (s *Stick) Info() Info { return s.info }

// Backend names the backend driving the stick ("hidraw" or "hidapi").
func (s *Stick) Backend() string { return s.info.Backend }

// SetLimit sets the brightness limit in percent (0-100) applied to every
// colour written from now on.
func (s *Stick) SetLimit(percent int) error {
	if percent < 0 || percent > 100 {
		return s.opErr("limit", fmt.Errorf("%w: brightness limit %d%% is outside 0-100", ErrInvalidArgument, percent))
	}
	s.mu.Lock()
	s.limit = percent
	s.mu.Unlock()
	return nil
}

// Limit returns the brightness limit in percent.
func (s *Stick) Limit() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limit
}

// SetColor lights the first LED.
func (s *Stick) SetColor(ctx context.Context, c Color) error {
	return s.SetLED(ctx, 0, 0, c)
}

// SetLED lights one LED. Channel 0 index 0 goes through report 1, which
// every firmware honours; anything else through report 5, as the Python
// tool does for --channel/--index.
func (s *Stick) SetLED(ctx context.Context, channel, index int, c Color) error {
	if err := s.checkLED(channel, index); err != nil {
		return err
	}
	return s.write(ctx, func(limit int) []byte {
		c := c.Scale(limit)
		if channel == 0 && index == 0 {
			return encodeColor(c)
		}
		return encodeIndexed(channel, index, c)
	})
}

// SetLEDs sets the first len(cs) LEDs of a channel in one frame report
// (6-9), turning off the rest of the frame. At most 64 LEDs.
func (s *Stick) SetLEDs(ctx context.Context, channel int, cs []Color) error {
	if channel < 0 || channel > maxChannel {
		return s.opErr("set-report", fmt.Errorf("%w: channel %d is outside 0-%d", ErrInvalidArgument, channel, maxChannel))
	}
	if len(cs) == 0 || len(cs) > maxFrameLEDs {
		return s.opErr("set-report", fmt.Errorf("%w: %d LEDs in one frame (1-%d)", ErrInvalidArgument, len(cs), maxFrameLEDs))
	}
	return s.write(ctx, func(limit int) []byte {
		scaled := make([]Color, len(cs))
		for i, c := range cs {
			scaled[i] = c.Scale(limit)
		}
		return encodeFrame(channel, scaled)
	})
}

// SetAll lights every LED of the stick (both sides of a Nano, all eight of
// a Square) with one report: a frame report on addressable models, report
// 1 on the original single-LED BlinkStick.
func (s *Stick) SetAll(ctx context.Context, c Color) error {
	if !s.info.Variant.addressable() || s.info.LEDs <= 1 {
		return s.SetColor(ctx, c)
	}
	cs := make([]Color, s.info.LEDs)
	for i := range cs {
		cs[i] = c
	}
	return s.SetLEDs(ctx, 0, cs)
}

// Off turns every LED off.
func (s *Stick) Off(ctx context.Context) error { return s.SetAll(ctx, Off) }

// Color reads the first LED's colour back from the device (report 1), as
// the device holds it, that is after the brightness limit.
func (s *Stick) Color(ctx context.Context) (Color, error) {
	b := make([]byte, ReportSize(reportColor))
	b[0] = reportColor
	n, err := s.read(ctx, b)
	if err != nil {
		return Off, err
	}
	c, err := decodeColor(b[:n])
	if err != nil {
		return Off, s.opErr("get-report", err)
	}
	return c, nil
}

// LEDs reads the first n LEDs of channel 0 back through the frame report
// that holds them.
func (s *Stick) LEDs(ctx context.Context, n int) ([]Color, error) {
	if n <= 0 || n > maxFrameLEDs {
		return nil, s.opErr("get-report", fmt.Errorf("%w: %d LEDs (1-%d)", ErrInvalidArgument, n, maxFrameLEDs))
	}
	id := frameReport(n)
	b := make([]byte, ReportSize(id))
	b[0] = id
	got, err := s.read(ctx, b)
	if err != nil {
		return nil, err
	}
	cs, err := decodeFrame(b[:got], n)
	if err != nil {
		return nil, s.opErr("get-report", err)
	}
	return cs, nil
}

// Close stops a running pattern and releases the device. The LEDs keep
// their last colour: the hardware latches it.
func (s *Stick) Close() error {
	s.mu.Lock()
	a := s.anim
	s.mu.Unlock()
	if a != nil {
		a.Stop()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.t.close(); err != nil {
		return s.opErr("close", err)
	}
	return nil
}

func (s *Stick) checkLED(channel, index int) error {
	if channel < 0 || channel > maxChannel {
		return s.opErr("set-report", fmt.Errorf("%w: channel %d is outside 0-%d", ErrInvalidArgument, channel, maxChannel))
	}
	n := s.info.LEDs
	if s.info.Variant == VariantUnknown {
		n = 255 // trust the caller with a model we cannot size
	}
	if index < 0 || index >= n || index > 255 {
		return s.opErr("set-report", fmt.Errorf("%w: LED index %d is out of range: %s %s has %d LED(s), index 0-%d", ErrInvalidArgument, index, s.info.Variant, s.info.Serial, n, n-1))
	}
	if (channel != 0 || index != 0) && !s.info.Variant.addressable() && s.info.Variant != VariantUnknown {
		return s.opErr("set-report", fmt.Errorf("%w: %s has a single LED; use index 0 channel 0", ErrInvalidArgument, s.info.Variant))
	}
	return nil
}

// write builds the report under the lock (so it sees the current limit)
// and sends it.
func (s *Stick) write(ctx context.Context, build func(limit int) []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return s.opErr("set-report", ErrClosed)
	}
	b := build(s.limit)
	if err := s.retry(ctx, func() error { return s.t.setFeature(b) }); err != nil {
		return s.opErr("set-report", err)
	}
	return nil
}

// Transient failures are retried this many times, this far apart.
const (
	ioRetries    = 2
	ioRetryPause = 20 * time.Millisecond
)

// retry runs one report transfer, again after an EIO: a USB control
// transfer that hit a bus hiccup fails with EIO, and so does a uhid
// request whose answer came late. Reports are idempotent (they set
// colours, they do not toggle them), so sending one twice is harmless,
// and a job should not lose its LED to one glitch.
func (s *Stick) retry(ctx context.Context, op func() error) error {
	var err error
	for i := 0; ; i++ {
		err = op()
		if err == nil || i == ioRetries || !errors.Is(err, errIO) {
			return err
		}
		s.log.Debug("blinkstick: retrying report transfer", "path", s.info.Path, "err", err)
		t := time.NewTimer(ioRetryPause)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

func (s *Stick) read(ctx context.Context, b []byte) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, s.opErr("get-report", ErrClosed)
	}
	var n int
	err := s.retry(ctx, func() (err error) {
		n, err = s.t.getFeature(b)
		return err
	})
	if err != nil {
		return 0, s.opErr("get-report", err)
	}
	return n, nil
}

func (s *Stick) opErr(op string, err error) error {
	var oe *OpError
	if errors.As(err, &oe) {
		return err
	}
	dev := s.info.Path
	if dev == "" {
		dev = s.info.Serial
	}
	return &OpError{Op: op, Device: dev, Err: err}
}

// errIO matches the transient transfer failure the backends report.
var errIO error = syscall.EIO

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
