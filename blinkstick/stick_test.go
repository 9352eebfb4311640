package blinkstick

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// recorder is a transport that keeps every feature report written and
// answers reads with canned replies. It stands in for the kernel only;
// the code under test is the encoding above it.
type recorder struct {
	mu      sync.Mutex
	sets    [][]byte
	gets    [][]byte // request buffers as passed in
	replies map[byte][]byte
	failSet error
	failN   int // fail only this many times (0: always, while failSet is set)
	tries   int
	closed  bool
}

func (r *recorder) setFeature(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tries++
	if r.failSet != nil && (r.failN == 0 || r.tries <= r.failN) {
		return r.failSet
	}
	r.sets = append(r.sets, slices.Clone(b))
	return nil
}

func (r *recorder) getFeature(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gets = append(r.gets, slices.Clone(b))
	rep, ok := r.replies[b[0]]
	if !ok {
		return 0, errors.New("no reply")
	}
	return copy(b, rep), nil
}

func (r *recorder) close() error { r.closed = true; return nil }

func (r *recorder) reports() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sets)
}

func testStick(v Variant, limit int) (*Stick, *recorder) {
	r := &recorder{replies: map[byte][]byte{}}
	info := Info{Path: "/dev/hidraw9", Serial: "BS000042-3.1", Variant: v, LEDs: v.LEDs(), Backend: "test"}
	return newStick(info, r, limit, nil), r
}

// frame builds an expected frame report: id, channel, then G,R,B triples.
func frame(id byte, ch byte, grb ...byte) []byte {
	b := make([]byte, ReportSize(id))
	b[0], b[1] = id, ch
	copy(b[2:], grb)
	return b
}

var (
	red    = Color{255, 0, 0}
	yellow = Color{255, 255, 0}
	green  = Color{0, 128, 0}
	blue   = Color{0, 0, 255}
)

func TestReportBytes(t *testing.T) {
	ctx := context.Background()
	many := func(n int, c Color) []Color {
		cs := make([]Color, n)
		for i := range cs {
			cs[i] = c
		}
		return cs
	}
	grbN := func(n int, c Color) []byte {
		var b []byte
		for range n {
			b = append(b, c.G, c.R, c.B)
		}
		return b
	}
	tests := []struct {
		name    string
		variant Variant
		limit   int
		op      func(*Stick) error
		want    [][]byte
	}{
		{"first LED red", VariantNano, 100, func(s *Stick) error { return s.SetColor(ctx, red) },
			[][]byte{{1, 255, 0, 0}}},
		{"first LED keeps R,G,B order", VariantBlinkStick, 100, func(s *Stick) error { return s.SetColor(ctx, Color{1, 2, 3}) },
			[][]byte{{1, 1, 2, 3}}},
		{"python --index 1 --limit 50 --set-color red", VariantNano, 50, func(s *Stick) error { return s.SetLED(ctx, 0, 1, red) },
			[][]byte{{5, 0, 1, 127, 0, 0}}},
		{"python --limit 10 --set-color yellow", VariantNano, 10, func(s *Stick) error { return s.SetColor(ctx, yellow) },
			[][]byte{{1, 25, 25, 0}}},
		{"limit 0 is dark", VariantNano, 0, func(s *Stick) error { return s.SetColor(ctx, Color{255, 255, 255}) },
			[][]byte{{1, 0, 0, 0}}},
		{"channel 2 index 5 on a Pro", VariantPro, 100, func(s *Stick) error { return s.SetLED(ctx, 2, 5, Color{9, 8, 7}) },
			[][]byte{{5, 2, 5, 9, 8, 7}}},
		{"channel 1 index 0 goes through report 5", VariantPro, 100, func(s *Stick) error { return s.SetLED(ctx, 1, 0, blue) },
			[][]byte{{5, 1, 0, 0, 0, 255}}},
		{"frame of 2 is report 6 in G,R,B", VariantNano, 100, func(s *Stick) error { return s.SetLEDs(ctx, 0, []Color{{1, 2, 3}, {4, 5, 6}}) },
			[][]byte{frame(6, 0, 2, 1, 3, 5, 4, 6)}},
		{"frame of 8 is report 6", VariantSquare, 100, func(s *Stick) error { return s.SetLEDs(ctx, 1, many(8, red)) },
			[][]byte{frame(6, 1, grbN(8, red)...)}},
		{"frame of 9 is report 7", VariantPro, 100, func(s *Stick) error { return s.SetLEDs(ctx, 0, many(9, green)) },
			[][]byte{frame(7, 0, grbN(9, green)...)}},
		{"frame of 17 is report 8", VariantPro, 100, func(s *Stick) error { return s.SetLEDs(ctx, 0, many(17, blue)) },
			[][]byte{frame(8, 0, grbN(17, blue)...)}},
		{"frame of 64 is report 9 with limit", VariantPro, 50, func(s *Stick) error { return s.SetLEDs(ctx, 2, many(64, yellow)) },
			[][]byte{frame(9, 2, grbN(64, Color{127, 127, 0})...)}},
		{"all LEDs of a Nano", VariantNano, 100, func(s *Stick) error { return s.SetAll(ctx, yellow) },
			[][]byte{frame(6, 0, 255, 255, 0, 255, 255, 0)}},
		{"all LEDs of a Flex", VariantFlex, 100, func(s *Stick) error { return s.SetAll(ctx, red) },
			[][]byte{frame(8, 0, grbN(32, red)...)}},
		{"all LEDs of the original BlinkStick is report 1", VariantBlinkStick, 100, func(s *Stick) error { return s.SetAll(ctx, green) },
			[][]byte{{1, 0, 128, 0}}},
		{"off on a Square", VariantSquare, 100, func(s *Stick) error { return s.Off(ctx) },
			[][]byte{frame(6, 0)}},
		{"limit changed between writes", VariantNano, 100, func(s *Stick) error {
			if err := s.SetColor(ctx, red); err != nil {
				return err
			}
			if err := s.SetLimit(20); err != nil {
				return err
			}
			return s.SetColor(ctx, red)
		}, [][]byte{{1, 255, 0, 0}, {1, 51, 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := testStick(tt.variant, tt.limit)
			if err := tt.op(s); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, r.reports()); diff != "" {
				t.Errorf("reports (-want +got):\n%s", diff)
			}
			for _, b := range r.reports() {
				if len(b) != ReportSize(b[0]) {
					t.Errorf("report %d is %d bytes, descriptor says %d", b[0], len(b), ReportSize(b[0]))
				}
			}
		})
	}
}

