package udevwatch

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// jobLog records jobs; insert jobs block until released or cancelled,
// remove jobs until gate (if set) is closed.
type jobLog struct {
	mu      sync.Mutex
	calls   []string
	started chan string
	release map[string]chan struct{}
	gate    chan struct{}
}

func newJobLog(drives ...string) *jobLog {
	l := &jobLog{started: make(chan string, 16), release: map[string]chan struct{}{}}
	for _, d := range drives {
		l.release[d] = make(chan struct{})
	}
	return l
}

func (l *jobLog) note(s string) {
	l.mu.Lock()
	l.calls = append(l.calls, s)
	l.mu.Unlock()
}

func (l *jobLog) insert(ctx context.Context, drive string, ev Event) error {
	l.note("insert " + drive + " " + ev.DevNode)
	l.started <- drive
	select {
	case <-l.release[drive]:
		return nil
	case <-ctx.Done():
		l.note("cancelled " + drive)
		return ctx.Err()
	}
}

func (l *jobLog) remove(ctx context.Context, drive string, ev Event) error {
	if l.gate != nil {
		<-l.gate
	}
	l.note("remove " + drive + " " + ev.DevNode)
	return nil
}

func ev(a Action, dev, luks string) Event {
	return Event{Action: a, DevNode: dev, LUKSUUID: luks, FS: FS{Type: "crypto_LUKS", UUID: luks}}
}

const luksB = "00000000-1111-2222-3333-444444444444"

func TestDispatcherOneJobPerDrive(t *testing.T) {
	log := newJobLog("a", "b")
	var results []JobResult
	var rmu sync.Mutex
	d, err := NewDispatcher(&DispatcherOptions{
		Targets:  []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}, {Name: "b", Match: Matcher{LUKSUUID: luksB}}},
		OnInsert: log.insert,
		OnRemove: log.remove,
		OnDone:   func(r JobResult) { rmu.Lock(); results = append(results, r); rmu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))
	<-log.started
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))   // the same event twice
	d.Handle(ctx, ev(Changed, "/dev/sda", luksA)) // the burst's follow-up
	d.Handle(ctx, ev(Added, "/dev/sdc", luksA))   // a clone of drive a while its job runs
	d.Handle(ctx, ev(Added, "/dev/sdb", luksB))   // two drives at once
	<-log.started
	d.Handle(ctx, ev(Added, "/dev/sdd", "deadbeef-0000-0000-0000-000000000000")) // not configured
	d.Handle(ctx, Event{Action: Added, DevNode: "/dev/sde"})                     // no filesystem at all
	close(log.release["a"])
	close(log.release["b"])
	d.Wait()
	d.Handle(ctx, ev(Added, "/dev/sda", luksA)) // plugged in again later: a new job
	<-log.started
	d.Wait()

	want := []string{"insert a /dev/sda", "insert b /dev/sdb", "insert a /dev/sda"}
	if diff := cmp.Diff(want, log.calls); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if len(results) != 3 {
		t.Errorf("OnDone called %d times, want 3", len(results))
	}
	for _, r := range results {
		if r.Err != nil || r.Kind != InsertJob {
			t.Errorf("result %+v, want a successful insert job", r)
		}
	}
}

func TestDispatcherRemovalCancelsAndCleansUp(t *testing.T) {
	log := newJobLog("a")
	log.gate = make(chan struct{}) // holds the clean-up while the drive comes back
	var errs []error
	d, err := NewDispatcher(&DispatcherOptions{
		Targets:  []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}},
		OnInsert: log.insert,
		OnRemove: log.remove,
		OnDone:   func(r JobResult) { errs = append(errs, r.Err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))
	<-log.started
	d.Handle(ctx, ev(Removed, "/dev/sda", luksA)) // pulled mid-job
	d.Handle(ctx, ev(Added, "/dev/sdb", luksA))   // back in before the clean-up ran: queued behind it
	close(log.gate)
	<-log.started // the queued insertion's job
	close(log.release["a"])
	d.Wait()
	d.Handle(ctx, ev(Removed, "/dev/sdb", luksA)) // a removal with no job running
	d.Wait()
	want := []string{"insert a /dev/sda", "cancelled a", "remove a /dev/sda", "insert a /dev/sdb", "remove a /dev/sdb"}
	if diff := cmp.Diff(want, log.calls); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
	if len(errs) != 4 || !errors.Is(errs[0], context.Canceled) || errs[1] != nil || errs[2] != nil || errs[3] != nil {
		t.Errorf("job errors %v, want [canceled <nil> <nil> <nil>]", errs)
	}
}

