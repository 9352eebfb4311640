package vmtest

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// drain returns the kinds and results a queue delivers until it ends.
func drain(q *eventQueue) (got []string, aborted string) {
	for {
		ev, ok := q.next()
		if !ok {
			return got, q.abortReason()
		}
		switch ev.Kind {
		case evRun:
			got = append(got, "run")
		case evPause:
			got = append(got, "pause")
		case evOutput:
			got = append(got, "out:"+strings.TrimSpace(ev.Line))
		case evEnd:
			got = append(got, "end:"+ev.Result)
			return got, ""
		}
	}
}

func TestDispatcherRoutesAndAborts(t *testing.T) {
	host, guest := net.Pipe()
	d := newDispatcher()
	done := make(chan struct{})
	go func() { d.feed(host); close(done) }()
	// Two tests interleaved by t.Parallel, then a panic in a third.
	guest.Write([]byte(`=== RUN   TestGuestP
=== PAUSE TestGuestP
=== RUN   TestGuestS
    s.go:1: sequential
--- PASS: TestGuestS (0.00s)
=== CONT  TestGuestP
    p.go:1: parallel
--- PASS: TestGuestP (0.00s)
=== RUN   TestGuestCrash
panic: boom
`))
	guest.Close()
	<-done
	var starts []string
	for s := range d.starts {
		starts = append(starts, s)
	}
	if diff := cmp.Diff([]string{"TestGuestP", "TestGuestS", "TestGuestCrash"}, starts); diff != "" {
		t.Errorf("starts (-want +got):\n%s", diff)
	}
	for name, want := range map[string][]string{
		"TestGuestP":     {"run", "pause", "out:=== CONT  TestGuestP", "out:p.go:1: parallel", "end:PASS"},
		"TestGuestS":     {"run", "out:s.go:1: sequential", "end:PASS"},
		"TestGuestCrash": {"run", "out:panic: boom"},
	} {
		got, aborted := drain(d.queue(name))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s events (-want +got):\n%s", name, diff)
		}
		if name == "TestGuestCrash" && !strings.Contains(aborted, "output ended") {
			t.Errorf("%s: abort reason %q, want the output-ended reason", name, aborted)
		}
	}
	// A second abort (the timeout firing late) does not replace the reason.
	d.abort("late")
	if _, r := drain(d.queue("TestGuestCrash")); strings.Contains(r, "late") {
		t.Errorf("abort reason overwritten: %q", r)
	}
}

func TestAttachDiskRejectsCombinedBus(t *testing.T) {
	var m Machine
	for _, bus := range []Bus{IDE | SCSI, 0, SCSI | USB, 99} {
		if _, err := m.AttachDisk(context.Background(), "d", "/vmshare/images/x.img", bus); err == nil || !strings.Contains(err.Error(), "exactly one of") {
			t.Errorf("AttachDisk(bus %d) = %v, want a one-bus error", bus, err)
		}
	}
}

func TestSerialFor(t *testing.T) {
	seen := map[string]string{}
	for _, id := range []string{"stick1", "drive-1", "drive1", "drive.1", "a-very-long-device-id-xx", "a-very-long-device-id-xy"} {
		s := serialFor(id)
		if len(s) > 20 || !strings.HasPrefix(s, "VMT") {
			t.Errorf("serialFor(%q) = %q: longer than 20 or without the VMT prefix", id, s)
		}
		if other, dup := seen[s]; dup {
			t.Errorf("ids %q and %q share serial %q", other, id, s)
		}
		seen[s] = id
	}
	if got := serialFor("stick1"); !strings.HasPrefix(got, "VMTstick1") {
		t.Errorf("serialFor(stick1) = %q, want the id readable in it", got)
	}
}
