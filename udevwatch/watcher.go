package udevwatch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Mode chooses which uevents the watcher listens to.
type Mode int

const (
	// ModeAuto picks ModeUdev when systemd-udevd runs (its control socket
	// /run/udev/control exists, the test libudev uses) and ModeKernel
	// otherwise.
	ModeAuto Mode = iota
	// ModeUdev listens to udev's events, sent after its rules ran: they
	// carry ID_FS_*, ID_SERIAL, and the /dev/disk links already exist.
	ModeUdev
	// ModeKernel listens to the kernel's own events, for systems without
	// udev; the watcher probes each new device for its filesystem.
	ModeKernel
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeUdev:
		return "udev"
	case ModeKernel:
		return "kernel"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ProbeFunc reads the superblock of a device node.
type ProbeFunc func(ctx context.Context, devnode string) (FS, error)

// Options configures a Watcher. A nil *Options, and every zero field,
// means the documented default.
type Options struct {
	Mode Mode // default ModeAuto
	// Match selects the events passed to the handler; none = all block
	// devices. The watcher tracks every block device regardless, so a
	// Removed event still carries the identity its Added event had.
	Match []Matcher
	// Probe fills in FS for kernel events and for devices udev did not
	// probe. Default: the luksdrive/probe superblock reader.
	Probe ProbeFunc
	// ReceiveBuffer is the socket's receive buffer in bytes; default 4 MiB.
	ReceiveBuffer int
	// Logger receives dropped messages (warn), lost events (warn) and
	// duplicates and ignored devices (debug). Default: discard.
	Logger *slog.Logger
	// SysDir and UdevDataDir locate sysfs and udev's database for the
	// scan of present devices; defaults "/sys" and "/run/udev/data".
	SysDir      string
	UdevDataDir string
}

func (o *Options) withDefaults() Options {
	var r Options
	if o != nil {
		r = *o
	}
	if r.Mode == ModeAuto {
		r.Mode = ModeKernel
		if _, err := os.Stat("/run/udev/control"); err == nil {
			r.Mode = ModeUdev
		}
	}
	if r.ReceiveBuffer <= 0 {
		r.ReceiveBuffer = 4 << 20
	}
	if r.Logger == nil {
		r.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if r.Probe == nil {
		r.Probe = defaultProbe
	}
	if r.SysDir == "" {
		r.SysDir = "/sys"
	}
	if r.UdevDataDir == "" {
		r.UdevDataDir = "/run/udev/data"
	}
	return r
}

// Watcher reports block devices as they are added, changed and removed.
// Create one with New, call Run once, then Close.
type Watcher struct {
	opts  Options
	group uint32
	log   *slog.Logger
	open  func() (source, error)

	mu  sync.Mutex // guards src, which Run replaces after an overrun
	src source

	// known is every block device the watcher has reported or would
	// have, by sysfs path. Only Run touches it.
	known map[string]*Event
}

// New subscribes to uevents right away, so nothing that happens between
// New and Run is lost.
func New(opts *Options) (*Watcher, error) {
	o := opts.withDefaults()
	group := uint32(groupKernel)
	switch o.Mode {
	case ModeUdev:
		group = groupUdev
	case ModeKernel:
	default:
		return nil, fmt.Errorf("udevwatch: unknown mode %d", int(o.Mode))
	}
	return newWatcher(o, group, func() (source, error) { return openNetlink(group, o.ReceiveBuffer) })
}

func newWatcher(o Options, group uint32, open func() (source, error)) (*Watcher, error) {
	w := &Watcher{opts: o, group: group, log: o.Logger, open: open, known: make(map[string]*Event)}
	src, err := w.open()
	if err != nil {
		return nil, &OpError{Op: "listen", Path: "netlink " + o.Mode.String(), Err: err}
	}
	w.src = src
	return w, nil
}

// Mode is the mode the watcher listens in, ModeAuto resolved.
func (w *Watcher) Mode() Mode { return w.opts.Mode }

// Close releases the socket.
func (w *Watcher) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.src == nil {
		return nil
	}
	err := w.src.Close()
	w.src = nil
	return err
}

func (w *Watcher) source() source {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.src
}

// Run first reports every block device already present as Added, then
// reports changes as they come, calling fn for each matching event from
// this goroutine, until ctx is done; it then returns ctx's error. fn
// should return quickly: events queue in the kernel meanwhile, and a full
// queue loses events (which the watcher recovers from with a re-scan).
func (w *Watcher) Run(ctx context.Context, fn func(Event)) error {
	stop := context.AfterFunc(ctx, func() {
		if s := w.source(); s != nil {
			s.interrupt()
		}
	})
	defer stop()

	w.rescan(ctx, fn)
	for {
		src := w.source()
		if src == nil {
			return &OpError{Op: "watch", Err: os.ErrClosed}
		}
		b, from, err := src.recv()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		switch {
		case errors.Is(err, errOverrun):
			w.log.Warn("uevents lost (receive buffer overrun), reopening and re-scanning devices")
			if err := w.reopen(); err != nil {
				return &OpError{Op: "listen", Path: "netlink " + w.opts.Mode.String(), Err: err}
			}
			if ctx.Err() != nil { // interrupt may have hit the old socket
				return ctx.Err()
			}
			w.rescan(ctx, fn)
			continue
		case errors.Is(err, ErrMalformed):
			w.log.Warn("dropped uevent", "err", err)
			continue
		case err != nil:
			return &OpError{Op: "watch", Path: "netlink " + w.opts.Mode.String(), Err: err}
		}
		w.handleRaw(ctx, b, from, fn)
	}
}

func (w *Watcher) reopen() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.src != nil {
		w.src.Close()
		w.src = nil
	}
	src, err := w.open()
	if err != nil {
		return err
	}
	w.src = src
	return nil
}