// TestDispatcherQueue: while a clean-up is held, insertions and removals
// come and go; only the state the drive ends in runs after the clean-up.
func TestDispatcherQueue(t *testing.T) {
	log := newJobLog("a")
	log.gate = make(chan struct{})
	d, err := NewDispatcher(&DispatcherOptions{
		Targets:  []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}},
		OnInsert: log.insert,
		OnRemove: log.remove,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))
	<-log.started
	d.Handle(ctx, ev(Removed, "/dev/sda", luksA)) // cancelled, clean-up queued
	d.Handle(ctx, ev(Added, "/dev/sdb", luksA))   // queued behind the clean-up
	d.Handle(ctx, ev(Changed, "/dev/sdb", luksA)) // its burst: already queued
	d.Handle(ctx, ev(Removed, "/dev/sdb", luksA)) // gone before it ran: nothing to clean
	d.Handle(ctx, ev(Removed, "/dev/sdb", luksA)) // a clean-up is already due
	d.Handle(ctx, ev(Added, "/dev/sdc", luksA))   // the drive the user left plugged in
	close(log.gate)
	<-log.started
	close(log.release["a"])
	d.Wait()
	want := []string{"insert a /dev/sda", "cancelled a", "remove a /dev/sda", "insert a /dev/sdc"}
	if diff := cmp.Diff(want, log.calls); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

// TestDispatcherReplugWithoutOnRemove: with no clean-up job, a drive
// plugged back in while its cancelled job winds down still gets a job.
func TestDispatcherReplugWithoutOnRemove(t *testing.T) {
	log := newJobLog("a")
	d, _ := NewDispatcher(&DispatcherOptions{Targets: []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}}, OnInsert: log.insert})
	ctx := context.Background()
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))
	<-log.started
	d.Handle(ctx, ev(Removed, "/dev/sda", luksA))
	d.Handle(ctx, ev(Added, "/dev/sdb", luksA))
	<-log.started
	close(log.release["a"])
	d.Wait()
	if diff := cmp.Diff([]string{"insert a /dev/sda", "cancelled a", "insert a /dev/sdb"}, log.calls); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

func TestDispatcherCancelStopsJobs(t *testing.T) {
	log := newJobLog("a")
	d, _ := NewDispatcher(&DispatcherOptions{Targets: []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}}, OnInsert: log.insert})
	ctx, cancel := context.WithCancel(context.Background())
	d.Handle(ctx, ev(Added, "/dev/sda", luksA))
	<-log.started
	cancel()
	d.Wait()
	if diff := cmp.Diff([]string{"insert a /dev/sda", "cancelled a"}, log.calls); diff != "" {
		t.Errorf("jobs (-want +got):\n%s", diff)
	}
}

func TestNewDispatcherRejects(t *testing.T) {
	job := func(context.Context, string, Event) error { return nil }
	for name, o := range map[string]*DispatcherOptions{
		"unnamed":   {OnInsert: job, Targets: []Target{{Match: Matcher{LUKSUUID: luksA}}}},
		"match all": {OnInsert: job, Targets: []Target{{Name: "a"}}},
		"twice":     {OnInsert: job, Targets: []Target{{Name: "a", Match: Matcher{LUKSUUID: luksA}}, {Name: "a", Match: Matcher{LUKSUUID: luksB}}}},
	} {
		if _, err := NewDispatcher(o); !errors.Is(err, ErrBadTargets) {
			t.Errorf("%s: error %v, want ErrBadTargets", name, err)
		}
	}
	if _, err := NewDispatcher(&DispatcherOptions{}); err == nil {
		t.Error("no OnInsert: no error")
	}
}
