package udevwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// Target is one configured drive the dispatcher acts for.
type Target struct {
	Name  string  // the drive's name, passed to the jobs
	Match Matcher // usually Matcher{LUKSUUID: ...}
}

// Job is the work done for a drive. ctx is cancelled when the dispatcher's
// context is, and for an insert job also when the drive is removed.
type Job func(ctx context.Context, drive string, ev Event) error

// JobKind tells insert jobs from remove jobs in a JobResult.
type JobKind int

const (
	InsertJob JobKind = iota + 1
	RemoveJob
)

func (k JobKind) String() string {
	switch k {
	case InsertJob:
		return "insert"
	case RemoveJob:
		return "remove"
	}
	return fmt.Sprintf("JobKind(%d)", int(k))
}

// JobResult reports one finished job.
type JobResult struct {
	Drive   string
	Kind    JobKind
	Event   Event
	Started time.Time
	Err     error
}

// DispatcherOptions configures a Dispatcher; OnInsert is required.
type DispatcherOptions struct {
	Targets []Target
	// OnInsert runs when a target's device is Added (or Changed into
	// matching, e.g. formatted while plugged in).
	OnInsert Job
	// OnRemove runs when a target's device is Removed, after any insert
	// job for it has ended. Optional.
	OnRemove Job
	// OnDone, if set, is called after every job, from the job's goroutine.
	OnDone func(JobResult)
	// Logger gets job starts and ends (info), failures (error) and
	// ignored or dropped events (debug). Default: discard.
	Logger *slog.Logger
}

// ErrBadTargets: the dispatcher's targets are unusable (no name, no
// criteria, or a name given twice).
var ErrBadTargets = errors.New("invalid dispatch targets")

// Dispatcher maps device events to per-drive jobs with one rule: at most
// one job runs per drive. An insertion while the drive's insert job runs
// is dropped (the burst of events one plug-in makes, or a second drive
// claiming the same identity); a removal cancels the running insert job
// and queues the clean-up behind it; an insertion after a removal (the
// drive plugged back in, or a USB bridge that resets) is queued behind
// the clean-up, so the drive's job runs once it is done.
type Dispatcher struct {
	opts DispatcherOptions
	log  *slog.Logger
	wg   sync.WaitGroup

	mu     sync.Mutex
	drives map[string]*driveState
}

type driveState struct {
	running bool
	kind    JobKind
	cancel  context.CancelFunc
	// queue holds the jobs to run after the running one: at most a
	// clean-up and an insertion after it.
	queue []queuedJob
}

type queuedJob struct {
	kind JobKind
	ev   Event
}

// last is the kind of job the drive's state ends in once the running and
// queued jobs are done.
func (st *driveState) last() JobKind {
	if n := len(st.queue); n > 0 {
		return st.queue[n-1].kind
	}
	return st.kind
}

// NewDispatcher checks the targets and returns a dispatcher with no jobs
// running.
func NewDispatcher(opts *DispatcherOptions) (*Dispatcher, error) {
	if opts == nil || opts.OnInsert == nil {
		return nil, fmt.Errorf("udevwatch: dispatcher needs an OnInsert job")
	}
	d := &Dispatcher{opts: *opts, log: opts.Logger, drives: make(map[string]*driveState)}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, t := range opts.Targets {
		if t.Name == "" {
			return nil, fmt.Errorf("%w: a target has no name; give every drive a name", ErrBadTargets)
		}
		if t.Match == (Matcher{}) {
			return nil, fmt.Errorf("%w: target %q matches every device; give it a UUID", ErrBadTargets, t.Name)
		}
		if _, dup := d.drives[t.Name]; dup {
			return nil, fmt.Errorf("%w: target %q appears twice", ErrBadTargets, t.Name)
		}
		d.drives[t.Name] = &driveState{}
	}
	return d, nil
}

