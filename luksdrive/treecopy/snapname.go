package treecopy

import (
	"strconv"
	"strings"
	"time"
)

// Snapshot directories are named after their start time in UTC,
// "2026-01-31T235959Z", with "-2", "-3", ... appended when a name is taken.
// The format sorts lexically in time order and avoids ':' so it is valid on
// every filesystem a backup drive may use.
const (
	nameLen          = len("2006-01-02T150405Z")
	inProgressSuffix = ".inprogress"
	latestName       = "latest"
	latestTemp       = ".latest.new"
	lockName         = ".extdrive-sync.lock"
)

// SnapshotName returns the directory name of a snapshot started at t; seq
// 0 or 1 gives the plain name, seq n > 1 appends "-n".
func SnapshotName(t time.Time, seq int) string {
	s := t.UTC().Format("2006-01-02T150405Z")
	if seq > 1 {
		s += "-" + strconv.Itoa(seq)
	}
	return s
}

// ParseSnapshotName parses a name made by SnapshotName. It accepts nothing
// else, so that ParseSnapshotName(SnapshotName(t, n)) round-trips and stray
// directories in ROOT are never mistaken for snapshots (and pruned).
func ParseSnapshotName(name string) (t time.Time, seq int, ok bool) {
	if len(name) < nameLen {
		return time.Time{}, 0, false
	}
	base, rest := name[:nameLen], name[nameLen:]
	seq = 1
	if rest != "" {
		num, found := strings.CutPrefix(rest, "-")
		if !found || num == "" || num[0] == '0' || len(num) > 9 {
			return time.Time{}, 0, false
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 2 || strconv.Itoa(n) != num {
			return time.Time{}, 0, false
		}
		seq = n
	}
	// Layout positions: YYYY-MM-DDTHHMMSSZ
	num := func(i, j int) (int, bool) {
		v := 0
		for k := i; k < j; k++ {
			c := base[k]
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	if base[4] != '-' || base[7] != '-' || base[10] != 'T' || base[17] != 'Z' {
		return time.Time{}, 0, false
	}
	y, ok1 := num(0, 4)
	mo, ok2 := num(5, 7)
	d, ok3 := num(8, 10)
	h, ok4 := num(11, 13)
	mi, ok5 := num(13, 15)
	s, ok6 := num(15, 17)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, 0, false
	}
	t = time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
	// time.Date normalizes 02-30 to 03-02; such names are not ours.
	if t.Year() != y || int(t.Month()) != mo || t.Day() != d || t.Hour() != h || t.Minute() != mi || t.Second() != s {
		return time.Time{}, 0, false
	}
	return t, seq, true
}
