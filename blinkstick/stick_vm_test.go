//go:build vmguest

package blinkstick_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/blinkstick/blinksticktest"
	"github.com/extdrive/extdrive/luksdrive/vmtest"
)

// Each test starts its own emulated sticks (uhid devices in this process)
// and destroys them at the end, so tests do not see each other's sticks.

func guestCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func emulate(t *testing.T, ctx context.Context, opts *blinksticktest.Options) (*blinksticktest.Emulator, string) {
	t.Helper()
	e, err := blinksticktest.Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("emulator close: %v", err)
		}
	})
	node, err := e.Hidraw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return e, node
}

// reportBytes returns the reports a device received, a report repeated
// back to back counted once. Repeats are the library's retry at work: a
// signal reaching the writer while uhid waits for the emulator's answer
// (Go's preemption signals do) makes the kernel return EIO although the
// report was delivered, and the library sends it again. A real stick's
// usbhid transfer cannot be interrupted that way.
func reportBytes(rs []blinksticktest.Report) [][]byte {
	out := [][]byte{}
	for _, r := range rs {
		if len(out) > 0 && bytes.Equal(out[len(out)-1], r.Data) {
			continue
		}
		out = append(out, r.Data)
	}
	return out
}

// allReports returns every report received, repeats included.
func allReports(rs []blinksticktest.Report) [][]byte {
	out := [][]byte{}
	for _, r := range rs {
		out = append(out, r.Data)
	}
	return out
}

func frame6(grb ...byte) []byte {
	b := make([]byte, 26)
	b[0] = 6
	copy(b[2:], grb)
	return b
}