// Matchers returns the targets' matchers, for Options.Match, so the
// watcher passes on only events some target may want.
func (d *Dispatcher) Matchers() []Matcher {
	ms := make([]Matcher, len(d.opts.Targets))
	for i, t := range d.opts.Targets {
		ms[i] = t.Match
	}
	return ms
}

// Handle starts, drops or queues a job for ev and returns at once; it
// suits Watcher.Run's callback. Jobs run under ctx.
func (d *Dispatcher) Handle(ctx context.Context, ev Event) {
	var target *Target
	for i := range d.opts.Targets {
		if d.opts.Targets[i].Match.Match(ev) {
			target = &d.opts.Targets[i]
			break
		}
	}
	if target == nil {
		d.log.Debug("ignoring unconfigured device", "event", ev.String())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.drives[target.Name]
	name := target.Name
	switch ev.Action {
	case Added, Changed:
		switch {
		case !st.running:
			d.startLocked(ctx, name, st, InsertJob, ev)
		case st.last() == InsertJob:
			d.log.Debug("drive busy, insertion dropped", "drive", name, "dev", ev.DevNode, "running", st.kind)
		default:
			d.log.Info("drive back while its clean-up runs, insertion queued", "drive", name, "dev", ev.DevNode)
			st.queue = append(st.queue, queuedJob{InsertJob, ev})
		}
	case Removed:
		switch {
		case !st.running:
			if d.opts.OnRemove != nil {
				d.startLocked(ctx, name, st, RemoveJob, ev)
			}
		case st.last() == RemoveJob:
			d.log.Debug("drive clean-up already under way, removal dropped", "drive", name)
		case len(st.queue) > 0:
			// The queued insertion never ran: nothing to clean up.
			d.log.Info("drive removed again before its queued job ran, dropping it", "drive", name, "dev", ev.DevNode)
			st.queue = st.queue[:len(st.queue)-1]
		default:
			d.log.Info("drive removed while its job runs, cancelling it", "drive", name, "dev", ev.DevNode)
			st.cancel()
			// Queued even without OnRemove, so that an insertion
			// while the cancelled job winds down waits for it.
			st.queue = append(st.queue, queuedJob{RemoveJob, ev})
		}
	}
}

func (d *Dispatcher) startLocked(ctx context.Context, drive string, st *driveState, kind JobKind, ev Event) {
	jctx, cancel := context.WithCancel(ctx)
	st.running, st.kind, st.cancel = true, kind, cancel
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		for {
			if kind == InsertJob || d.opts.OnRemove != nil {
				d.run(jctx, drive, kind, ev)
			}
			cancel()
			d.mu.Lock()
			if len(st.queue) == 0 || ctx.Err() != nil {
				st.running, st.cancel, st.queue = false, nil, nil
				d.mu.Unlock()
				return
			}
			next := st.queue[0]
			st.queue = st.queue[1:]
			jctx, cancel = context.WithCancel(ctx)
			kind, ev = next.kind, next.ev
			st.kind, st.cancel = kind, cancel
			d.mu.Unlock()
		}
	}()
}

func (d *Dispatcher) run(ctx context.Context, drive string, kind JobKind, ev Event) {
	job := d.opts.OnInsert
	if kind == RemoveJob {
		job = d.opts.OnRemove
	}
	res := JobResult{Drive: drive, Kind: kind, Event: ev, Started: time.Now()}
	d.log.Info("job started", "drive", drive, "job", kind, "dev", ev.DevNode)
	res.Err = job(ctx, drive, ev)
	if res.Err != nil {
		d.log.Error("job failed", "drive", drive, "job", kind, "dev", ev.DevNode, "err", res.Err)
	} else {
		d.log.Info("job done", "drive", drive, "job", kind, "dev", ev.DevNode, "took", time.Since(res.Started).Round(time.Millisecond))
	}
	if d.opts.OnDone != nil {
		d.opts.OnDone(res)
	}
}

// Wait blocks until every job started so far, and the clean-ups queued
// behind them, have ended.
func (d *Dispatcher) Wait() { d.wg.Wait() }
