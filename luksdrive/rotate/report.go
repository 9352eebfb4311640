package rotate

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/extdrive/extdrive/luksdrive"
	"github.com/extdrive/extdrive/luksdrive/config"
)

// StatusReport is what the user wants to know at a glance.
type StatusReport struct {
	Now    time.Time     `json:"now"`
	Drives []DriveStatus `json:"drives"`
	// Next is the drive whose turn it is, due at NextAt (overdue when
	// NextAt is before Now; zero when nothing was ever copied).
	Next         string    `json:"next"`
	NextAt       time.Time `json:"next_at,omitzero"`
	Overdue      bool      `json:"overdue"`
	LastFailure  *Record   `json:"last_failure,omitempty"`
	ClockSuspect bool      `json:"clock_suspect,omitempty"`
	// Warning is set when the host history could not be read.
	Warning string `json:"warning,omitempty"`
}

// DriveStatus is one drive's line.
type DriveStatus struct {
	Name    string `json:"name"`
	UUID    string `json:"uuid"`
	Present bool   `json:"present"`
	// OffsiteSince is when the drive was last released here (the end of
	// its last run), when it is not plugged in.
	OffsiteSince time.Time `json:"offsite_since,omitzero"`
	LastGood     *Record   `json:"last_good,omitempty"`
	LastRun      *Record   `json:"last_run,omitempty"`
	Due          bool      `json:"due"`
	Reason       string    `json:"reason"`
}

// Report builds the status from the host history and the devices present.
func Report(ctx context.Context, c *config.Config, now time.Time) (*StatusReport, error) {
	return report(ctx, c, now, func(d *config.Drive) bool {
		_, err := luksdrive.Find(ctx, d.Spec(), nil)
		return err == nil
	})
}

func report(_ context.Context, c *config.Config, now time.Time, present func(*config.Drive) bool) (*StatusReport, error) {
	r := &StatusReport{Now: now}
	h, err := ReadHistory(HostHistoryPath(c))
	if err != nil {
		r.Warning = err.Error()
		h = &History{}
	}
	r.Next = NextDrive(c, h)
	for i := range c.Drives {
		d := &c.Drives[i]
		dec := Decide(c, h, d.Name, now)
		ds := DriveStatus{Name: d.Name, UUID: d.UUID, Present: present(d),
			LastGood: h.LastGood(d.Name), LastRun: h.LastRun(d.Name), Due: dec.Due, Reason: dec.Reason}
		if !ds.Present && ds.LastRun != nil {
			ds.OffsiteSince = ds.LastRun.End
		}
		r.NextAt, r.ClockSuspect = dec.NextAt, dec.ClockSuspect
		r.Drives = append(r.Drives, ds)
	}
	r.Overdue = !r.NextAt.IsZero() && now.After(r.NextAt)
	r.LastFailure = h.LastFailure()
	return r, nil
}

// WriteJSON writes the report as indented JSON.
func (r *StatusReport) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(r)
}

// WriteText writes the report for people, one drive per line.
func (r *StatusReport) WriteText(w io.Writer, c *config.Config) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DRIVE\tWHERE\tLAST GOOD COPY\tSIZE\tTOOK\tSNAPSHOT\tDUE")
	for _, d := range r.Drives {
		where := "here"
		if !d.Present {
			where = "away"
			if !d.OffsiteSince.IsZero() {
				where = "off-site since " + d.OffsiteSince.Local().Format(time.DateOnly)
			}
		}
		last, size, took, snap := "never", "-", "-", "-"
		if g := d.LastGood; g != nil {
			last = g.End.Local().Format("2006-01-02 15:04")
			size = config.Size(g.Bytes).Human()
			took = g.Duration.Round(time.Second).String()
			if g.Snapshot != "" {
				snap = g.Snapshot
			}
		}
		due := "no"
		if d.Due {
			due = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, where, last, size, took, snap, due)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case r.NextAt.IsZero():
		fmt.Fprintf(w, "\nNext: %s (no copy made yet)\n", r.Next)
	case r.Overdue:
		fmt.Fprintf(w, "\nNext: %s, overdue since %s\n", r.Next, r.NextAt.Local().Format(time.DateOnly))
	default:
		fmt.Fprintf(w, "\nNext: %s, due %s\n", r.Next, r.NextAt.Local().Format(time.DateOnly))
	}
	if f := r.LastFailure; f != nil {
		fmt.Fprintf(w, "Last failure: %s on %s: %s\n", f.Drive, f.Start.Local().Format("2006-01-02 15:04"), f.Error)
		if f.Log != "" && c != nil {
			fmt.Fprintf(w, "  log: %s (extdrive log %s %s)\n", filepath.Join(LogDir(c, f.Drive), f.Log), f.Drive, strings.TrimSuffix(f.Log, ".log"))
		}
	}
	if r.ClockSuspect {
		fmt.Fprintln(w, "Warning: the clock is before the last recorded run; due dates are unreliable until it is set.")
	}
	if r.Warning != "" {
		fmt.Fprintf(w, "Warning: %s\n", r.Warning)
	}
	return nil
}