// extdrive runs the command built by vmtest (Options.Commands) and returns
// its exit code and output.
func extdrive(t *testing.T, ctx context.Context, cred *syscall.Credential, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, "extdrive", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("extdrive %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func TestGuestLibraryThroughHidraw(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	e, node := emulate(t, ctx, nil)

	infos, err := blinkstick.List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []blinkstick.Info{{Path: node, Serial: "BS000001-3.1", Product: "BlinkStick Nano", Variant: blinkstick.VariantNano, LEDs: 2, Backend: "hidraw"}}
	if diff := cmp.Diff(want, infos); diff != "" {
		t.Fatalf("List (-want +got):\n%s", diff)
	}

	s, err := blinkstick.Open(ctx, &blinkstick.OpenOptions{Serial: "BS000001-3.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Backend() != "hidraw" {
		t.Errorf("backend %q, want hidraw", s.Backend())
	}
	steps := []func() error{
		func() error { return s.SetColor(ctx, blinkstick.Color{R: 255, G: 128, B: 1}) },
		func() error { return s.SetLED(ctx, 0, 1, blinkstick.Color{R: 9, G: 8, B: 7}) },
		func() error { return s.SetAll(ctx, blinkstick.Color{R: 1, G: 2, B: 3}) },
		func() error { return s.SetLimit(50) },
		func() error { return s.SetLEDs(ctx, 0, []blinkstick.Color{{R: 255}, {G: 255}}) },
	}
	for i, f := range steps {
		if err := f(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	wantReports := [][]byte{
		{1, 255, 128, 1},
		{5, 0, 1, 9, 8, 7},
		frame6(2, 1, 3, 2, 1, 3),
		frame6(0, 127, 0, 127, 0, 0),
	}
	if diff := cmp.Diff(wantReports, reportBytes(e.Reports())); diff != "" {
		t.Errorf("reports the device received (-want +got):\n%s", diff)
	}

	// GET_REPORT through HIDIOCGFEATURE reads the device's state back.
	c, err := s.Color(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(blinkstick.Color{R: 127}, c); diff != "" {
		t.Errorf("Color (-want +got):\n%s", diff)
	}
	cs, err := s.LEDs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]blinkstick.Color{{R: 127}, {G: 127}}, cs); diff != "" {
		t.Errorf("LEDs (-want +got):\n%s", diff)
	}
	// How long a report takes through hidraw and uhid here (a figure for
	// the log, not an assertion: the VM runs under TCG).
	e.Reset()
	if err := s.SetLimit(100); err != nil { // every value distinct on the wire
		t.Fatal(err)
	}
	const n = 200
	start := time.Now()
	for i := range n {
		if err := s.SetColor(ctx, blinkstick.Color{R: uint8(i)}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d SET_REPORTs through hidraw+uhid: %v per report", n, time.Since(start)/n)
	if got := len(reportBytes(e.Reports())); got != n {
		t.Errorf("device received %d of %d distinct reports", got, n)
	}
}

func TestGuestCLISetColor(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	e, _ := emulate(t, ctx, nil)

	// The line users have in their systemd units.
	code, out, errs := extdrive(t, ctx, nil, "led", "--index", "1", "--limit", "50", "--set-color", "red")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	if diff := cmp.Diff([][]byte{{5, 0, 1, 127, 0, 0}}, reportBytes(e.Reports())); diff != "" {
		t.Errorf("reports (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(blinkstick.Color{R: 127}, e.LED(0, 1)); diff != "" {
		t.Errorf("emulated LED 1 (-want +got):\n%s", diff)
	}

	code, out, errs = extdrive(t, ctx, nil, "led", "--limit", "10", "yellow")
	if code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	// A later process reads both LEDs back with GET_REPORT: the colours
	// latched on the device outlive the command that set them.
	s, err := blinkstick.Open(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cs, err := s.LEDs(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]blinkstick.Color{{R: 25, G: 25}, {R: 127}}, cs); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	e.Reset()
	if code, out, errs := extdrive(t, ctx, nil, "led", "--off"); code != 0 {
		t.Fatalf("--off: exit %d: %s%s", code, out, errs)
	}
	if diff := cmp.Diff([][]byte{frame6()}, reportBytes(e.Reports())); diff != "" {
		t.Errorf("--off turns every LED off (-want +got):\n%s", diff)
	}

	// Bad input changes nothing on the device.
	e.Reset()
	for _, args := range [][]string{
		{"led", "--set-color", "bleu"},
		{"led", "--limit", "150", "red"},
		{"led", "--index", "2", "red"}, // a Nano has LEDs 0 and 1
	} {
		code, _, errs := extdrive(t, ctx, nil, args...)
		if code == 0 || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs)
		}
	}
	if got := e.Reports(); len(got) != 0 {
		t.Errorf("bad input reached the device: %v", got)
	}
}

func TestGuestCLIBlinkPulse(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	e, _ := emulate(t, ctx, nil)

	if code, out, errs := extdrive(t, ctx, nil, "led", "--blink", "--repeats", "2", "--delay", "5", "--set-color", "blue"); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	want := [][]byte{{1, 0, 0, 255}, {1, 0, 0, 0}, {1, 0, 0, 255}, {1, 0, 0, 0}}
	if diff := cmp.Diff(want, reportBytes(e.Reports())); diff != "" {
		t.Errorf("blink (-want +got):\n%s", diff)
	}

	e.Reset()
	if code, out, errs := extdrive(t, ctx, nil, "led", "--pulse", "--duration", "50", "red"); code != 0 {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
	// Off, a rise to full red in 50 steps, a fall back to off.
	var reds []int
	for _, r := range reportBytes(e.Reports()) {
		if r[0] != 1 || r[2] != 0 || r[3] != 0 {
			t.Fatalf("unexpected report %v", r)
		}
		reds = append(reds, int(r[1]))
	}
	if len(reds) != 101 || reds[0] != 0 || reds[50] != 255 || reds[100] != 0 {
		t.Fatalf("pulse went %v", reds)
	}
	for i := 1; i <= 50; i++ {
		if reds[i] <= reds[i-1] || reds[100-i] <= reds[101-i] {
			t.Fatalf("pulse not a smooth rise and fall at step %d: %v", i, reds)
		}
	}
}

func TestGuestSelectBySerial(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	nano, nanoNode := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000010-3.1"})
	orig, origNode := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000011-1.0", Product: "BlinkStick", Version: 0x0100})

	code, out, errs := extdrive(t, ctx, nil, "led", "--list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, re := range []string{
		`(?m)^SERIAL +VARIANT +LEDS +BACKEND +DEVICE$`,
		`(?m)^BS000010-3\.1 +BlinkStick Nano +2 +hidraw +` + regexp.QuoteMeta(nanoNode) + `$`,
		`(?m)^BS000011-1\.0 +BlinkStick +1 +hidraw +` + regexp.QuoteMeta(origNode) + `$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("--list output lacks %s:\n%s", re, out)
		}
	}

	if code, _, errs := extdrive(t, ctx, nil, "led", "--serial", "BS000011-1.0", "green"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if diff := cmp.Diff([][]byte{{1, 0, 128, 0}}, reportBytes(orig.Reports())); diff != "" {
		t.Errorf("selected stick (-want +got):\n%s", diff)
	}
	if got := nano.Reports(); len(got) != 0 {
		t.Errorf("the other stick received %v", got)
	}

	// Without --serial, as the Python tool, every stick is set.
	orig.Reset()
	if code, _, errs := extdrive(t, ctx, nil, "led", "#102030"); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, e := range []*blinksticktest.Emulator{nano, orig} {
		if diff := cmp.Diff([][]byte{{1, 0x10, 0x20, 0x30}}, reportBytes(e.Reports())); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	}

	code, _, errs = extdrive(t, ctx, nil, "led", "--serial", "BS000099-3.1", "red")
	if code != 50 || !strings.Contains(errs, "no BlinkStick found with serial BS000099-3.1") {
		t.Errorf("unknown serial: exit %d, %q", code, errs)
	}
	// By index, in the library.
	s, err := blinkstick.Open(ctx, &blinkstick.OpenOptions{Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first, _ := blinkstick.List(ctx, nil)
	if s.Info().Serial != first[1].Serial {
		t.Errorf("Index 1 opened %s, List has %s there", s.Info().Serial, first[1].Serial)
	}
}

func TestGuestPermissionAndUdevRule(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}

	e, node := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000020-3.1"})
	code, _, errs := extdrive(t, ctx, nobody, "led", "--set-color", "red")
	if code != 51 || !strings.Contains(errs, "permission denied") || !strings.Contains(errs, node) {
		t.Errorf("as nobody: exit %d, stderr %q; want 51 naming %s", code, errs, node)
	}
	if got := e.Reports(); len(got) != 0 {
		t.Errorf("device changed by a denied user: %v", got)
	}
	// Listing needs no access to the node.
	code, out, errs := extdrive(t, ctx, nobody, "led", "--list")
	if code != 0 || !strings.Contains(out, "BS000020-3.1") {
		t.Errorf("--list as nobody: exit %d, %q %q", code, out, errs)
	}

	// The rule UdevRule writes gives a group the node. The guest's udevd
	// runs with --resolve-names=never, so the group is given numerically.
	const gid = 4242
	rules := "/etc/udev/rules.d/70-extdrive-blinkstick.rules"
	if err := os.MkdirAll(filepath.Dir(rules), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rules, []byte(blinkstick.UdevRule(fmt.Sprint(gid))), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(rules)
		exec.Command("udevadm", "control", "--reload").Run()
	})
	if out, err := exec.Command("udevadm", "control", "--reload").CombinedOutput(); err != nil {
		t.Fatalf("udevadm control --reload: %v %s", err, out)
	}
	e2, node2 := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000021-3.1"})
	if out, err := exec.Command("udevadm", "settle").CombinedOutput(); err != nil {
		t.Fatalf("udevadm settle: %v %s", err, out)
	}
	fi, err := os.Stat(node2)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if st.Gid != gid || fi.Mode().Perm() != 0o660 {
		t.Fatalf("%s: gid %d mode %v; want %d 0660", node2, st.Gid, fi.Mode().Perm(), gid)
	}
	member := &syscall.Credential{Uid: 65534, Gid: 65534, Groups: []uint32{gid}}
	if code, out, errs := extdrive(t, ctx, member, "led", "--serial", "BS000021-3.1", "--set-color", "green"); code != 0 {
		t.Fatalf("group member: exit %d: %s%s", code, out, errs)
	}
	if diff := cmp.Diff([][]byte{{1, 0, 128, 0}}, reportBytes(e2.Reports())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGuestStatusJobStates(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	e, _ := emulate(t, ctx, nil)

	var logs bytes.Buffer
	st, err := blinkstick.OpenStatus(ctx, &blinkstick.StatusOptions{
		Open:   &blinkstick.OpenOptions{Limit: 100},
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Set(ctx, blinkstick.Working)
	st.Progress(ctx, func() float64 { return 0.5 })
	if _, err := e.WaitReports(ctx, 4); err != nil {
		t.Fatal(err)
	}
	st.Set(ctx, blinkstick.Done)

	yellow, green := blinkstick.Working.Color(), blinkstick.Done.Color()
	// The second LED: yellow, the half-way blend while copying, green.
	if diff := cmp.Diff([]blinkstick.Color{yellow, yellow.Blend(green, 0.5), green}, e.History(0, 1)); diff != "" {
		t.Errorf("LED 1 history (-want +got):\n%s", diff)
	}
	h := e.History(0, 0)
	if h[0] != yellow || h[len(h)-1] != green {
		t.Errorf("LED 0 went %v; want yellow first and green last", h)
	}

	// Yanked mid-job: one warning, then nothing fails.
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	st.Set(ctx, blinkstick.Failed)
	st.Progress(ctx, func() float64 { return 1 })
	st.Set(ctx, blinkstick.Idle)
	if err := st.Close(); err != nil {
		t.Errorf("Close after unplug: %v", err)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings after the unplug, want 1:\n%s", n, logs.String())
	}
	if _, err := blinkstick.Open(ctx, nil); !errors.Is(err, blinkstick.ErrNotFound) {
		t.Errorf("Open with no stick: %v, want ErrNotFound", err)
	}
}

func TestGuestWedgedStick(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	// A stick that refuses every report: uhid turns the refusal into
	// EIO, as usbhid does for a failed control transfer.
	e, node := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000030-3.1", FailSet: 1})
	code, _, errs := extdrive(t, ctx, nil, "led", "red")
	if code != 1 || !strings.Contains(errs, node) || !strings.Contains(errs, "input/output error") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
		t.Errorf("exit %d, stderr %q; want 1 and one line naming %s", code, errs, node)
	}
	// Sent once and retried twice, all the same bytes.
	if diff := cmp.Diff([][]byte{{1, 255, 0, 0}, {1, 255, 0, 0}, {1, 255, 0, 0}}, allReports(e.Reports())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestGuestAllOrNothing(t *testing.T) {
	vmtest.Guest(t)
	ctx := guestCtx(t)
	open, openNode := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000040-3.1"})
	closed, closedNode := emulate(t, ctx, &blinksticktest.Options{Serial: "BS000041-3.1"})
	if err := os.Chmod(openNode, 0o666); err != nil {
		t.Fatal(err)
	}
	// Every stick is set when no --serial is given; one this user cannot
	// open fails the command before any stick changes.
	code, _, errs := extdrive(t, ctx, &syscall.Credential{Uid: 65534, Gid: 65534}, "led", "red")
	if code != 51 || !strings.Contains(errs, closedNode) {
		t.Errorf("exit %d, stderr %q; want 51 naming %s", code, errs, closedNode)
	}
	for _, e := range []*blinksticktest.Emulator{open, closed} {
		if got := e.Reports(); len(got) != 0 {
			t.Errorf("a stick changed although the command failed: %v", got)
		}
	}
}
