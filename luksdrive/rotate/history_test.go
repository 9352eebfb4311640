package rotate

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func sampleHistory() *History {
	h := &History{}
	t0 := time.Date(2026, 3, 1, 19, 0, 0, 0, time.UTC)
	for i, d := range []string{"A", "B", "A", "B"} {
		start := t0.AddDate(0, i, 0)
		h.Add(Record{ID: runID(start, d), Seq: h.NextSeq(), Drive: d, UUID: "u-" + d, Start: start,
			End: start.Add(time.Hour), Duration: time.Hour, OK: i != 2, Bytes: int64(i) << 30, Snapshot: "2026-03-01T190000Z"})
	}
	return h
}

func TestHistoryRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "history.json")
	want := sampleHistory()
	if err := WriteHistory(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("state dir holds %d entries, want only history.json (no temp files left)", len(ents))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestHistoryMissingAndCorrupt(t *testing.T) {
	dir := t.TempDir()
	h, err := ReadHistory(filepath.Join(dir, "none.json"))
	if err != nil || len(h.Runs) != 0 {
		t.Fatalf("missing file: %v, %v; want an empty history", h, err)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version":1,"runs":[{"id":`), 0o600)
	if _, err := ReadHistory(bad); !errors.Is(err, ErrState) {
		t.Errorf("truncated file: %v, want ErrState", err)
	}
	os.WriteFile(bad, []byte(`{"version":7,"runs":[]}`), 0o600)
	if _, err := ReadHistory(bad); !errors.Is(err, ErrState) {
		t.Errorf("future version: %v, want ErrState", err)
	}
}

// TestHistoryRebuild: the host's copy and a drive's copy each rebuild the
// other, and a drive that was away for the other drive's runs catches up.
func TestHistoryRebuild(t *testing.T) {
	full := sampleHistory()
	for _, tc := range []struct {
		name       string
		host, disk *History
	}{
		{"host lost", &History{}, full},
		{"drive lost", full, &History{}},
		{"both partial", &History{Runs: full.Runs[:3]}, &History{Runs: []Record{full.Runs[0], full.Runs[1], full.Runs[3]}}},
		{"reversed", &History{Runs: full.Runs[2:]}, &History{Runs: full.Runs[:2]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Merge(tc.host, tc.disk)
			if diff := cmp.Diff(full.Runs, got.Runs); diff != "" {
				t.Errorf("Merge (-want +got):\n%s", diff)
			}
			if got2 := Merge(tc.disk, tc.host); !cmp.Equal(got, got2) {
				t.Error("Merge is not symmetric")
			}
		})
	}
	// A run recorded as started on one side and finished on the other
	// keeps the finished record.
	started := full.Runs[3]
	started.End, started.OK, started.Duration = time.Time{}, false, 0
	got := Merge(&History{Runs: []Record{started}}, &History{Runs: []Record{full.Runs[3]}})
	if diff := cmp.Diff([]Record{full.Runs[3]}, got.Runs); diff != "" {
		t.Errorf("finished run must win (-want +got):\n%s", diff)
	}
}

func TestHistorySeqSurvivesClockReset(t *testing.T) {
	h := sampleHistory()
	// A Pi without RTC records a run in 1970; it is still the newest.
	start := time.Unix(60, 0).UTC()
	h.Add(Record{ID: runID(start, "A"), Seq: h.NextSeq(), Drive: "A", Start: start, End: start.Add(time.Hour), OK: true})
	m := Merge(h, &History{})
	if last := m.LastGood("A"); last == nil || !last.Start.Equal(start) {
		t.Errorf("LastGood(A) = %+v, want the 1970 run (highest Seq)", last)
	}
}
