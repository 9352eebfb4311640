package treecopy

import (
	"sort"
	"time"
)

// Retention says which snapshots to keep after a new one is complete.
// Everything not kept by some rule is pruned. The newest snapshot is always
// kept, and so is any snapshot dated after "now" (a clock that went
// backwards must not make the newest data look old).
type Retention struct {
	Last    int // keep the Last newest snapshots
	Monthly int // keep the newest snapshot of each of the Monthly most recent months that have one
	Yearly  int // keep the newest snapshot of each of the Yearly most recent years that have one
}

// SnapshotInfo names one snapshot and the time it was taken.
type SnapshotInfo struct {
	Name string
	Time time.Time
}

// Select splits snaps into those to keep and those to prune, both newest
// first. It is pure: now is passed in so that tests can fix it.
func (r Retention) Select(snaps []SnapshotInfo, now time.Time) (keep, prune []SnapshotInfo) {
	s := append([]SnapshotInfo(nil), snaps...)
	sort.SliceStable(s, func(i, j int) bool {
		if !s[i].Time.Equal(s[j].Time) {
			return s[i].Time.After(s[j].Time)
		}
		return s[i].Name > s[j].Name
	})
	kept := make([]bool, len(s))
	var months, years int
	lastMonth, lastYear := "", -1
	for i, sn := range s {
		if i == 0 || i < r.Last || sn.Time.After(now) {
			kept[i] = true
		}
		t := sn.Time.UTC()
		if m := t.Format("2006-01"); m != lastMonth {
			lastMonth = m
			if months < r.Monthly {
				kept[i] = true
			}
			months++
		}
		if y := t.Year(); y != lastYear {
			lastYear = y
			if years < r.Yearly {
				kept[i] = true
			}
			years++
		}
	}
	for i, sn := range s {
		if kept[i] {
			keep = append(keep, sn)
		} else {
			prune = append(prune, sn)
		}
	}
	return keep, prune
}
