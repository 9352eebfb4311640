package rotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive/config"
	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

// Options configures Run. nil means: the first configured drive that is
// present, no --force, no --allow-empty, time.Now, no logging, no prompt,
// the LED from the configuration.
type Options struct {
	// Drive is a configured drive's name or LUKS UUID; "" picks the first
	// configured drive that is plugged in.
	Drive string
	// Force copies even when the drive is not due.
	Force bool
	// AllowEmpty copies a source that is empty although its previous
	// copy is not (a source that really was emptied).
	AllowEmpty bool
	// Now is the wall clock, for the schedule and the records; durations
	// are always measured on the monotonic clock. nil = time.Now.
	Now func() time.Time
	// Passphrase is asked for drives whose key is "prompt". The job owns
	// the returned slice and wipes it once the drive is unlocked.
	Passphrase func(ctx context.Context, d *config.Drive) ([]byte, error)
	// Progress receives the copy engine's progress for each source.
	Progress func(source string, p treecopy.Progress)
	// LED overrides the stick opened from the configuration (tests, or
	// a caller that already holds it). The job does not close it.
	LED    *blinkstick.Status
	Logger *slog.Logger
	// Invocation is the systemd invocation ID of the unit running the
	// job ($INVOCATION_ID), kept in the run's record.
	Invocation string

	ops driveOps // nil = luksdrive (ops_linux.go)
}

// Result says what the job did.
type Result struct {
	Drive    string
	Decision Decision
	// Record is the run's record; nil when nothing was attempted (not
	// due, already running).
	Record *Record
}

// driveOps is the kernel side of the job: find the drive, unlock and
// mount it, and sync, unmount, lock and spin it down again.
type driveOps interface {
	present(ctx context.Context, d *config.Drive) bool
	// ensure unlocks and mounts d and returns the mount point. The
	// passphrase, if any, is owned by the caller.
	ensure(ctx context.Context, d *config.Drive, passphrase []byte, log *slog.Logger) (string, error)
	release(ctx context.Context, d *config.Drive, log *slog.Logger) error
	spindown(ctx context.Context, d *config.Drive, log *slog.Logger) error
}

