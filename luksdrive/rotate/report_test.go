package rotate

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/config"
)

func TestReport(t *testing.T) {
	t.Setenv("TZ", "UTC")
	c := testConfig(config.OrderAlternate, "A", "B")
	c.StateDir = t.TempDir()
	c.LogDir = filepath.Join(c.StateDir, "log")
	h := &History{}
	record(h, "B", day("2026-01-02 19:00"), true)
	record(h, "A", day("2026-02-02 19:00"), true)
	h.Runs[1].Bytes, h.Runs[1].Snapshot = 3<<30, "2026-02-02T190000Z"
	record(h, "B", day("2026-03-02 19:00"), false)
	h.Runs[2].Error, h.Runs[2].Log = "copy B: no space left on the destination", runID(day("2026-03-02 19:00"), "B")+".log"
	if err := WriteHistory(HostHistoryPath(c), h); err != nil {
		t.Fatal(err)
	}
	now := day("2026-03-10 12:00")
	r, err := report(context.Background(), c, now, func(d *config.Drive) bool { return d.Name == "B" })
	if err != nil {
		t.Fatal(err)
	}
	type line struct {
		Name, Offsite string
		Present, Due  bool
		LastGood      string
	}
	var got []line
	for _, d := range r.Drives {
		l := line{Name: d.Name, Present: d.Present, Due: d.Due}
		if !d.OffsiteSince.IsZero() {
			l.Offsite = d.OffsiteSince.Format(time.DateOnly)
		}
		if d.LastGood != nil {
			l.LastGood = d.LastGood.Start.Format(time.DateOnly)
		}
		got = append(got, l)
	}
	want := []line{
		{Name: "A", Offsite: "2026-02-02", Due: true, LastGood: "2026-02-02"}, // a month old: due by age too
		{Name: "B", Present: true, Due: true, LastGood: "2026-01-02"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("drives (-want +got):\n%s", diff)
	}
	if r.Next != "B" || !r.Overdue || r.NextAt.Format(time.DateOnly) != "2026-03-02" || r.LastFailure == nil || r.LastFailure.Drive != "B" {
		t.Errorf("report next %s at %v overdue %v, last failure %+v", r.Next, r.NextAt, r.Overdue, r.LastFailure)
	}

	var text bytes.Buffer
	if err := r.WriteText(&text, c); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"A      off-site since 2026-02-02  2026-02-02 21:00  3.0 GiB",
		"B      here",
		"Next: B, overdue since 2026-03-02",
		"Last failure: B on 2026-03-02 19:00: copy B: no space left on the destination",
		"extdrive log B 20260302T190000.000Z-B",
	} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back StatusReport
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, &back); diff != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diff)
	}
}
