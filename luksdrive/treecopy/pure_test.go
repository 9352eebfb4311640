package treecopy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/extdrive/extdrive/luksdrive/treecopy"
)

func TestRetentionSelect(t *testing.T) {
	d := func(s string) treecopy.SnapshotInfo {
		tm, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return treecopy.SnapshotInfo{Name: treecopy.SnapshotName(tm, 0), Time: tm}
	}
	names := func(s []treecopy.SnapshotInfo) []string {
		var out []string
		for _, x := range s {
			out = append(out, x.Time.Format("2006-01-02"))
		}
		return out
	}
	now := time.Date(2026, 3, 15, 0, 0, 0, 0, time.UTC)
	// Weekly snapshots from mid-November to mid-March, one stray from 2024.
	var weekly []treecopy.SnapshotInfo
	for _, s := range []string{"2024-06-01", "2025-11-16", "2025-11-30", "2025-12-07", "2025-12-28", "2026-01-04", "2026-01-25", "2026-02-01", "2026-02-22", "2026-03-01", "2026-03-08", "2026-03-15"} {
		weekly = append(weekly, d(s))
	}
	tests := []struct {
		name      string
		r         treecopy.Retention
		snaps     []treecopy.SnapshotInfo
		now       time.Time
		keep, out []string
	}{
		{name: "empty", r: treecopy.Retention{Last: 3}, now: now},
		{name: "zero policy keeps the newest", snaps: weekly, now: now,
			keep: []string{"2026-03-15"},
			out:  []string{"2026-03-08", "2026-03-01", "2026-02-22", "2026-02-01", "2026-01-25", "2026-01-04", "2025-12-28", "2025-12-07", "2025-11-30", "2025-11-16", "2024-06-01"}},
		{name: "last 3", r: treecopy.Retention{Last: 3}, snaps: weekly, now: now,
			keep: []string{"2026-03-15", "2026-03-08", "2026-03-01"},
			out:  []string{"2026-02-22", "2026-02-01", "2026-01-25", "2026-01-04", "2025-12-28", "2025-12-07", "2025-11-30", "2025-11-16", "2024-06-01"}},
		{name: "last 2 + 3 monthly", r: treecopy.Retention{Last: 2, Monthly: 3}, snaps: weekly, now: now,
			keep: []string{"2026-03-15", "2026-03-08", "2026-02-22", "2026-01-25"},
			out:  []string{"2026-03-01", "2026-02-01", "2026-01-04", "2025-12-28", "2025-12-07", "2025-11-30", "2025-11-16", "2024-06-01"}},
		{name: "yearly", r: treecopy.Retention{Last: 1, Yearly: 3}, snaps: weekly, now: now,
			keep: []string{"2026-03-15", "2025-12-28", "2024-06-01"},
			out:  []string{"2026-03-08", "2026-03-01", "2026-02-22", "2026-02-01", "2026-01-25", "2026-01-04", "2025-12-07", "2025-11-30", "2025-11-16"}},
		{name: "more rules than snapshots", r: treecopy.Retention{Last: 50, Monthly: 50, Yearly: 50}, snaps: weekly[:3], now: now,
			keep: []string{"2025-11-30", "2025-11-16", "2024-06-01"}},
		{name: "future snapshots are kept", r: treecopy.Retention{Last: 1}, snaps: weekly, now: time.Date(2026, 2, 10, 0, 0, 0, 0, time.UTC),
			keep: []string{"2026-03-15", "2026-03-08", "2026-03-01", "2026-02-22"},
			out:  []string{"2026-02-01", "2026-01-25", "2026-01-04", "2025-12-28", "2025-12-07", "2025-11-30", "2025-11-16", "2024-06-01"}},
		{name: "unsorted input", r: treecopy.Retention{Last: 2}, snaps: []treecopy.SnapshotInfo{weekly[3], weekly[11], weekly[0], weekly[7]}, now: now,
			keep: []string{"2026-03-15", "2026-02-01"}, out: []string{"2025-12-07", "2024-06-01"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keep, prune := tt.r.Select(tt.snaps, tt.now)
			if diff := cmp.Diff(tt.keep, names(keep)); diff != "" {
				t.Errorf("keep (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.out, names(prune)); diff != "" {
				t.Errorf("prune (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSnapshotNames(t *testing.T) {
	tm := time.Date(2026, 2, 28, 23, 59, 7, 999, time.FixedZone("x", 3600))
	if got, want := treecopy.SnapshotName(tm, 1), "2026-02-28T225907Z"; got != want {
		t.Errorf("SnapshotName = %q, want %q", got, want)
	}
	tests := []struct {
		name string
		ok   bool
		seq  int
		want time.Time
	}{
		{"2026-02-28T225907Z", true, 1, time.Date(2026, 2, 28, 22, 59, 7, 0, time.UTC)},
		{"2026-02-28T225907Z-2", true, 2, time.Date(2026, 2, 28, 22, 59, 7, 0, time.UTC)},
		{"2026-02-28T225907Z-1", false, 0, time.Time{}},
		{"2026-02-28T225907Z-02", false, 0, time.Time{}},
		{"2026-02-28T225907Z-", false, 0, time.Time{}},
		{"2026-02-28T225907Z.inprogress", false, 0, time.Time{}},
		{"2026-02-30T225907Z", false, 0, time.Time{}},
		{"2026-02-28T245907Z", false, 0, time.Time{}},
		{"2026-2-28T225907Z0", false, 0, time.Time{}},
		{"2026-02-28 225907Z", false, 0, time.Time{}},
		{"+026-02-28T225907Z", false, 0, time.Time{}},
		{"latest", false, 0, time.Time{}},
		{"", false, 0, time.Time{}},
	}
	for _, tt := range tests {
		got, seq, ok := treecopy.ParseSnapshotName(tt.name)
		if ok != tt.ok || seq != tt.seq || !got.Equal(tt.want) {
			t.Errorf("ParseSnapshotName(%q) = %v, %d, %v; want %v, %d, %v", tt.name, got, seq, ok, tt.want, tt.seq, tt.ok)
		}
	}
}

func FuzzParseSnapshotName(f *testing.F) {
	for _, s := range []string{"2026-02-28T225907Z", "2026-02-28T225907Z-12", "2026-02-29T000000Z", "0000-01-01T000000Z-999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, seq, ok := treecopy.ParseSnapshotName(s)
		if !ok {
			return
		}
		// Only names we make parse: they round-trip exactly.
		if back := treecopy.SnapshotName(tm, seq); back != s {
			t.Fatalf("ParseSnapshotName(%q) = %v, %d; SnapshotName gives %q", s, tm, seq, back)
		}
	})
}

func TestExcludes(t *testing.T) {
	type probe struct {
		rel   string
		dir   bool
		match bool
	}
	tests := []struct {
		pats   []string
		probes []probe
	}{
		{[]string{"*.tmp"}, []probe{{"a.tmp", false, true}, {"x/y/a.tmp", false, true}, {"a.tmpx", false, false}, {"x.tmp", true, true}}},
		{[]string{"/cache"}, []probe{{"cache", true, true}, {"a/cache", true, false}}},
		{[]string{"cache/"}, []probe{{"cache", true, true}, {"a/cache", true, true}, {"cache", false, false}}},
		{[]string{"a/b"}, []probe{{"a/b", false, true}, {"x/a/b", false, false}, {"a/b/c", false, false}}},
		{[]string{"a/**/z"}, []probe{{"a/z", false, true}, {"a/b/c/z", false, true}, {"b/a/z", false, false}}},
		{[]string{"**/lock"}, []probe{{"lock", false, true}, {"q/w/lock", false, true}}},
		{[]string{"/data/**"}, []probe{{"data/x", false, true}, {"data/x/y", true, true}, {"data", true, false}}},
		{[]string{"[ab]?"}, []probe{{"ax", false, true}, {"cx", false, false}, {"d/bz", false, true}}},
		{[]string{"nl\nname"}, []probe{{"dir/nl\nname", false, true}}},
		{[]string{"\xff*"}, []probe{{"\xff\xfe", false, true}}},
		{nil, []probe{{"anything", false, false}}},
	}
	for _, tt := range tests {
		x, err := treecopy.ParseExcludes(tt.pats)
		if err != nil {
			t.Fatalf("ParseExcludes(%q): %v", tt.pats, err)
		}
		for _, p := range tt.probes {
			if got := x.Match(p.rel, p.dir); got != p.match {
				t.Errorf("%q.Match(%q, dir=%v) = %v, want %v", tt.pats, p.rel, p.dir, got, p.match)
			}
		}
	}
	for _, bad := range []string{"", "/", "a//b", "[", "a/[x", "x**", "a/../b", "./a", "a\x00b", "tail\\"} {
		_, err := treecopy.ParseExcludes([]string{bad})
		if !errors.Is(err, treecopy.ErrBadPattern) {
			t.Errorf("ParseExcludes(%q) err = %v, want ErrBadPattern", bad, err)
		} else if !strings.Contains(err.Error(), "pattern") || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseExcludes(%q) message %q", bad, err)
		}
	}
}

func FuzzExcludes(f *testing.F) {
	f.Add("*.tmp", "a/b.tmp", false)
	f.Add("/a/**/b/", "a/x/y/b", true)
	f.Add("[a-", "a", false)
	f.Add("name", "dir/name", false)
	f.Fuzz(func(t *testing.T, pat, rel string, dir bool) {
		x, err := treecopy.ParseExcludes([]string{pat})
		if err != nil {
			if !errors.Is(err, treecopy.ErrBadPattern) {
				t.Fatalf("error %v does not wrap ErrBadPattern", err)
			}
			return
		}
		got := x.Match(rel, dir)
		// A plain name (no glob characters, no slash) matches itself at
		// any depth and nothing else.
		if pat != "" && !strings.ContainsAny(pat, "*?[\\/") {
			base := rel[strings.LastIndex(rel, "/")+1:]
			if got != (base == pat) {
				t.Fatalf("ParseExcludes(%q).Match(%q) = %v", pat, rel, got)
			}
		}
	})
}
