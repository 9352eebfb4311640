package udevwatch

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// addRecorded seeds a fuzzer with every recorded real message.
func addRecorded(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "testdata", "uevents", "*", "*.bin"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("add@"))
	f.Add(kernelMsg("add", usbPart, "SUBSYSTEM=block", "DEVNAME=sda1", "DEVTYPE=partition"))
	f.Add(udevMsg("ACTION=remove", "DEVPATH="+usbDisk, "SUBSYSTEM=block", "DEVNAME=/dev/sda"))
}

// FuzzParseMessage: any bytes from the socket either parse into a message
// that satisfies the parser's promises or fail with ErrMalformed.
func FuzzParseMessage(f *testing.F) {
	addRecorded(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			if m != nil {
				t.Fatalf("message %+v returned with error %v", m, err)
			}
			return
		}
		if !knownActions[m.Action] || m.Env["ACTION"] != m.Action || m.Env["DEVPATH"] != m.DevPath {
			t.Fatalf("inconsistent message %+v", m)
		}
		if strings.Contains(m.DevPath, "/../") || strings.HasSuffix(m.DevPath, "/..") {
			t.Fatalf("DEVPATH %q escapes /sys", m.DevPath)
		}
		ev, ok := eventFromEnv(m.DevPath, m.Env)
		if !ok {
			return
		}
		if !strings.HasPrefix(ev.DevNode, "/dev/") || filepath.Clean(ev.DevNode) != ev.DevNode {
			t.Fatalf("device node %q is not a clean path below /dev", ev.DevNode)
		}
		if !strings.HasPrefix(ev.Disk, "/dev/") {
			t.Fatalf("disk %q is not below /dev", ev.Disk)
		}
	})
}

// FuzzWatcherMatch drives parsed messages through the watcher's state
// machine and a matcher built from the event's own fields: the handler
// must see the event, and must not see it under a matcher with one field
// changed.
func FuzzWatcherMatch(f *testing.F) {
	addRecorded(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseMessage(b)
		if err != nil {
			return
		}
		group := uint32(groupKernel)
		from := fromKernel
		if m.Format == FormatUdev {
			group, from = groupUdev, fromUdevd
		}
		probe := func(context.Context, string) (FS, error) { return FS{Type: "crypto_LUKS", UUID: "fuzz"}, nil }
		sys := t.TempDir()
		w, _ := newWatcher(Options{Logger: (*Options)(nil).withDefaults().Logger, Probe: probe, SysDir: sys, UdevDataDir: sys}, group,
			func() (source, error) { return newFakeSource(), nil })
		var got []Event
		w.handleRaw(context.Background(), b, from, func(e Event) { got = append(got, e) })
		if len(got) > 1 {
			t.Fatalf("one message gave %d events", len(got))
		}
		for _, e := range got {
			self := Matcher{LUKSUUID: e.LUKSUUID, FSUUID: e.FS.UUID, FSLabel: e.FS.Label, FSType: e.FS.Type, Serial: e.Serial, DevNode: e.DevNode, Disk: e.Disk}
			if !self.Match(e) {
				t.Fatalf("%+v does not match its own fields", e)
			}
			other := self
			other.DevNode += "x"
			if other.Match(e) {
				t.Fatalf("%+v matches a different device node", e)
			}
		}
		// The same message again is a duplicate, never a second event.
		n := len(got)
		w.handleRaw(context.Background(), b, from, func(e Event) { got = append(got, e) })
		if m.Action != "move" && len(got) != n {
			t.Fatalf("repeated message gave another event: %+v", got[n:])
		}
	})
}