func TestReportSizes(t *testing.T) {
	// Sizes from the firmware's report descriptor, plus the ID byte.
	want := map[byte]int{1: 4, 2: 33, 3: 33, 4: 2, 5: 6, 6: 26, 7: 50, 8: 98, 9: 194, 0: 0, 10: 0, 0x81: 0}
	got := map[byte]int{}
	for id := range want {
		got[id] = ReportSize(id)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestReadBack(t *testing.T) {
	ctx := context.Background()
	s, r := testStick(VariantNano, 100)
	r.replies[1] = []byte{1, 10, 20, 30}
	r.replies[6] = frame(6, 0, 2, 1, 3, 5, 4, 6)
	c, err := s.Color(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Color{10, 20, 30}, c); diff != "" {
		t.Errorf("Color (-want +got):\n%s", diff)
	}
	cs, err := s.LEDs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Color{{1, 2, 3}, {4, 5, 6}}, cs); diff != "" {
		t.Errorf("LEDs (-want +got):\n%s", diff)
	}
	wantReq := [][]byte{{1, 0, 0, 0}, frame(6, 0)}
	if diff := cmp.Diff(wantReq, r.gets); diff != "" {
		t.Errorf("get requests (-want +got):\n%s", diff)
	}
	r.replies[1] = []byte{1, 2}
	if _, err := s.Color(ctx); err == nil {
		t.Error("short report 1 reply accepted")
	}
}

func TestBadArgumentsSendNothing(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		variant Variant
		op      func(*Stick) error
		want    error
	}{
		{"Nano has no LED 2", VariantNano, func(s *Stick) error { return s.SetLED(ctx, 0, 2, red) }, ErrInvalidArgument},
		{"negative index", VariantNano, func(s *Stick) error { return s.SetLED(ctx, 0, -1, red) }, ErrInvalidArgument},
		{"channel 3", VariantPro, func(s *Stick) error { return s.SetLED(ctx, 3, 0, red) }, ErrInvalidArgument},
		{"original BlinkStick has one LED", VariantBlinkStick, func(s *Stick) error { return s.SetLED(ctx, 1, 0, red) }, ErrInvalidArgument},
		{"limit 101", VariantNano, func(s *Stick) error { return s.SetLimit(101) }, ErrInvalidArgument},
		{"limit -1", VariantNano, func(s *Stick) error { return s.SetLimit(-1) }, ErrInvalidArgument},
		{"65 LEDs in a frame", VariantPro, func(s *Stick) error { return s.SetLEDs(ctx, 0, make([]Color, 65)) }, ErrInvalidArgument},
		{"empty frame", VariantPro, func(s *Stick) error { return s.SetLEDs(ctx, 0, nil) }, ErrInvalidArgument},
		{"progress without Done", VariantNano, func(s *Stick) error { return s.Play(ctx, Pattern{Kind: Progress}) }, ErrInvalidArgument},
		{"pattern on LED 5 of a Nano", VariantNano, func(s *Stick) error { return s.Play(ctx, Pattern{Kind: Blink, Index: 5, Color: red}) }, ErrInvalidArgument},
		{"closed", VariantNano, func(s *Stick) error { s.Close(); return s.SetColor(ctx, red) }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := testStick(tt.variant, 100)
			err := tt.op(s)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var oe *OpError
			if !errors.As(err, &oe) || oe.Device != "/dev/hidraw9" {
				t.Errorf("err %v is not an *OpError naming the device", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("multi-line error: %q", err)
			}
			if got := r.reports(); len(got) != 0 {
				t.Errorf("sent %d reports on bad input: %v", len(got), got)
			}
		})
	}
}

