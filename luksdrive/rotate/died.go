package rotate

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/extdrive/extdrive/blinkstick"
	"github.com/extdrive/extdrive/luksdrive/config"
)

// FailedJob is how a job's process ended, as systemd tells the unit its
// OnFailure= starts (MONITOR_INVOCATION_ID, MONITOR_SERVICE_RESULT,
// MONITOR_EXIT_CODE and MONITOR_EXIT_STATUS, systemd 251 and later).
// Empty fields are unknown.
type FailedJob struct {
	Invocation string // the failed unit's invocation ID
	Result     string // "exit-code", "signal", "core-dump", "timeout", "oom-kill", ...
	ExitCode   string // "exited", "killed" or "dumped"
	ExitStatus string // the exit status, or the signal's name
}

// FailedJobFromEnv reads a FailedJob from the MONITOR_* variables.
func FailedJobFromEnv(getenv func(string) string) FailedJob {
	return FailedJob{
		Invocation: getenv("MONITOR_INVOCATION_ID"),
		Result:     getenv("MONITOR_SERVICE_RESULT"),
		ExitCode:   getenv("MONITOR_EXIT_CODE"),
		ExitStatus: getenv("MONITOR_EXIT_STATUS"),
	}
}

func (f FailedJob) String() string {
	var parts []string
	for _, kv := range [][2]string{{"result", f.Result}, {"code", f.ExitCode}, {"status", f.ExitStatus}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	if len(parts) == 0 {
		return "the job failed (how is unknown)"
	}
	return "the job's process ended with " + strings.Join(parts, " ")
}

// FailureOptions configure ReportFailedJob.
type FailureOptions struct {
	Logger *slog.Logger
	// LED shows the failure; nil opens the configured one.
	LED *blinkstick.Status
}

// ReportFailedJob reports a failed job from outside it: the LED turns red
// and, unless the job reported its failure itself, URL/fail is pinged
// and the on-failure command runs, as the job does when it fails. A job
// cannot report when it is killed (by a signal, the OOM killer or a
// timeout), crashes, or fails before its run starts; a job that did
// report left a failed record with its invocation ID in the host history,
// so nobody is told twice. It returns whether it notified.
func ReportFailedJob(ctx context.Context, c *config.Config, d *config.Drive, f FailedJob, opts *FailureOptions) (bool, error) {
	o := FailureOptions{}
	if opts != nil {
		o = *opts
	}
	log := logger(o.Logger).With("drive", d.Name)
	led := o.LED
	if led == nil {
		led = OpenLED(ctx, c, log)
		defer led.Close()
	}
	led.Set(ctx, blinkstick.Failed)

	host, err := ReadHistory(HostHistoryPath(c))
	if err != nil {
		log.Warn("host history unreadable; reporting the failure anyway", "err", err)
		host = &History{}
	}
	if f.Invocation != "" {
		if r := host.LastRun(d.Name); r != nil && r.Invocation == f.Invocation && !r.OK {
			log.Info("the job reported its failure itself", "run", r.ID, "err", r.Error)
			return false, nil
		}
	}
	reason := f.String()
	log.Error("backup job failed without reporting it", "how", reason)
	body := []byte(reason + "\n")
	if tail := unfinishedRunTail(c, d.Name, host); len(tail) > 0 {
		body = append(append(body, "The end of its run log:\n"...), tail...)
	}
	env := []string{"EXTDRIVE_DRIVE=" + d.Name, "EXTDRIVE_UUID=" + d.UUID, "EXTDRIVE_RESULT=failed", "EXTDRIVE_ERROR=" + reason}
	return true, notifyFailure(ctx, c, configPinger(c, log), "", body, env, log)
}

// unfinishedRunTail returns the end of the drive's newest run log when
// that run is not in the history, i.e. it never finished: the log of the
// job that died.
func unfinishedRunTail(c *config.Config, drive string, h *History) []byte {
	ids, err := ListLogs(c, drive)
	if err != nil || len(ids) == 0 {
		return nil
	}
	id := ids[len(ids)-1]
	if _, err := h.Find(drive, id); err == nil {
		return nil
	}
	f, err := os.Open(filepath.Join(LogDir(c, drive), id+".log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > tailSize {
		f.Seek(st.Size()-tailSize, io.SeekStart)
	}
	b, err := io.ReadAll(io.LimitReader(f, tailSize))
	if err != nil {
		return nil
	}
	return b
}
