package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

type syncFlags struct {
	mode        string
	excludes    []string
	excludeFrom string
	verify      bool
	keepLast    int
	keepMonthly int
	keepYearly  int
	jobs        int
	progress    string
	logEvery    time.Duration
	scan        bool
}

func newSyncCmd(a *app) *cobra.Command {
	var f syncFlags
	cmd := &cobra.Command{
		Use:   "sync [flags] SRC DST",
		Short: "Copy a tree onto the drive as a dated hard-link snapshot or an exact mirror",
		Long: `sync copies SRC onto the backup drive.

--mode=snapshot (default): a new dated snapshot DST/YYYY-MM-DDTHHMMSSZ, files
unchanged since DST/latest hard-linked from it; the snapshot only appears
(and DST/latest only moves) once it is complete and on disk. --keep-* prune
old snapshots after that.

--mode=mirror: DST becomes an exact copy of SRC, like rsync -aHAX --delete SRC/ DST/.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("sync needs SRC and DST, got %d arguments (see extdrive sync --help)", len(args))
			}
			return runSync(cmd, a, &f, args[0], args[1])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.mode, "mode", "snapshot", "snapshot or mirror")
	fl.StringArrayVar(&f.excludes, "exclude", nil, "leave out entries matching this pattern (repeatable; rsync-like: name, /anchored, dir/, *, **)")
	fl.StringVar(&f.excludeFrom, "exclude-from", "", "read exclude patterns from this file, one per line (# comments)")
	fl.BoolVar(&f.verify, "verify", false, "re-read the copy and compare checksums with the source")
	fl.IntVar(&f.keepLast, "keep-last", 0, "snapshot: keep the N newest snapshots (with --keep-monthly/--keep-yearly; none set keeps all)")
	fl.IntVar(&f.keepMonthly, "keep-monthly", 0, "snapshot: also keep the newest snapshot of each of the last N months")
	fl.IntVar(&f.keepYearly, "keep-yearly", 0, "snapshot: also keep the newest snapshot of each of the last N years")
	fl.IntVar(&f.jobs, "jobs", 0, "files copied at once (0: 4 per CPU)")
	fl.StringVar(&f.progress, "progress", "auto", "auto (a bar on a terminal, log lines otherwise), bar, log or none")
	fl.DurationVar(&f.logEvery, "log-every", 5*time.Second, "time between progress log lines")
	fl.BoolVar(&f.scan, "scan", true, "count the source alongside the copy, for totals and an ETA")
	return cmd
}

func runSync(cmd *cobra.Command, a *app, f *syncFlags, src, dst string) error {
	if f.mode != "snapshot" && f.mode != "mirror" {
		return usagef("--mode must be snapshot or mirror, not %q", f.mode)
	}
	if f.keepLast < 0 || f.keepMonthly < 0 || f.keepYearly < 0 {
		return usagef("--keep-last, --keep-monthly and --keep-yearly take a count >= 0")
	}
	if f.jobs < 0 {
		return usagef("--jobs takes a count >= 0")
	}
	retain := f.keepLast+f.keepMonthly+f.keepYearly > 0
	if retain && f.mode == "mirror" {
		return usagef("--keep-* apply to snapshots; a mirror has one copy")
	}
	if f.logEvery <= 0 {
		return usagef("--log-every must be positive")
	}
	patterns := append([]string(nil), f.excludes...)
	if f.excludeFrom != "" {
		more, err := readPatterns(f.excludeFrom)
		if err != nil {
			return usagef("--exclude-from: %v", err)
		}
		patterns = append(patterns, more...)
	}
	if _, err := treecopy.ParseExcludes(patterns); err != nil {
		return usagef("%v", err)
	}
	style := f.progress
	switch style {
	case "auto":
		style = "log"
		if out, ok := a.stdout.(*os.File); ok && term.IsTerminal(int(out.Fd())) {
			style = "bar"
		}
	case "bar", "log", "none":
	default:
		return usagef("--progress must be auto, bar, log or none, not %q", f.progress)
	}

	opts := &treecopy.Options{
		Exclude: patterns,
		Workers: f.jobs,
		Verify:  f.verify,
		Scan:    f.scan && style != "none",
		Logger:  a.log,
	}
	if retain {
		opts.Retention = &treecopy.Retention{Last: f.keepLast, Monthly: f.keepMonthly, Yearly: f.keepYearly}
	}
	var bar *progressbar.ProgressBar
	switch style {
	case "bar":
		bar = progressbar.NewOptions64(-1,
			progressbar.OptionSetWriter(a.stdout),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetDescription("scanning"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionClearOnFinish(),
		)
		opts.ProgressInterval = 200 * time.Millisecond
		opts.Progress = func(p treecopy.Progress) {
			if p.TotalBytes > 0 && bar.GetMax64() != p.TotalBytes {
				bar.ChangeMax64(p.TotalBytes)
			}
			files := fmt.Sprintf("%d files", p.Files)
			if p.TotalFiles > 0 {
				files = fmt.Sprintf("%d/%d files", p.Files, p.TotalFiles)
			}
			bar.Describe(files)
			bar.Set64(p.Bytes)
			if p.Done {
				bar.Finish()
			}
		}
	case "log":
		opts.ProgressInterval = f.logEvery
		opts.Progress = func(p treecopy.Progress) {
			if p.Done {
				return // the summary line follows
			}
			args := []any{"files", p.Files, "bytes", treecopy.FormatBytes(p.Bytes), "written", treecopy.FormatBytes(p.Written),
				"rate", treecopy.FormatBytes(int64(p.Rate)) + "/s", "elapsed", p.Elapsed.Round(time.Second)}
			if p.TotalFiles > 0 {
				args = append(args, "total_files", p.TotalFiles, "total_bytes", treecopy.FormatBytes(p.TotalBytes))
			}
			if p.ETA > 0 {
				args = append(args, "eta", p.ETA.Round(time.Second))
			}
			a.log.Info("sync progress", args...)
		}
	}

	ctx := cmd.Context()
	var res *treecopy.Result
	var err error
	if f.mode == "mirror" {
		res, err = treecopy.Mirror(ctx, src, dst, opts)
	} else {
		res, err = treecopy.Snapshot(ctx, src, dst, opts)
	}
	if res != nil {
		for _, m := range res.Mismatches {
			fmt.Fprintf(a.stdout, "mismatch: %q\n", m)
		}
	}
	if err != nil {
		return err
	}
	what := "unchanged"
	if f.mode == "snapshot" {
		what = "linked"
	}
	fmt.Fprintf(a.stdout, "%s %s: %d files (%d copied, %d %s), %d dirs, %d symlinks, %d special",
		f.mode, res.Path, res.Files, res.Copied, res.Linked, what, res.Dirs, res.Symlinks, res.Specials)
	if f.mode == "mirror" {
		fmt.Fprintf(a.stdout, ", %d deleted", res.Deleted)
	}
	fmt.Fprintf(a.stdout, "; %s written in %s\n", treecopy.FormatBytes(res.Bytes), res.Elapsed.Round(time.Millisecond))
	for _, p := range res.Pruned {
		fmt.Fprintf(a.stdout, "pruned %s\n", p)
	}
	if len(res.Changed) > 0 {
		for _, c := range res.Changed {
			fmt.Fprintf(a.stdout, "changed: %q\n", c)
		}
		return fmt.Errorf("%w: %d files changed or vanished while being read (first %q); the copy is complete otherwise, run again to pick them up",
			treecopy.ErrChanged, len(res.Changed), res.Changed[0])
	}
	return nil
}

// readPatterns reads an exclude file: one pattern per line, blank lines
// and lines starting with # ignored (as rsync --exclude-from).
func readPatterns(path string) ([]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s does not exist", path)
		}
		return nil, err
	}
	defer fh.Close()
	return parsePatterns(fh)
}

func parsePatterns(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, sc.Err()
}