// Run is one rotation job for one drive, step by step as the user sees
// it: take the drive's lock (ErrAlreadyRunning if another job has it);
// decide whether the drive is due (ErrNotDue, LED blinking blue, unless
// Force); LED yellow; unlock and mount; pre hook; copy every source
// under the wrapper; record the result on the drive and the host; post
// hook; sync, unmount, lock; spin down; LED green only once the mapping is
// closed; ping success.
//
// On failure the LED turns red, the post hook still runs (it usually
// restarts what the pre hook stopped), the drive is unmounted and locked
// where possible, URL/fail is pinged with the log tail and the failure
// command runs; the returned error is an *OpError naming the failed step.
// Copies made before are never touched by a failed run (the copy engine
// publishes a snapshot only once it is complete).
func Run(ctx context.Context, c *config.Config, opts *Options) (*Result, error) {
	o := Options{}
	if opts != nil {
		o = *opts
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ops == nil {
		o.ops = defaultOps{}
	}
	log := logger(o.Logger)

	d, err := pickDrive(ctx, c, o)
	if err != nil {
		return nil, err
	}
	res := &Result{Drive: d.Name}
	lk, err := lockDrive(c.StateDir, d.Name)
	if err != nil {
		return res, &OpError{Op: "lock", Drive: d.Name, Err: err}
	}
	defer lk.unlock()

	host, err := ReadHistory(HostHistoryPath(c))
	if err != nil {
		// A damaged host history must not block the backup: the drive's
		// copy rebuilds it below.
		log.Warn("host history unreadable; rebuilding it from the drive", "err", err)
		host = &History{}
	}

	led := o.LED
	if led == nil {
		led = OpenLED(ctx, c, log)
		defer led.Close()
	}

	now := o.Now()
	res.Decision = Decide(c, host, d.Name, now)
	if !res.Decision.Due && !o.Force {
		notDue(ctx, c, led, log, res.Decision)
		return res, &OpError{Op: "decide", Drive: d.Name, Err: fmt.Errorf("%w: %s (use --force to copy anyway)", ErrNotDue, res.Decision.Reason)}
	}

	j := &job{c: c, o: o, d: d, led: led, host: host, start: now, mono: time.Now()}
	j.rec = Record{ID: runID(now, d.Name), Seq: host.NextSeq(), Drive: d.Name, UUID: d.UUID,
		Start: now, Forced: !res.Decision.Due, ClockSuspect: res.Decision.ClockSuspect, Invocation: o.Invocation}
	j.rec.Host, _ = os.Hostname()
	rl, err := CreateRunLog(c, d.Name, j.rec.ID)
	if err != nil {
		log.Warn("cannot create the run log; logging to the terminal only", "err", err)
	} else {
		j.runlog = rl
		j.rec.Log = filepath.Base(rl.Path())
		defer rl.Close()
		log = slog.New(teeHandler{log.Handler(), slog.NewTextHandler(rl, &slog.HandlerOptions{Level: slog.LevelDebug})})
	}
	j.log = log.With("drive", d.Name)
	j.opsLog = log // luksdrive names the drive in its own records
	j.ping = configPinger(c, j.log)

	err = j.run(ctx, res)
	if !errors.Is(err, ErrNotDue) {
		rec := j.rec
		res.Record = &rec
	}
	return res, err
}

func pickDrive(ctx context.Context, c *config.Config, o Options) (*config.Drive, error) {
	if o.Drive != "" {
		d, ok := c.Drive(o.Drive)
		if !ok {
			names := make([]string, len(c.Drives))
			for i := range c.Drives {
				names[i] = c.Drives[i].Name
			}
			return nil, &OpError{Op: "find", Drive: o.Drive, Err: fmt.Errorf("%w %s (configured: %s)", ErrUnknownDrive, c.Path, strings.Join(names, ", "))}
		}
		return d, nil
	}
	for i := range c.Drives {
		if o.ops.present(ctx, &c.Drives[i]) {
			return &c.Drives[i], nil
		}
	}
	return nil, &OpError{Op: "find", Err: fmt.Errorf("%w: plug one in or name it", ErrNoDrive)}
}

// OpenLED opens the LED the configuration names, for the job states
// (blinkstick.Working, Done, ...). It returns nil, a valid no-op Status,
// when no LED is configured; a configured stick that cannot be opened
// logs one warning and gives a disabled Status: the LED never fails a job.
func OpenLED(ctx context.Context, c *config.Config, log *slog.Logger) *blinkstick.Status {
	if !c.LED.Enabled {
		return nil
	}
	idx := c.LED.Index
	s, _ := blinkstick.OpenStatus(ctx, &blinkstick.StatusOptions{
		Open:   &blinkstick.OpenOptions{Serial: c.LED.Serial, Limit: c.LED.Limit},
		Index:  &idx,
		Logger: log,
	})
	return s
}

// notDue tells the user on the LED that the drive plugged in is not the
// one to copy to: three blue blinks, then dark. It waits for the blinks
// (two seconds) so they are seen even though the job ends here.
func notDue(ctx context.Context, c *config.Config, led *blinkstick.Status, log *slog.Logger, d Decision) {
	log.Info("drive is not due; nothing to do", "drive", d.Drive, "reason", d.Reason, "next", d.Turn)
	st := led.Stick()
	if st == nil {
		return
	}
	p := blinkstick.Pattern{Kind: blinkstick.Blink, Color: blinkstick.Interactive.Color(),
		Repeats: 3, Period: 300 * time.Millisecond, Index: c.LED.Index}
	if err := st.Play(ctx, p); err != nil {
		log.Warn("LED", "err", err)
	}
}

type job struct {
	c      *config.Config
	o      Options
	d      *config.Drive
	led    *blinkstick.Status
	log    *slog.Logger
	opsLog *slog.Logger
	ping   *Pinger
	runlog *RunLog
	host   *History
	rec    Record
	start  time.Time // wall clock, for records
	mono   time.Time // monotonic start, for durations

	mount   string // set once mounted
	mounted bool
}

func (j *job) env(extra ...string) []string {
	e := []string{"EXTDRIVE_DRIVE=" + j.d.Name, "EXTDRIVE_UUID=" + j.d.UUID, "EXTDRIVE_RUN=" + j.rec.ID}
	if j.mount != "" {
		e = append(e, "EXTDRIVE_MOUNT="+j.mount, "EXTDRIVE_DEST="+filepath.Join(j.mount, j.c.Copy.Dir))
	}
	if j.runlog != nil {
		e = append(e, "EXTDRIVE_LOG="+j.runlog.Path())
	}
	return append(e, extra...)
}

func (j *job) step(op string, err error) error {
	if err == nil {
		return nil
	}
	return &OpError{Op: op, Drive: j.d.Name, Err: err}
}

func (j *job) run(ctx context.Context, res *Result) error {
	j.log.Info("rotation job starting", "run", j.rec.ID, "reason", res.Decision.Reason, "forced", j.rec.Forced)
	j.led.Set(ctx, blinkstick.Working)

	err := j.copyPhase(ctx, res)
	if errors.Is(err, ErrNotDue) {
		// Only the drive's history showed it is not due: not a failure.
		// Lock it again, keep what was learnt, record no run.
		if rerr := j.o.ops.release(context.WithoutCancel(ctx), j.d, j.opsLog); rerr != nil {
			j.log.Error("could not unmount and lock the drive; do not unplug it", "err", rerr)
			j.led.Set(ctx, blinkstick.Failed)
			return j.step("release", rerr)
		}
		if herr := WriteHistory(HostHistoryPath(j.c), j.host); herr != nil {
			j.log.Warn("could not write the host history", "err", herr)
		}
		j.led.Set(ctx, blinkstick.Idle)
		notDue(ctx, j.c, j.led, j.log, res.Decision)
		return err
	}
	j.finishRecord(err)
	if j.mounted {
		if werr := j.writeHistories(true); werr != nil {
			j.log.Warn("could not record the run on the drive", "err", werr)
			if err == nil {
				err = j.step("record", werr)
			}
		}
	}
	// The post hook runs on failure and cancellation too (bounded by its
	// timeout): it typically restarts what the pre hook stopped.
	result := "ok"
	if err != nil {
		result = "failed"
	}
	if perr := runCommand(context.WithoutCancel(ctx), "post hook", j.c.Hooks.Post, time.Duration(j.c.Hooks.PostTimeout),
		j.env("EXTDRIVE_RESULT="+result), nil, j.hookOut()); perr != nil {
		j.log.Error("post hook failed", "err", perr)
		if err == nil {
			err = j.step("post-hook", perr)
		}
	}
	if j.mounted {
		// Not after a failed ensure: it already undid its own steps, and
		// the mount point may be shared with another drive that is
		// mounted there now.
		rctx := context.WithoutCancel(ctx)
		if rerr := j.o.ops.release(rctx, j.d, j.opsLog); rerr != nil {
			j.log.Error("could not unmount and lock the drive; do not unplug it", "err", rerr)
			if err == nil {
				err = j.step("release", rerr)
			}
		} else {
			j.mounted = false
			j.log.Info("drive unmounted and locked")
		}
	}
	if err == nil && j.c.Spindown.Enabled {
		if serr := j.o.ops.spindown(ctx, j.d, j.opsLog); serr != nil {
			// The data is safe and the mapping closed: a drive that
			// will not sleep is worth a warning, not a red LED.
			j.log.Warn("spindown failed", "err", serr)
		}
	}
	// Whatever the outcome, the record in the host history (rebuilt from
	// the drive next time if this fails).
	j.finishRecord(err)
	if herr := j.writeHistories(false); herr != nil {
		j.log.Warn("could not write the host history", "err", herr)
	}
	if err != nil {
		j.fail(ctx, err)
		return err
	}
	j.led.Set(ctx, blinkstick.Done)
	j.log.Info("rotation job finished; the drive is locked and safe to unplug",
		"duration", j.rec.Duration.Round(time.Second), "bytes", j.rec.Bytes, "snapshot", j.rec.Snapshot)
	if perr := j.ping.Success(ctx, j.rec.ID, j.tail()); perr != nil {
		j.log.Warn("success ping failed", "err", perr)
	}
	return nil
}

func (j *job) finishRecord(err error) {
	j.rec.End = j.o.Now()
	j.rec.Duration = time.Since(j.mono)
	j.rec.OK = err == nil
	j.rec.Error = ""
	if err != nil {
		j.rec.Error = strings.Join(strings.Fields(err.Error()), " ")
	}
}

func (j *job) fail(ctx context.Context, err error) {
	j.led.Set(ctx, blinkstick.Failed)
	j.log.Error("rotation job failed", "err", err)
	notifyFailure(ctx, j.c, j.ping, j.rec.ID, j.tail(), j.env("EXTDRIVE_RESULT=failed", "EXTDRIVE_ERROR="+j.rec.Error), j.log)
}

// notifyFailure sends the failure ping (with run ID rid, if known) and
// runs the configured failure command with body on its stdin and env
// added to its environment. Both go out even when ctx is cancelled; their
// errors are logged, and the first is returned.
func notifyFailure(ctx context.Context, c *config.Config, ping *Pinger, rid string, body []byte, env []string, log *slog.Logger) error {
	nctx := context.WithoutCancel(ctx)
	var first error
	if err := ping.Fail(nctx, rid, body); err != nil {
		log.Warn("failure ping failed", "err", err)
		first = err
	}
	if fc := c.Notify.OnFailure; len(fc) > 0 {
		if err := runCommand(nctx, "failure command", fc, time.Duration(c.Notify.OnFailureTimeout),
			env, strings.NewReader(string(body)), &lineLogger{log: log}); err != nil {
			log.Error("failure command failed", "err", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

func (j *job) tail() []byte {
	if j.runlog == nil {
		return []byte(j.rec.Error)
	}
	return j.runlog.Tail()
}

// hookOut is where hook output goes: the run log (or nowhere).
func (j *job) hookOut() *lineLogger { return &lineLogger{log: j.log} }

// copyPhase: unlock and mount, merge histories, pre hook, source checks,
// copy under the wrapper.
func (j *job) copyPhase(ctx context.Context, res *Result) error {
	var pass []byte
	if j.d.Key == config.KeyPrompt {
		if j.o.Passphrase == nil {
			return j.step("unlock", errors.New("key is \"prompt\" but no terminal to ask on; run extdrive rotate by hand or configure a key file"))
		}
		p, err := j.o.Passphrase(ctx, j.d)
		if err != nil {
			return j.step("unlock", err)
		}
		pass = p
		defer clear(pass)
	}
	mp, err := j.o.ops.ensure(ctx, j.d, pass, j.opsLog)
	clear(pass)
	if err != nil {
		return j.step("ensure", err)
	}
	j.mount, j.mounted = mp, true
	j.log.Info("drive unlocked and mounted", "mount", mp)

	driveHist, err := ReadHistory(DriveHistoryPath(mp))
	if err != nil {
		j.log.Warn("drive history unreadable; rebuilding it from the host", "err", err)
		driveHist = &History{}
	}
	merged := Merge(j.host, driveHist)
	if len(merged.Runs) != len(j.host.Runs) {
		j.log.Info("history merged from the drive", "host_runs", len(j.host.Runs), "merged_runs", len(merged.Runs))
		// Seq must stay above everything either side knows.
		j.rec.Seq = max(j.rec.Seq, merged.NextSeq())
	}
	j.host = merged
	if !j.rec.Forced {
		// The drive may know runs the host forgot (a new SD card): ask again.
		dec := Decide(j.c, merged, j.d.Name, j.start)
		res.Decision = dec
		if !dec.Due {
			return j.step("decide", fmt.Errorf("%w: %s (found in the drive's history; use --force to copy anyway)", ErrNotDue, dec.Reason))
		}
	}

	if err := j.ping.Start(ctx, j.rec.ID); err != nil {
		j.log.Warn("start ping failed", "err", err)
	}
	if err := runCommand(ctx, "pre hook", j.c.Hooks.Pre, time.Duration(j.c.Hooks.PreTimeout), j.env(), nil, j.hookOut()); err != nil {
		return j.step("pre-hook", err)
	}
	dest := filepath.Join(mp, j.c.Copy.Dir)
	if err := checkSources(j.c, dest, j.o.AllowEmpty); err != nil {
		return j.step("check-source", err)
	}
	if err := os.MkdirAll(dest, 0o700); err != nil {
		return j.step("copy", err)
	}

	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if w := j.c.Hooks.Wrapper; len(w) > 0 {
		h, err := startWrapper(cctx, w, time.Duration(j.c.Hooks.PreTimeout), j.hookOut())
		if err != nil {
			return j.step("wrapper", err)
		}
		j.log.Info("copy runs under the wrapper", "wrapper", w.String())
		go func() {
			select {
			case <-h.exited:
				cancel(fmt.Errorf("%w: wrapper %s exited during the copy: %v", ErrHook, w, h.err))
			case <-cctx.Done():
			}
		}()
		defer func() {
			if rerr := h.release(time.Duration(j.c.Hooks.PostTimeout)); rerr != nil {
				j.log.Warn("wrapper", "err", rerr)
			}
		}()
	}
	return j.copyAll(cctx, dest)
}

func (j *job) copyAll(ctx context.Context, dest string) error {
	var mu sync.Mutex
	frac := 0.0
	j.led.Progress(ctx, func() float64 { mu.Lock(); defer mu.Unlock(); return frac })
	n := float64(len(j.c.Sources))
	for i, s := range j.c.Sources {
		i := float64(i)
		opts := &treecopy.Options{
			Exclude: s.Exclude,
			Scan:    true,
			Now:     j.o.Now,
			Logger:  j.log.With("set", s.Name),
			Progress: func(p treecopy.Progress) {
				f := 0.0
				if p.TotalBytes > 0 {
					f = min(float64(p.Bytes)/float64(p.TotalBytes), 1)
				}
				mu.Lock()
				frac = (i + f) / n
				mu.Unlock()
				if j.o.Progress != nil {
					j.o.Progress(s.Name, p)
				}
			},
		}
		dst := filepath.Join(dest, s.Name)
		j.log.Info("copying", "source", s.Path, "to", dst, "mode", j.c.Copy.Mode)
		var r *treecopy.Result
		var err error
		if j.c.Copy.Mode == config.ModeMirror {
			if err = os.MkdirAll(dst, 0o700); err == nil {
				r, err = treecopy.Mirror(ctx, s.Path, dst, opts)
			}
		} else {
			opts.Retention = &treecopy.Retention{Last: j.c.Copy.Keep, Monthly: j.c.Copy.KeepMonthly, Yearly: j.c.Copy.KeepYearly}
			if err = os.MkdirAll(dst, 0o700); err == nil {
				r, err = treecopy.Snapshot(ctx, s.Path, dst, opts)
			}
		}
		if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
			err = fmt.Errorf("%w (%v)", err, cause)
		}
		if err != nil {
			return j.step("copy", fmt.Errorf("source %s: %w", s.Path, err))
		}
		j.rec.Bytes += r.Bytes
		j.rec.Files += r.Files
		if j.c.Copy.Mode == config.ModeSnapshot {
			j.rec.Snapshot = filepath.Base(r.Path)
		}
		if len(r.Changed) > 0 {
			j.log.Warn("files changed while being copied; the next run copies them again", "source", s.Name, "count", len(r.Changed))
		}
		j.log.Info("copied", "source", s.Name, "files", r.Files, "copied", r.Copied, "linked", r.Linked,
			"bytes", r.Bytes, "pruned", len(r.Pruned), "elapsed", r.Elapsed.Round(time.Millisecond))
	}
	j.led.Set(ctx, blinkstick.Working)
	return nil
}

// writeHistories records the run on the drive (onDrive) or on the host.
func (j *job) writeHistories(onDrive bool) error {
	j.host.Add(j.rec)
	if onDrive {
		return WriteHistory(DriveHistoryPath(j.mount), j.host)
	}
	return WriteHistory(HostHistoryPath(j.c), j.host)
}

// checkSources refuses to copy a missing source, or an empty one over a
// previous copy that is not empty: a source whose disk failed to mount
// must not look like "everything was deleted" and, in mirror mode, wipe
// the last good copy.
func checkSources(c *config.Config, dest string, allowEmpty bool) error {
	for _, s := range c.Sources {
		fi, err := os.Stat(s.Path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v (is its disk mounted?)", ErrEmptySource, s.Path, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%w: %s is not a directory", ErrEmptySource, s.Path)
		}
		if allowEmpty {
			continue
		}
		empty, err := dirEmpty(s.Path)
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrEmptySource, s.Path, err)
		}
		if !empty {
			continue
		}
		prev := filepath.Join(dest, s.Name)
		if c.Copy.Mode == config.ModeSnapshot {
			prev = filepath.Join(prev, "latest")
		}
		if pe, err := dirEmpty(prev); err == nil && !pe {
			return fmt.Errorf("%w: %s is empty but its previous copy %s is not (is its disk mounted? use --allow-empty if it really was emptied)", ErrEmptySource, s.Path, prev)
		}
	}
	return nil
}

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return true, nil
}

// lineLogger turns a command's output into one log record per line.
// The wrapper's stdout and stderr arrive from two goroutines.
type lineLogger struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			break
		}
		l.log.Info("output", "line", string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 4096 {
		l.log.Info("output", "line", string(l.buf))
		l.buf = l.buf[:0]
	}
	return len(p), nil
}
