package rotate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/config"
)

// FuzzHistory feeds arbitrary history files (a drive's copy comes back
// from off-site and may be damaged) through the reader, Merge and the
// schedule: no panics, errors wrap ErrState, and merging is idempotent.
func FuzzHistory(f *testing.F) {
	b, _ := json.Marshal(sampleHistory())
	f.Add(b, int64(0))
	f.Add([]byte(`{"version":1,"runs":[{"id":"x","seq":-5,"drive":"A","ok":true,"end":"0001-01-01T00:00:00Z"}]}`), int64(1e18))
	f.Add([]byte(`{"version":1,"runs":null}`), int64(-1))
	c := testConfig(config.OrderAlternate, "A", "B")
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, nowNanos int64) {
		path := filepath.Join(dir, "h.json")
		os.WriteFile(path, data, 0o600)
		h, err := ReadHistory(path)
		if err != nil {
			if !errors.Is(err, ErrState) {
				t.Fatalf("error %v does not wrap ErrState", err)
			}
			return
		}
		now := time.Unix(0, nowNanos).UTC()
		m := Merge(h, nil)
		if m2 := Merge(m, m); !cmp.Equal(m, m2) {
			t.Fatalf("Merge not idempotent:\n%s", cmp.Diff(m, m2))
		}
		for _, d := range []string{"A", "B", "C"} {
			dec := Decide(c, m, d, now)
			if dec.Reason == "" {
				t.Fatalf("Decide(%s) gave no reason", d)
			}
		}
		if n := NextDrive(c, m); n != "A" && n != "B" {
			t.Fatalf("NextDrive = %q, not a configured drive", n)
		}
	})
}

func BenchmarkDecide(b *testing.B) {
	c := testConfig(config.OrderAlternate, "A", "B", "C")
	h := &History{}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < maxRuns; i++ {
		record(h, []string{"A", "B", "C"}[i%3], start.AddDate(0, 0, 7*i), i%5 != 0)
	}
	now := start.AddDate(0, 0, 7*maxRuns)
	b.ResetTimer()
	for b.Loop() {
		Decide(c, h, "B", now)
	}
}

func BenchmarkMerge(b *testing.B) {
	full := &History{}
	start := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < maxRuns; i++ {
		record(full, []string{"A", "B"}[i%2], start.AddDate(0, 0, 7*i), true)
	}
	half := &History{Runs: full.Runs[:maxRuns/2]}
	b.ResetTimer()
	for b.Loop() {
		Merge(half, full)
	}
}
