package rotate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// Record is one job's record.
type Record struct {
	ID string `json:"id"` // start time and drive name
	// Seq orders runs. It is one more than the highest Seq known when the
	// run started, so order survives a wall clock that went backwards.
	Seq   int       `json:"seq"`
	Drive string    `json:"drive"`
	UUID  string    `json:"uuid"`
	Host  string    `json:"host,omitempty"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Duration is measured on the monotonic clock, so it stays right when
	// the wall clock jumps during the run.
	Duration time.Duration `json:"duration"`
	OK       bool          `json:"ok"`
	Forced   bool          `json:"forced,omitempty"`
	Error    string        `json:"error,omitempty"`
	Snapshot string        `json:"snapshot,omitempty"`
	Bytes    int64         `json:"bytes,omitempty"`
	Files    int64         `json:"files,omitempty"`
	Log      string        `json:"log,omitempty"` // file name in the drive's log directory
	// ClockSuspect: the wall clock was before earlier runs when this one
	// started, so Start and End may be wrong.
	ClockSuspect bool `json:"clock_suspect,omitempty"`
	// Invocation is the systemd invocation ID of the unit that ran the
	// job, so its OnFailure= handler can tell a failure the job reported
	// from one it could not (see ReportFailedJob).
	Invocation string `json:"invocation,omitempty"`
}

// History is every recorded run, oldest first.
type History struct {
	Version int      `json:"version"`
	Runs    []Record `json:"runs"`
}

const historyVersion = 1

// maxRuns bounds the history; a run a month keeps decades.
const maxRuns = 1000

// HostHistoryPath is where the host keeps its copy.
func HostHistoryPath(c *config.Config) string { return filepath.Join(c.StateDir, "history.json") }

// DriveHistoryPath is where a mounted drive keeps its copy, inside the
// encrypted filesystem.
func DriveHistoryPath(mountPoint string) string {
	return filepath.Join(mountPoint, ".extdrive", "history.json")
}

// ReadHistory reads a history file; a missing file is an empty history.
func ReadHistory(path string) (*History, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &History{Version: historyVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %v", path, ErrState, err)
	}
	h := &History{}
	if err := json.Unmarshal(b, h); err != nil {
		return nil, fmt.Errorf("%s: %w: %v (move it aside; the next run rebuilds it from the drives)", path, ErrState, err)
	}
	if h.Version != historyVersion {
		return nil, fmt.Errorf("%s: %w: version %d, this extdrive reads %d", path, ErrState, h.Version, historyVersion)
	}
	return h, nil
}

// WriteHistory writes h atomically (temp file, fsync, rename, fsync dir),
// creating the directory if needed.
func WriteHistory(path string, h *History) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	h.Version = historyVersion
	if len(h.Runs) > maxRuns {
		h.Runs = h.Runs[len(h.Runs)-maxRuns:]
	}
	b, err := json.MarshalIndent(h, "", "\t")
	if err != nil {
		return err
	}
	return config.WriteFileAtomic(path, append(b, '\n'), 0o600)
}

// Merge returns the union of a and b by run ID. Either side may have
// been lost or be behind (a new SD card, a drive that was off-site for
// the other's runs); merging both and writing the result to both is how
// each rebuilds the other. When both hold a run, the finished one wins.
func Merge(a, b *History) *History {
	byID := map[string]Record{}
	var order []string
	for _, h := range []*History{a, b} {
		if h == nil {
			continue
		}
		for _, r := range h.Runs {
			old, seen := byID[r.ID]
			if !seen {
				order = append(order, r.ID)
				byID[r.ID] = r
				continue
			}
			if old.End.IsZero() && !r.End.IsZero() || !old.OK && r.OK {
				byID[r.ID] = r
			}
		}
	}
	out := &History{Version: historyVersion, Runs: make([]Record, 0, len(order))}
	for _, id := range order {
		out.Runs = append(out.Runs, byID[id])
	}
	// Seq, not Start: the wall clock may have jumped between runs.
	sort.SliceStable(out.Runs, func(i, j int) bool {
		a, b := &out.Runs[i], &out.Runs[j]
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.ID < b.ID
	})
	return out
}

// Add appends r, replacing an earlier record with the same ID.
func (h *History) Add(r Record) {
	for i := range h.Runs {
		if h.Runs[i].ID == r.ID {
			h.Runs[i] = r
			return
		}
	}
	h.Runs = append(h.Runs, r)
}

// LastGood returns the newest successful run of the drive, or nil.
func (h *History) LastGood(drive string) *Record {
	return h.last(func(r *Record) bool { return r.OK && r.Drive == drive })
}

// LastRun returns the newest run of the drive, or nil.
func (h *History) LastRun(drive string) *Record {
	return h.last(func(r *Record) bool { return r.Drive == drive })
}

// LastFailure returns the newest failed run of any drive, or nil.
func (h *History) LastFailure() *Record {
	return h.last(func(r *Record) bool { return !r.OK })
}

func (h *History) last(match func(*Record) bool) *Record {
	if h == nil {
		return nil
	}
	for i := len(h.Runs) - 1; i >= 0; i-- {
		if match(&h.Runs[i]) {
			r := h.Runs[i]
			return &r
		}
	}
	return nil
}

// Find returns the run with this ID, or the newest run of drive when id is "".
func (h *History) Find(drive, id string) (*Record, error) {
	if id == "" {
		if r := h.LastRun(drive); r != nil {
			return r, nil
		}
		return nil, fmt.Errorf("drive %s: %w: it has never run", drive, ErrNoRun)
	}
	if r := h.last(func(r *Record) bool { return r.Drive == drive && r.ID == id }); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("drive %s: %w %q (extdrive log %s lists them)", drive, ErrNoRun, id, drive)
}

// NextSeq is the Seq for a run starting now.
func (h *History) NextSeq() int {
	n := 0
	for _, r := range h.Runs {
		n = max(n, r.Seq)
	}
	return n + 1
}

// runID makes sortable, unique-per-drive IDs.
func runID(start time.Time, drive string) string {
	return start.UTC().Format("20060102T150405.000Z") + "-" + drive
}