func TestSelectStick(t *testing.T) {
	infos := []Info{{Path: "/dev/hidraw0", Serial: "BS000001-3.1"}, {Path: "/dev/hidraw3", Serial: "BS000777-2.0"}}
	tests := []struct {
		opts    OpenOptions
		want    string
		wantErr error
	}{
		{OpenOptions{}, "/dev/hidraw0", nil},
		{OpenOptions{Index: 1}, "/dev/hidraw3", nil},
		{OpenOptions{Serial: "BS000777-2.0"}, "/dev/hidraw3", nil},
		{OpenOptions{Path: "/dev/hidraw0"}, "/dev/hidraw0", nil},
		{OpenOptions{Index: 2}, "", ErrNotFound},
		{OpenOptions{Serial: "BS999999-3.0"}, "", ErrNotFound},
		{OpenOptions{Path: "/dev/hidraw1"}, "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := selectStick(infos, &tt.opts)
		if !errors.Is(err, tt.wantErr) || got.Path != tt.want {
			t.Errorf("selectStick(%+v) = %q, %v; want %q, %v", tt.opts, got.Path, err, tt.want, tt.wantErr)
		}
	}
	if _, err := selectStick(nil, &OpenOptions{}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "plugged in") {
		t.Errorf("no sticks: %v", err)
	}
}

// collect runs the pure frame generator, stopping after max frames.
func collect(p Pattern, leds, max int) []step {
	var out []step
	p.steps(leds, func(s step) bool {
		out = append(out, s)
		return len(out) < max
	})
	return out
}

func TestPatternSteps(t *testing.T) {
	ms := time.Millisecond
	half := func(c Color) Color { return Off.Blend(c, 0.5) }
	tests := []struct {
		name string
		p    Pattern
		leds int
		max  int
		want []step
	}{
		{"steady", Pattern{Kind: Steady, Color: red, Index: 1}, 2, 10, []step{{index: 1, c: red}}},
		{"blink twice ends dark without a trailing wait", Pattern{Kind: Blink, Color: red, Repeats: 2, Period: 100 * ms}, 1, 10,
			[]step{{c: red, hold: 100 * ms}, {c: Off, hold: 100 * ms}, {c: red, hold: 100 * ms}, {c: Off}}},
		{"blink default period", Pattern{Kind: Blink, Color: blue, Repeats: 1}, 1, 10,
			[]step{{c: blue, hold: 500 * ms}, {c: Off}}},
		{"blink forever", Pattern{Kind: Blink, Color: blue, Period: ms, All: true}, 2, 5,
			[]step{{all: true, c: blue, hold: ms}, {all: true, c: Off, hold: ms}, {all: true, c: blue, hold: ms}, {all: true, c: Off, hold: ms}, {all: true, c: blue, hold: ms}}},
		{"pulse fades up and down", Pattern{Kind: Pulse, Color: red, Repeats: 1, Steps: 2, Period: 10 * ms}, 1, 20,
			[]step{{c: Off}, {c: half(red), hold: 5 * ms}, {c: red, hold: 5 * ms}, {c: half(red), hold: 5 * ms}, {c: Off, hold: 5 * ms}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.p, tt.leds, tt.max)
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestProgressSteps(t *testing.T) {
	for _, tc := range []struct {
		done       float64
		second     Color
		cycleHalf  time.Duration
		leds       int
		wantSecond bool
	}{
		{0, yellow, ProgressSlowest / 2, 2, true},
		{1, green, ProgressFastest / 2, 2, true},
		{0.5, yellow.Blend(green, 0.5), (ProgressSlowest - (ProgressSlowest-ProgressFastest)/2) / 2, 2, true},
		{7, green, ProgressFastest / 2, 2, true}, // clamped
		{0.5, Off, (ProgressSlowest - (ProgressSlowest-ProgressFastest)/2) / 2, 1, false},
	} {
		p := Pattern{Kind: Progress, Color: yellow, Steps: 4, Done: func() float64 { return tc.done }}
		got := collect(p, tc.leds, 9)
		i := 0
		if tc.wantSecond {
			if diff := cmp.Diff(step{index: 1, c: tc.second}, got[0], cmp.AllowUnexported(step{})); diff != "" {
				t.Errorf("done=%v second LED (-want +got):\n%s", tc.done, diff)
			}
			i = 1
		}
		first := got[i]
		if first.index != 0 || first.hold != tc.cycleHalf/4 || first.c != Off.Blend(yellow, 0.25) {
			t.Errorf("done=%v first pulse frame = %+v, want index 0 hold %v colour %v", tc.done, first, tc.cycleHalf/4, Off.Blend(yellow, 0.25))
		}
	}
}

func TestPlayWritesFramesAndSkipsRepeats(t *testing.T) {
	s, r := testStick(VariantNano, 50)
	err := s.Play(context.Background(), Pattern{Kind: Pulse, Color: red, Repeats: 1, Steps: 4, Period: time.Microsecond, Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	// 255 at 50 % is 127; the fade's 0.25/0.5/0.75 points are 64/128/191
	// (rounded) before scaling: 31, 63, 95 after. Off at either end is sent once.
	want := [][]byte{
		{5, 0, 1, 0, 0, 0},
		{5, 0, 1, 31, 0, 0}, {5, 0, 1, 63, 0, 0}, {5, 0, 1, 95, 0, 0}, {5, 0, 1, 127, 0, 0},
		{5, 0, 1, 95, 0, 0}, {5, 0, 1, 63, 0, 0}, {5, 0, 1, 31, 0, 0}, {5, 0, 1, 0, 0, 0},
	}
	if diff := cmp.Diff(want, r.reports()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestAnimationStopLeavesLastColour(t *testing.T) {
	s, r := testStick(VariantNano, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a := s.Start(ctx, Pattern{Kind: Blink, Color: blue, Period: time.Hour})
	// The first frame is written before the hour-long hold begins.
	for len(r.reports()) == 0 {
		time.Sleep(time.Millisecond)
	}
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]byte{{1, 0, 0, 255}}, r.reports()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	select {
	case <-a.Done():
	default:
		t.Error("Done not closed after Stop")
	}
	// A new animation replaces a running one instead of racing it.
	a1 := s.Start(ctx, Pattern{Kind: Blink, Color: red, Period: time.Hour})
	a2 := s.Start(ctx, Pattern{Kind: Steady, Color: green})
	if err := a2.Wait(); err != nil {
		t.Fatal(err)
	}
	<-a1.Done()
	got := r.reports()
	if diff := cmp.Diff([]byte{1, 0, 128, 0}, got[len(got)-1]); diff != "" {
		t.Errorf("last report (-want +got):\n%s", diff)
	}
}

func TestAnimationReportsWriteError(t *testing.T) {
	s, r := testStick(VariantNano, 100)
	r.failSet = errors.New("EIO")
	a := s.Start(context.Background(), Pattern{Kind: Blink, Color: red, Period: time.Hour})
	if err := a.Wait(); err == nil || !strings.Contains(err.Error(), "EIO") {
		t.Errorf("Wait = %v, want the write error", err)
	}
}

func TestStatusStates(t *testing.T) {
	s, r := testStick(VariantNano, 10)
	st := &Status{log: logger(nil), stick: s}
	ctx := context.Background()
	for _, state := range []State{Working, Done, Failed, Interactive, Idle} {
		st.Set(ctx, state)
	}
	scaled := func(c Color) []byte {
		c = c.Scale(10)
		return frame(6, 0, c.G, c.R, c.B, c.G, c.R, c.B)
	}
	want := [][]byte{scaled(yellow), scaled(green), scaled(red), scaled(blue), frame(6, 0)}
	if diff := cmp.Diff(want, r.reports()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// A job cancelled mid-way still gets its red.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	st.Set(cctx, Failed)
	got := r.reports()
	if diff := cmp.Diff(scaled(red), got[len(got)-1]); diff != "" {
		t.Errorf("Failed under a cancelled context (-want +got):\n%s", diff)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if !r.closed {
		t.Error("Close did not release the stick")
	}
}

func TestStatusIndex(t *testing.T) {
	s, r := testStick(VariantNano, 50)
	one := 1
	st := &Status{log: logger(nil), stick: s, index: &one}
	st.Set(context.Background(), Failed)
	if diff := cmp.Diff([][]byte{{5, 0, 1, 127, 0, 0}}, r.reports()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestStatusWarnsOnceThenNoOps(t *testing.T) {
	s, r := testStick(VariantNano, 100)
	r.failSet = errors.New("ENODEV")
	var logs bytes.Buffer
	st := &Status{log: slog.New(slog.NewTextHandler(&logs, nil)), stick: s}
	ctx := context.Background()
	st.Set(ctx, Working)
	st.Progress(ctx, func() float64 { return 0.5 })
	st.Set(ctx, Done)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if st.Stick() != nil {
		t.Error("disabled Status still hands out its stick")
	}
	var nilStatus *Status
	nilStatus.Set(ctx, Failed) // must not panic
	if err := nilStatus.Close(); err != nil {
		t.Error(err)
	}
}

func TestStatusProgressStopsOnSet(t *testing.T) {
	s, r := testStick(VariantNano, 100)
	st := &Status{log: logger(nil), stick: s}
	ctx := context.Background()
	st.Progress(ctx, func() float64 { return 0.25 })
	for len(r.reports()) < 3 {
		time.Sleep(time.Millisecond)
	}
	st.Set(ctx, Done)
	got := r.reports()
	// The second LED showed a quarter of the way from yellow to green;
	// the last word is the steady green on every LED.
	q := yellow.Blend(green, 0.25)
	if diff := cmp.Diff([]byte{5, 0, 1, q.R, q.G, q.B}, got[0]); diff != "" {
		t.Errorf("first progress report (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(frame(6, 0, 128, 0, 0, 128, 0, 0), got[len(got)-1]); diff != "" {
		t.Errorf("last report (-want +got):\n%s", diff)
	}
	n := len(got)
	time.Sleep(20 * time.Millisecond)
	if len(r.reports()) != n {
		t.Error("progress pattern kept writing after Set")
	}
}

func TestOpenStatusWithoutStick(t *testing.T) {
	// Whatever this machine has, a serial no stick carries is not found:
	// the caller gets ErrNotFound once and a Status that does nothing.
	var logs bytes.Buffer
	st, err := OpenStatus(context.Background(), &StatusOptions{
		Open:   &OpenOptions{Serial: "BS999999-9.9"},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if len(Backends()) == 0 {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("no backend: err = %v, want ErrUnsupported", err)
		}
	} else if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	st.Set(context.Background(), Working)
	st.Set(context.Background(), Done)
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
}

func TestRetryOnEIO(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		fail      error
		failN     int
		wantErr   error
		wantTries int
		wantSent  int
	}{
		{"one EIO is retried", syscall.EIO, 1, nil, 2, 1},
		{"two EIOs are retried", syscall.EIO, 2, nil, 3, 1},
		{"persistent EIO gives up", syscall.EIO, 0, syscall.EIO, 3, 0},
		{"other errors are not retried", syscall.EPIPE, 0, syscall.EPIPE, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, r := testStick(VariantNano, 100)
			r.failSet, r.failN = fmt.Errorf("HIDIOCSFEATURE: %w", tt.fail), tt.failN
			err := s.SetColor(ctx, red)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if r.tries != tt.wantTries || len(r.reports()) != tt.wantSent {
				t.Errorf("%d tries, %d sent; want %d, %d", r.tries, len(r.reports()), tt.wantTries, tt.wantSent)
			}
		})
	}
}

func TestUdevRule(t *testing.T) {
	want := `# BlinkStick LEDs: let group backup drive them without root (extdrive led).
SUBSYSTEM=="hidraw", KERNELS=="0003:20A0:41E5.*", GROUP="backup", MODE="0660"
SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", ATTR{idVendor}=="20a0", ATTR{idProduct}=="41e5", GROUP="backup", MODE="0660"
`
	if diff := cmp.Diff(want, UdevRule("backup")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