// handleRaw checks, parses and applies one datagram.
func (w *Watcher) handleRaw(ctx context.Context, b []byte, from sender, fn func(Event)) {
	if err := trusted(from, w.group); err != nil {
		w.log.Warn("dropped uevent from untrusted sender", "reason", err.Error())
		return
	}
	m, err := ParseMessage(b)
	if err != nil {
		w.log.Warn("dropped uevent", "err", err, "len", len(b))
		return
	}
	want := FormatKernel
	if w.group == groupUdev {
		want = FormatUdev
	}
	if m.Format != want {
		w.log.Warn("dropped uevent in the wrong format", "format", m.Format, "want", want)
		return
	}
	w.apply(ctx, m, fn)
}

// apply turns a parsed message into at most one event (two for a move).
func (w *Watcher) apply(ctx context.Context, m *Message, fn func(Event)) {
	ev, ok := eventFromEnv(m.DevPath, m.Env)
	if !ok {
		return // not a block device node
	}
	ev.Source = SourceKernel
	if m.Format == FormatUdev {
		ev.Source = SourceUdev
	}
	switch m.Action {
	case "remove":
		w.forget(ev, fn)
	case "move":
		if old, ok := m.Env["DEVPATH_OLD"]; ok {
			w.forget(Event{SysPath: "/sys" + old, Source: ev.Source, Seq: ev.Seq}, fn)
		}
		fallthrough
	case "add", "change", "online":
		w.fill(ctx, &ev)
		w.update(ev, fn)
	}
}

// fill probes the device when nobody else did: always for kernel events,
// and for udev events when udev's blkid left no trace.
func (w *Watcher) fill(ctx context.Context, ev *Event) {
	if ev.Source == SourceUdev || ev.Source == SourceCrawl {
		_, probed := ev.Props["ID_FS_TYPE"]
		// A partition inherits its disk's ID_PART_TABLE_TYPE, so only a
		// disk's says udev looked and found a table rather than a filesystem.
		_, table := ev.Props["ID_PART_TABLE_TYPE"]
		if probed || table && ev.DevType == "disk" {
			return
		}
	}
	fs, err := w.opts.Probe(ctx, ev.DevNode)
	if err != nil {
		// Typical causes: no recognisable superblock, or the device was
		// pulled while we looked. Either way there is nothing to match on.
		w.log.Debug("probe found no filesystem", "dev", ev.DevNode, "err", err)
		return
	}
	ev.FS = fs
	ev.setLUKS()
}

func (w *Watcher) update(ev Event, fn func(Event)) {
	old := w.known[ev.SysPath]
	if old != nil && sameDevice(old, &ev) {
		w.log.Debug("duplicate uevent", "dev", ev.DevNode, "source", ev.Source, "seq", ev.Seq)
		return
	}
	ev.Action = Added
	if old != nil {
		ev.Action = Changed
	}
	stored := ev
	w.known[ev.SysPath] = &stored
	w.emit(ev, fn)
}

func (w *Watcher) forget(ev Event, fn func(Event)) {
	old := w.known[ev.SysPath]
	if old == nil {
		w.log.Debug("removal of an unknown device", "syspath", ev.SysPath, "seq", ev.Seq)
		return
	}
	delete(w.known, ev.SysPath)
	gone := *old
	gone.Action, gone.Source, gone.Seq = Removed, ev.Source, ev.Seq
	if ev.Props != nil {
		gone.Props = ev.Props
	}
	w.emit(gone, fn)
}

func (w *Watcher) emit(ev Event, fn func(Event)) {
	if !MatchAny(w.opts.Match, ev) {
		w.log.Debug("event matches no matcher", "event", ev.String())
		return
	}
	fn(ev)
}

// rescan reconciles the watcher's view with the devices present now:
// new ones are Added, changed ones Changed, vanished ones Removed.
func (w *Watcher) rescan(ctx context.Context, fn func(Event)) {
	// In kernel mode events carry no udev properties, so neither may the
	// scan, or every kernel event would look like a change.
	udevDB := w.opts.UdevDataDir
	if w.group == groupKernel {
		udevDB = ""
	}
	present, err := scanBlock(w.opts.SysDir, udevDB)
	if err != nil {
		w.log.Warn("scan of present block devices incomplete", "err", err)
	}
	seen := make(map[string]bool, len(present))
	for _, ev := range present {
		seen[ev.SysPath] = true
	}
	for path := range w.known {
		if !seen[path] {
			w.forget(Event{SysPath: path, Source: SourceCrawl}, fn)
		}
	}
	for _, ev := range present {
		if ctx.Err() != nil {
			return
		}
		w.fill(ctx, &ev)
		w.update(ev, fn)
	}
}
